"""Task variants, names and what each variant yields."""

import collections
import dataclasses

import numpy as np
import pytest
import seqio

import toy_tasks
from flan_jax.data import registry


def _examples(task_name, split="validation", seed=0):
  task = seqio.get_mixture_or_task(task_name)
  ds = task.get_dataset(None, split=split, shuffle=False, seed=seed)
  return list(ds.as_numpy_iterator())


def test_every_variant_is_registered_under_the_naming_convention():
  polarity = registry.get_dataset("toy:polarity")
  assert polarity.train_task == "toy:polarity:train"
  # Template 2 is inverted: training only.
  assert polarity.generation_tasks == ("toy:polarity:t0:gen",
                                       "toy:polarity:t1:gen")
  assert polarity.scoring_tasks == ("toy:polarity:t0:score",
                                    "toy:polarity:t1:score")
  assert polarity.eval_tasks == polarity.scoring_tasks
  echo = registry.get_dataset("toy:echo")
  assert echo.scoring_tasks == ()
  assert echo.eval_tasks == ("toy:echo:t0:gen", "toy:echo:t1:gen")
  info = registry.describe_task("toy:polarity:t1:score")
  assert (info.dataset, info.variant, info.template) == ("polarity", "score", 1)


def test_generation_task_renders_its_template_and_tokenizes():
  rows = _examples("toy:polarity:t1:gen")
  assert len(rows) == toy_tasks.SIZES["validation"]
  for row in rows:
    assert row["inputs_pretokenized"].decode().startswith("Is the mood of")
    assert row["targets_pretokenized"] in (b"bad", b"good")
    assert row["inputs"][-1] == 1 and row["targets"][-1] == 1  # EOS


def test_scoring_task_has_one_row_per_option_and_one_correct_row():
  rows = _examples("toy:choice:t0:score")
  by_example = collections.defaultdict(list)
  for row in rows:
    by_example[int(row["idx"])].append(row)
  assert len(by_example) == toy_tasks.SIZES["validation"]
  for group in by_example.values():
    assert [int(r["option_idx"]) for r in group] == [0, 1, 2]
    assert sum(bool(r["is_correct"]) for r in group) == 1
    assert len({r["inputs_pretokenized"] for r in group}) == 1
    correct = [r for r in group if r["is_correct"]][0]
    assert correct["inputs_pretokenized"].decode().startswith(
        "Pick " + correct["targets_pretokenized"].decode())


def test_training_task_spreads_all_templates_deterministically():
  rows = _examples("toy:polarity:train", split="train", seed=3)
  kinds = collections.Counter(
      "inverted" if r["inputs_pretokenized"].startswith(b"Write") else
      "question" if r["inputs_pretokenized"].startswith(b"Is the") else "plain"
      for r in rows)
  assert set(kinds) == {"inverted", "question", "plain"}
  assert all(count >= 8 for count in kinds.values())  # 64 examples, 3 templates
  again = _examples("toy:polarity:train", split="train", seed=3)
  assert [r["inputs_pretokenized"] for r in rows] == [
      r["inputs_pretokenized"] for r in again]


def test_unknown_dataset_lookup_lists_registered_ones():
  with pytest.raises(KeyError, match="toy:polarity"):
    registry.get_dataset("toy:polarty")


def test_only_inverted_templates_is_an_error():
  spec = registry.DatasetSpec(
      "all_inverted", toy_tasks.SPECS[0].source, collection="registry_test",
      options=("bad", "good"),
      templates=[toy_tasks.SPECS[0].templates[2]])
  with pytest.raises(ValueError, match="only inverted"):
    registry.register_dataset(spec)


def test_a_missing_answer_field_names_the_setting_that_fixes_it():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from flan_jax.data import templates  # pylint: disable=g-import-not-at-top

  def rows(split, shuffle_files=False, seed=None):
    del split, shuffle_files, seed
    return tf.data.Dataset.from_tensor_slices(
        {"text": ["fine", "awful"], "label": ["good", "bad"]})

  spec = registry.DatasetSpec(
      "labelled", seqio.FunctionDataSource(rows, splits=("test",)),
      collection="registry_test", options=("bad", "good"),
      templates=[templates.Template("{text}\n{options_}", "{label}")])
  with pytest.raises(templates.TemplateError) as error:
    registry.register_dataset(spec)
  message = str(error.value)
  assert "answer field 'answer'" in message
  assert "DatasetSpec(answer_field=...)" in message
  assert "label" in message  # the fields it could have meant
  registry.register_dataset(dataclasses.replace(spec, answer_field="label"))
  assert "registry_test:labelled:t0:score" in seqio.TaskRegistry.names()
