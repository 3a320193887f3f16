"""The built-in demo suite: shape, determinism, splits, registration, length."""

import pytest
import seqio
import sentencepiece as spm

import tasks  # noqa: F401  (registers the demo collection)
from flan_jax.data import registry
from flan_jax.data import vocab
from tasks.demo import common
from tasks.demo import suite

SPECS = suite.all_specs()
SPEC_IDS = [spec.name for spec in SPECS]
# Short enough for a tiny model, with room under gin/runs/demo.gin's feature
# lengths (128 / 32, EOS included).
MAX_INPUT_TOKENS = 100
MAX_TARGET_TOKENS = 28


def _tf_examples(spec, split):
  """A split as read through the seqio source (the dataset_fn), as lists."""
  ds = spec.source.get_dataset(split=split, shuffle=False)
  return [{k: v.tolist() if hasattr(v, "tolist") else v for k, v in ex.items()}
          for ex in ds.as_numpy_iterator()]


def test_six_clusters_of_three_datasets():
  assert len(suite.CLUSTERS) >= 6
  assert all(len(names) >= 3 for names in suite.CLUSTERS.values())
  listed = [name for names in suite.CLUSTERS.values() for name in names]
  assert sorted(listed) == sorted(SPEC_IDS)
  assert len(set(listed)) == len(listed)


def test_both_kinds_of_dataset():
  kinds = {spec.is_classification for spec in SPECS}
  assert kinds == {True, False}


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_templates(spec):
  assert spec.collection == "demo"
  assert len(spec.templates) >= 5
  assert any(t.inverted for t in spec.templates)
  if spec.is_classification:  # rank classification needs {answer} targets
    scored = [t for t in spec.templates
              if t.has_options and t.targets == "{answer}"]
    plain = [t for t in spec.templates if not t.inverted]
    assert len(scored) > len(plain) / 2


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_generation_is_deterministic(spec):
  first = _tf_examples(spec, "test")
  common.split_examples.cache_clear()  # regenerate, do not reuse the cache
  second = _tf_examples(spec, "test")
  assert len(first) == common.TEST_SIZE
  assert first == second


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_splits_sizes_and_disjoint_inputs(spec):
  keys = {}
  for split, size in common.SPLIT_SIZES.items():
    rows = common.examples(spec.name, split)
    assert len(rows) == size == spec.source.num_input_examples(split)
    keys[split] = {common.input_key(row) for row in rows}
  assert not keys["train"] & keys["validation"]
  assert not keys["train"] & keys["test"]
  assert not keys["validation"] & keys["test"]


def test_translation_directions_hold_out_the_same_pairs():
  # Each direction's inverted template trains the other direction, so a pair
  # held out in one must not be in the other's train split.
  def keys(name, split):
    return {common.input_key(row) for row in common.examples(name, split)}

  for split in ("validation", "test"):
    held_out = keys("english_to_lumo", split)
    assert held_out == keys("lumo_to_english", split)
    assert not held_out & keys("lumo_to_english", "train")


@pytest.mark.parametrize("spec", [s for s in SPECS if s.is_classification],
                         ids=[s.name for s in SPECS if s.is_classification])
def test_answers_are_options(spec):
  for split in common.SPLIT_SIZES:
    for row in common.examples(spec.name, split):
      assert row[spec.answer_field] in (spec.options or row["options"])


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_rendered_texts_fit_the_length_budget(spec):
  processor = spm.SentencePieceProcessor(model_file=vocab.DEMO_SPM_PATH)
  for split in ("validation", "test"):
    for index, inputs, targets in suite.rendered_texts(spec, split):
      assert len(processor.encode(inputs)) <= MAX_INPUT_TOKENS, inputs
      assert len(processor.encode(targets)) <= MAX_TARGET_TOKENS, targets
      # Exact-match metrics compare decoded text with the target string.
      assert processor.decode(processor.encode(targets)) == targets, index


@pytest.mark.parametrize("spec", SPECS, ids=SPEC_IDS)
def test_task_variants_yield_tokenized_examples(spec):
  """All variants are registered; the training task (which renders every
  template, inverted ones included) and template 0's eval tasks yield data.
  Building all ~140 pipelines would take most of a minute."""
  entry = registry.get_dataset(f"demo:{spec.name}")
  plain = [t for t in spec.templates if not t.inverted]
  assert len(entry.generation_tasks) == len(plain)
  assert len(entry.scoring_tasks) == sum(
      t.has_options and t.targets_use(spec.answer_field) for t in plain)
  for name in (*entry.generation_tasks, *entry.scoring_tasks):
    seqio.get_mixture_or_task(name)  # registered under the expected name
  checked = [entry.train_task, entry.generation_tasks[0],
             *entry.scoring_tasks[:1]]
  for name in checked:
    ds = seqio.get_mixture_or_task(name).get_dataset(
        sequence_length=None, split="validation", shuffle=False,
        num_epochs=1)
    example = next(ds.as_numpy_iterator())
    assert example["inputs"][-1] == 1 and example["targets"][-1] == 1  # EOS
    assert len(example["inputs"]) > 1 and len(example["targets"]) > 1


def test_every_demo_mixture_resolves():
  names = [n for n in seqio.MixtureRegistry.names() if n.startswith("demo:")]
  # train:all, eval:all, then train:no_<c> and eval:<c> per cluster, and the
  # ablation mixtures (tests/data/test_ablations.py).
  cluster_mixtures = [n for n in names if ":ablation:" not in n]
  assert len(cluster_mixtures) == 2 + 2 * len(suite.CLUSTERS)
  assert len(names) > len(cluster_mixtures)
  for name in names:
    mixture = seqio.get_mixture_or_task(name)
    assert mixture.tasks and mixture.total_rate > 0
  held_out = seqio.get_mixture_or_task("demo:train:no_sentiment")
  trained = {task.name.split(":")[1] for task in held_out.tasks}
  assert not trained & set(suite.CLUSTERS["sentiment"])


def _nli_label(premise: str, hypothesis: str) -> str:
  """The label, worked out from the sentences rather than the generator.

  A hypothesis the premise states is entailed; one that gives the same
  person's same single-valued property (home, a thing's colour) another
  value, or the opposite trait, is contradicted; anything else is open.
  """
  facts = [fact.strip() + "." for fact in premise.split(".") if fact.strip()]
  if hypothesis in facts:
    return "yes"
  opposites = {frozenset(pair) for pair in common.TRAIT_PAIRS}
  head, value = hypothesis[:-1].rsplit(" ", 1)
  for fact in facts:
    fact_head, fact_value = fact[:-1].rsplit(" ", 1)
    if fact_head != head:
      continue
    if head.endswith(" is") and "'s " not in head:  # "Anna is tall"
      if frozenset((value, fact_value)) in opposites:
        return "no"
    else:  # "Anna lives in Paris", "Anna's bike is red"
      return "no"
  return "it is not possible to tell"


@pytest.mark.parametrize("name", suite.CLUSTERS["nli"])
def test_nli_labels_follow_from_the_premise(name):
  labels = set()
  for split in common.SPLIT_SIZES:
    for row in common.examples(name, split):
      assert row["answer"] == _nli_label(row["premise"], row["hypothesis"]), row
      labels.add(row["answer"])
  assert labels == {"yes", "no", "it is not possible to tell"}


@pytest.mark.parametrize("name", suite.CLUSTERS["reading"])
def test_reading_answer_is_one_word_of_the_passage(name):
  for split in common.SPLIT_SIZES:
    for row in common.examples(name, split):
      words = row["passage"].replace(".", "").split()
      assert words.count(row["answer"]) == 1, row
      assert row["name"] in words
