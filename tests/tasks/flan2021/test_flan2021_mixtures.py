"""FLAN 2021 mixtures: every one resolves and respects the exclusion rules."""

import functools

import pytest
import seqio

import mock_helpers
import tasks.flan2021  # noqa: F401  (registers every cluster and mixture)
from flan_jax.data import lookup
from flan_jax.data import mixtures as mixtures_lib
from flan_jax.data import registry
from tasks.flan2021 import common
from tasks.flan2021 import mixtures

CLUSTERS = common.clusters()
EVAL_ONLY = {d.key for d in common.registered_datasets() if d.eval_only}


def _datasets(name):
  return {key.split(":")[1] for key in mixtures_lib.datasets_in_mixture(name)}


def _in(cluster_names):
  return {d for c in cluster_names if c in CLUSTERS for d in CLUSTERS[c]}


def test_every_mixture_resolves_to_registered_tasks():
  assert len(mixtures.MIXTURES) >= 2 + 2 * len(CLUSTERS)
  flan = {n for n in seqio.MixtureRegistry.names() if n.startswith("flan2021:")}
  assert flan == set(mixtures.MIXTURES)
  for name in mixtures.MIXTURES:
    mixture = lookup.get_task_or_mixture(name)
    assert mixture.tasks, name
    variants = {registry.describe_task(t.name).variant for t in mixture.tasks}
    if ":eval" in name:
      assert variants <= {registry.GENERATION, registry.SCORING}, name
    else:
      assert variants == {registry.TRAIN}, name
      # examples-proportional with FLAN's 3k cap
      for task in mixture.tasks:
        rate = mixture._task_to_rate[task.name]  # pylint: disable=protected-access
        assert isinstance(rate, functools.partial), name
        assert rate.func is seqio.mixing_rate_num_examples
        assert rate.keywords["maximum"] == 3000
      assert not {t.name.rsplit(":", 1)[0] for t in mixture.tasks} & {
          k for k in EVAL_ONLY}, name


def test_all_datasets_mixture():
  trainable = {d.name for d in common.registered_datasets() if not d.eval_only}
  assert _datasets("flan2021:train:all") == trainable
  assert _datasets("flan2021:eval:all") == {
      d.name for d in common.registered_datasets()}


@pytest.mark.parametrize("cluster", list(CLUSTERS))
def test_leave_one_cluster_out(cluster):
  trained = _datasets(f"flan2021:train:no_{cluster}")
  removed = _in([cluster, *mixtures.EXCLUSIONS.get(cluster, ())])
  assert not trained & removed
  everything_else = _in(CLUSTERS) - removed - {k.split(":")[1] for k in EVAL_ONLY}
  assert trained == everything_else
  assert _datasets(f"flan2021:eval:{cluster}") == set(CLUSTERS[cluster])


def test_exclusion_rules_are_flans():
  assert mixtures.EXCLUSIONS["nli"] == ("paraphrase",)
  assert mixtures.EXCLUSIONS["paraphrase"] == ("nli",)
  assert mixtures.EXCLUSIONS["common_sense"] == ("read_comp_and_common_sense",)
  assert set(mixtures.EXCLUSIONS["read_comp_and_common_sense"]) == {
      "reading_comprehension", "common_sense"}


def test_number_of_clusters_ablation():
  held_out = _in(mixtures.ABLATION_HELD_OUT)
  order = [c for c in mixtures.NUM_CLUSTERS_ORDER if c in CLUSTERS]
  previous = set()
  for k in range(1, len(order) + 1):
    trained = _datasets(f"flan2021:ablation:num_clusters:{k}:train")
    assert trained == _in(order[:k]) - held_out - {"wsc273"}
    assert previous < trained  # each step adds a cluster
    previous = trained
  assert _datasets("flan2021:ablation:held_out:eval") == held_out


@pytest.mark.parametrize("count", mixtures.TEMPLATE_COUNTS)
def test_templates_ablation_mixtures(count):
  mixture = seqio.get_mixture_or_task(f"flan2021:ablation:templates:{count}:train")
  suffix = "train" if count == 10 else f"train_first{count}"
  assert {t.name.split(":")[-1] for t in mixture.tasks} == {suffix}
  assert not _datasets(mixture.name) & _in(mixtures.ABLATION_HELD_OUT)


def _pretokenized(task_name, count=12):
  task = seqio.get_mixture_or_task(task_name)
  with mock_helpers.mock_tfds(count):
    ds = task.get_dataset(sequence_length=None, split="train", shuffle=False, seed=0,
                          num_epochs=1, try_in_mem_cache=False)
    return [ex["inputs_pretokenized"].decode() for ex in ds.as_numpy_iterator()]


def test_template_subset_tasks_use_only_the_first_templates():
  # CoLA's templates 0 and 1 open differently: 'Sentence: "' and the
  # sentence itself followed by the question.
  inputs = _pretokenized("flan2021:cola:train_first1")
  assert inputs and all(x.startswith('Sentence: "') for x in inputs)
  two = _pretokenized("flan2021:cola:train_first2")
  assert any(not x.startswith('Sentence: "') for x in two)
  assert all(x.startswith('Sentence: "') or
             "Is the sentence above well-formed English?" in x for x in two)


def test_instruction_ablation_inputs():
  plain = _pretokenized("flan2021:rte:train_no_template", 2)
  named = _pretokenized("flan2021:rte:train_dataset_name", 2)
  full = _pretokenized("flan2021:rte:train", 2)
  for p, n in zip(plain, named):
    assert n == "[rte]\n" + p
    premise, hypothesis, options = p.split("\n", 2)
    assert premise and hypothesis and options.startswith("OPTIONS:")
  for f, p in zip(full, plain):  # same examples, with instructions around
    premise = p.split("\n", 1)[0]
    assert premise in f and len(f) > len(p)
  for cluster in mixtures.INSTRUCTION_HELD_OUT:
    if cluster not in CLUSTERS:
      continue
    for mode in mixtures.INSTRUCTION_MODES:
      name = f"flan2021:ablation:instructions:{mode}:no_{cluster}"
      assert _datasets(name) == _datasets(f"flan2021:train:no_{cluster}")
    evals = seqio.get_mixture_or_task(
        f"flan2021:ablation:instructions:dataset_name:eval:{cluster}")
    assert all(":dataset_name:" in t.name for t in evals.tasks)


def test_unknown_name_lists_the_closest_registered_names():
  with pytest.raises(lookup.UnknownTaskOrMixtureError) as error:
    lookup.get_task_or_mixture("flan2021:train:no_nlii")
  message = str(error.value)
  assert "unknown task or mixture 'flan2021:train:no_nlii'" in message
  assert "flan2021:train:no_nli" in message
  with pytest.raises(lookup.UnknownTaskOrMixtureError, match="flan2021:rte:train"):
    lookup.get_task_or_mixture("flan2021:rtee:train")
