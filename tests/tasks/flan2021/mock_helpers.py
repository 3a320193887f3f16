"""Runs FLAN 2021 tasks end to end on TFDS mock data (no download).

Used by every ``tests/tasks/flan2021/test_<cluster>.py``::

    import mock_helpers
    from tasks.flan2021 import nli  # noqa: F401  (registers the cluster)

    @pytest.mark.parametrize("name", mock_helpers.dataset_names("nli"))
    def test_nli_dataset(name):
      mock_helpers.check_dataset(name)

`check_dataset` checks, under `tfds.testing.mock_data`, that every task
variant of one dataset is registered, builds the seqio pipelines of its
training task and first eval tasks (all of them with ``every_variant=True``),
takes a few examples from each and checks they are tokenized with EOS; it also
renders every template (inverted ones included) on the prepared examples of
every split and checks the text is filled in and classification answers are
among the options.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator, Sequence
from unittest import mock

import numpy as np
import seqio
import tensorflow as tf
import tensorflow_datasets as tfds

from flan_jax.data import metrics
from flan_jax.data import registry
from flan_jax.data import templates as templates_lib
from tasks.flan2021 import common

NUM_EXAMPLES = 3
EOS_ID = 1


@contextlib.contextmanager
def mock_tfds(num_examples: int = NUM_EXAMPLES,
              max_value: int | None = None) -> Iterator[None]:
  """Every TFDS builder yields `num_examples` random examples per split.

  Integer features that are not class labels are drawn below `max_value`
  (TFDS's default: 255); datasets with a plain integer label (wsc273) pass
  a small one so that labels are valid.
  """
  with tfds.testing.mock_data(num_examples=num_examples, max_value=max_value):
    yield


@contextlib.contextmanager
def preloaded_tfds(names: Sequence[str],
                   splits: Sequence[str] = ("train", "validation", "test"),
                   num_examples: int = NUM_EXAMPLES,
                   max_value: int | None = None) -> Iterator[None]:
  """Serves mock examples from memory to the FLAN sources of tasks/mixtures.

  For runs that checkpoint while building datasets (the trainer): TFDS's
  mock_data swaps tf.io.gfile for a fake file system while a dataset is
  created, and an orbax checkpoint written by another thread at that moment
  would land in it. Here every mock split is read once up front, then
  served from memory with no TFDS call.
  """
  cache = {}
  with mock_tfds(num_examples, max_value):
    for name in names:
      for task in seqio.get_subtasks(seqio.get_mixture_or_task(name)):
        source = task.source
        if not isinstance(source, common.FlanTfdsSource):
          continue
        for split in splits:
          key = (id(source), split)
          if split in source.splits and key not in cache:
            ds = source._load(split, False, None)  # pylint: disable=protected-access
            cache[key] = (ds.element_spec, list(ds.as_numpy_iterator()))

  def load(self, split, shuffle, seed):
    del shuffle, seed
    spec, rows = cache[(id(self), split)]
    return tf.data.Dataset.from_generator(lambda: iter(rows),
                                          output_signature=spec)

  with mock.patch.object(common.FlanTfdsSource, "_load", load):
    yield


def dataset_names(cluster: str) -> list[str]:
  """Registered dataset names of a cluster (import its module first)."""
  names = [d.name for d in common.registered_datasets(cluster)]
  assert names, f"cluster '{cluster}' registered no dataset"
  return names


def task_names(name: str) -> list[str]:
  """Every task registered for one FLAN dataset."""
  entry = common.get_flan_dataset(name).registered
  train = [entry.train_task] if entry.train_task else []
  return [*train, *entry.generation_tasks, *entry.scoring_tasks]


def _first_examples(task_name: str, split: str, count: int) -> list[dict]:
  task = seqio.get_mixture_or_task(task_name)
  assert split in task.source.splits, (task_name, split)
  ds = task.get_dataset(sequence_length=None, split=split, shuffle=False,
                        num_epochs=1, try_in_mem_cache=False)
  return list(ds.take(count).as_numpy_iterator())


def check_task(task_name: str, split: str,
               count: int = NUM_EXAMPLES) -> list[dict]:
  """Asserts a task yields tokenized examples (call under `mock_tfds`)."""
  examples = _first_examples(task_name, split, count)
  assert examples, f"{task_name} ({split}) yielded no example"
  for ex in examples:
    for feature in ("inputs", "targets"):
      tokens = ex[feature]
      assert tokens.dtype in (np.int32, np.int64), (task_name, feature)
      assert tokens.ndim == 1 and tokens[-1] == EOS_ID, (task_name, feature)
    assert len(ex["inputs"]) > 1, f"{task_name}: empty inputs"
  # Mock text may be empty by chance; templated targets of a few examples
  # are not all empty unless the task is broken.
  assert any(len(ex["targets"]) > 1 for ex in examples), (
      f"{task_name}: every target is empty")
  info = registry.describe_task(task_name)
  if info.variant == registry.SCORING:
    assert all("is_correct" in ex and "idx" in ex for ex in examples)
  return examples


def check_templates(name: str, count: int = NUM_EXAMPLES) -> int:
  """Renders every template on every split's prepared examples.

  Checks that every template yields non-empty inputs, that classification
  examples list their answer among their options and that the options block
  is rendered where a template asks for it. Returns the renderings checked.
  """
  spec = common.get_flan_dataset(name).spec
  templates = list(spec.templates)

  def render_all(ex):  # graph mode: one traced map instead of eager ops
    rendered = [templates_lib.render_example(t, ex) for t in templates]
    row = {"inputs": tf.stack([r["inputs"] for r in rendered]),
           "targets": tf.stack([r["targets"] for r in rendered])}
    if spec.is_classification:
      row["answer"] = ex[spec.answer_field]
      row["options"] = ex[templates_lib.OPTIONS_FIELD]
    return row

  checked = 0
  for split in spec.source.splits:
    prepared = registry.prepared_dataset(spec, split).take(count)
    for row in prepared.map(render_all).as_numpy_iterator():
      if spec.is_classification:
        options = [o.decode() for o in row["options"]]
        answer = row["answer"].decode()
        assert options and answer in options, (name, split, answer, options)
      for index, template in enumerate(templates):
        inputs = row["inputs"][index].decode()
        assert inputs.strip(), (name, index)
        if template.has_options:
          assert templates_lib.OPTIONS_HEADER in inputs, (name, index)
        checked += 1
  assert checked, f"FLAN dataset '{name}': nothing rendered"
  return checked


def check_dataset(name: str, count: int = NUM_EXAMPLES, *,
                  every_variant: bool = False,
                  max_value: int | None = None) -> int:
  """Runs a dataset's tasks on mock data; returns the number of tasks run.

  Every task variant is checked to be registered under its name. Pipelines
  run: the training task (on "train"), and either every evaluation task
  (`every_variant`, about 0.4 s each on one core) or the first generation
  and first scoring task (on "test", the split the paper reports). Eval
  tasks differ only in their template, and `check_templates` renders every
  template with the same tf code the tasks use, so the quick check still
  covers each template's text.
  """
  dataset = common.get_flan_dataset(name)
  entry = dataset.registered
  plain = [t for t in dataset.spec.templates if not t.inverted]
  assert len(dataset.spec.templates) == common.TEMPLATES_PER_DATASET
  assert len(entry.generation_tasks) == len(plain)
  if dataset.spec.is_classification:
    assert entry.scoring_tasks, f"classification dataset '{name}' has no " \
        "rank-classification task"
  assert (entry.train_task is None) == dataset.eval_only
  for task in task_names(name):
    assert seqio.get_mixture_or_task(task).name == task
  if every_variant:
    to_run = task_names(name)
  else:
    to_run = [*([entry.train_task] if entry.train_task else []),
              *entry.generation_tasks[:1], *entry.scoring_tasks[:1]]
  with mock_tfds(count, max_value):
    check_templates(name, count)
    for task in to_run:
      split = ("train" if registry.describe_task(task).variant ==
               registry.TRAIN else "test")
      check_task(task, split, count)
  return len(to_run)


def check_cluster(cluster: str, count: int = NUM_EXAMPLES, *,
                  every_variant: bool = False) -> int:
  """`check_dataset` for every dataset of a cluster; returns #tasks run."""
  return sum(check_dataset(name, count, every_variant=every_variant)
             for name in dataset_names(cluster))


def rendered_example(name: str, template_index: int = 0,
                     split: str = "test") -> dict[str, str]:
  """One mock example of a dataset rendered by one template (for docs)."""
  spec = common.get_flan_dataset(name).spec
  with mock_tfds(1):
    ex = next(iter(registry.prepared_dataset(spec, split)))
    rendered = templates_lib.render_example(spec.templates[template_index], ex)
  return {k: v.numpy().decode() for k, v in rendered.items()}



def generation_references(name: str, count: int = 8) -> list[tuple[str, Any]]:
  """(target text, postprocessed target) of the first generation task.

  Runs the task's seqio pipeline on mock data and hands each example to the
  task's own postprocess_fn as seqio's evaluator does, so a dataset whose
  preparation emits `references` must come out as a list of answers.
  Asserts the first template's target is the plain answer.
  """
  entry = common.get_flan_dataset(name).registered
  task = seqio.get_mixture_or_task(entry.generation_tasks[0])
  template = entry.spec.templates[registry.describe_task(task.name).template]
  assert template.targets == "{answer}", (name, template.targets)
  with mock_tfds(count):
    examples = _first_examples(task.name, "test", count)
  assert examples, f"{task.name} yielded no example"
  out = []
  for ex in examples:
    assert metrics.REFERENCES_FIELD in ex, (task.name, sorted(ex))
    target = ex["targets_pretokenized"].decode().strip()
    out.append((target, task.postprocess_fn(ex["targets_pretokenized"],
                                            example=ex, is_target=True)))
  return out


def check_references(name: str, count: int = 8) -> int:
  """Mock generation targets become lists whose first entry is the target.

  Returns how many examples had a reference list (mock text may leave an
  example without any answer, which then scores against its plain target).
  """
  with_lists = 0
  for target, post in generation_references(name, count):
    if isinstance(post, list):
      assert post and post[0] == target, (name, target, post)
      assert all(isinstance(r, str) and r for r in post), (name, post)
      with_lists += 1
    else:
      assert post == target, (name, target, post)
  assert with_lists, f"{name}: no generation target came with references"
  return with_lists
