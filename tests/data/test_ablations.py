"""The paper's ablation mixtures, registered for the demo suite's plan."""

import pytest
import seqio

import tasks.demo  # noqa: F401  (registers the demo collection and plan)
from flan_jax.data import ablations
from flan_jax.data import mixtures
from tasks.demo import suite


def _datasets(name):
  return {k.split(":")[1] for k in mixtures.datasets_in_mixture(name)}


def _inputs(task, count=3):
  ds = seqio.get_mixture_or_task(task).get_dataset(
      None, split="train", shuffle=False)
  return [r["inputs_pretokenized"].decode()
          for r in ds.take(count).as_numpy_iterator()]


def test_clusters_join_in_the_plans_order_without_the_held_out_ones():
  plan = ablations.registered_plan("demo")
  assert plan == suite.ABLATION_PLAN
  for k in range(1, len(plan.cluster_order) + 1):
    expected = {d for c in plan.cluster_order[:k] for d in suite.CLUSTERS[c]}
    assert _datasets(ablations.num_clusters_mixture("demo", k)) == expected
  assert _datasets(ablations.held_out_eval_mixture("demo")) == set(
      suite.CLUSTERS["sentiment"])


def test_template_subsets_and_instruction_modes():
  first = _inputs("demo:qa_home:train_first1")
  assert all(x.endswith("?") and "\nWhere does " in x for x in first)
  plain = _inputs("demo:movie_review:train_no_template")
  named = _inputs("demo:movie_review:train_dataset_name")
  for p, n in zip(plain, named):
    assert n == "[movie_review]\n" + p
    text, options = p.split("\n", 1)
    assert options == "OPTIONS:\n- negative\n- positive"
    assert "review" not in text.lower()  # no instruction words
  name = ablations.instructions_mixture("demo", "no_template", "sentiment")
  assert _datasets(name) == _datasets("demo:train:no_sentiment")
  assert _datasets(ablations.templates_mixture("demo", 6)) == _datasets(
      "demo:train:no_sentiment")  # all six templates: the plain tasks
  with pytest.raises(KeyError, match="has no ablation mixtures"):
    ablations.registered_plan("nowhere")
