"""Flan 2022 mixing rates, counted on sampled streams: the five submixes at
40/32/20/5/3%, template types at equal shares, input inversion at 0.3."""

import json

import pandas as pd
import pytest
import seqio
import tensorflow as tf

import toy_tasks
from flan_jax.data import mixtures
from flan_jax.data import prerendered as prerendered_lib
from flan_jax.data import registry
from flan_jax.data import template_types
from tasks.flan2022 import common
from tasks.flan2022 import prerendered

SAMPLES = 20_000  # the final mixture: 1% is 2.9 standard errors at 40%
FEWER = 10_000    # two-level checks: 1% is 2.3 standard errors at 25%
LENGTHS = {"inputs": 32, "targets": 8}


def _shares(name, classes, key, samples=SAMPLES):
  """Share of sampled examples per class; key(example) -> class, in tf ops.

  Counted inside tf.data (a Python loop over 20k examples would cost more
  than sampling them).
  """
  ds = seqio.get_mixture_or_task(name).get_dataset(
      sequence_length=LENGTHS, split="train", shuffle=False, num_epochs=None,
      seed=3, use_cached=False, copy_pretokenized=True)
  names = tf.constant(classes)

  def count(total, ex):
    hit = tf.cast(tf.equal(names, key(ex)), tf.int64)
    tf.debugging.assert_equal(tf.reduce_sum(hit), tf.constant(1, tf.int64))
    return total + hit

  counts = ds.take(samples).reduce(tf.zeros([len(classes)], tf.int64), count)
  return dict(zip(classes, (counts.numpy() / samples).tolist()))


def _target_part(ex):
  return tf.strings.split(ex["targets_pretokenized"], "|")[0]


def _write_submix(directory, submix, sizes, form):
  rows = [(f"{submix} input {task} {i}", f"{submix}|{task}", f"task{task}",
           "zsopt") for task, size in enumerate(sizes) for i in range(size)]
  frame = pd.DataFrame(rows, columns=list(prerendered_lib.COLUMNS))
  directory.mkdir(parents=True)
  if form == "parquet":
    frame.to_parquet(directory / "train-00000-of-00001.parquet")
  elif form == "jsonl":
    with open(directory / "train.jsonl", "w") as f:
      for row in frame.to_dict("records"):
        f.write(json.dumps(row) + "\n")
  else:
    import datasets  # pylint: disable=g-import-not-at-top
    datasets.Dataset.from_pandas(frame).save_to_disk(str(directory))


def test_the_final_mixture_samples_each_submix_at_its_published_rate(
    tmp_path):
  forms = ("parquet", "jsonl", "saved", "parquet", "jsonl")
  for (submix, form), sizes in zip(zip(common.SUBMIX_RATES, forms),
                                   ([50, 90], [40], [30, 80, 20], [60],
                                    [70, 10])):
    _write_submix(tmp_path / submix, submix, sizes, form)
  registered = prerendered.register(prerendered.submix_directories(
      str(tmp_path)), cache_dir=str(tmp_path / "cache"))
  assert sorted(registered) == sorted(common.SUBMIX_RATES)
  shares = _shares(prerendered.FINAL_MIXTURE, list(common.SUBMIX_RATES),
                   _target_part)
  for submix, rate in common.SUBMIX_RATES.items():
    assert shares[submix] == pytest.approx(rate, abs=0.01), (submix, shares)
  # Within a submix: examples-proportional (its rows per task).
  niv2 = seqio.get_mixture_or_task(prerendered.mixture_name(
      common.NIV2_SUBMIX))
  assert sorted(niv2.get_rate(t) for t in niv2.tasks) == [20.0, 30.0, 80.0]


def _in_memory(name, rows):
  def dataset_fn(split, shuffle_files=False, seed=None):
    del split, shuffle_files, seed
    return tf.data.Dataset.from_tensor_slices(
        {"inputs": [r[0] for r in rows], "targets": [r[1] for r in rows]})
  return registry.DatasetSpec(
      name=name, collection="rates2022", templates=(prerendered_lib.IDENTITY,),
      source=seqio.FunctionDataSource(
          dataset_fn, splits=("train",), num_input_examples={"train": len(
              rows)}))


def test_template_types_share_a_submix_equally():
  train = {}
  for index, template_type in enumerate(template_types.TEMPLATE_TYPES):
    tasks = []
    for task, size in enumerate((30 + index, 200 * (index + 1))):
      spec = _in_memory(f"{template_type}_{task}",
                        [(f"x{i}", template_type) for i in range(size)])
      registry.unregister_dataset(f"rates2022:{spec.name}")
      tasks.append(registry.register_dataset(
          spec, fields=frozenset({"inputs", "targets"})).train_task)
    train[template_type] = tasks
  common.register_typed_submix(common.T0_SUBMIX, train, overwrite=True)
  shares = _shares(common.submix_name(common.T0_SUBMIX),
                   list(template_types.TEMPLATE_TYPES),
                   lambda ex: ex["targets_pretokenized"], FEWER)
  assert shares == pytest.approx(
      dict.fromkeys(template_types.TEMPLATE_TYPES, 0.25), abs=0.01)


def test_input_inversion_adds_the_inverted_templates_at_0_3():
  polarity, echo = (e for e in toy_tasks.REGISTERED
                    if e.spec.name in ("polarity", "echo"))
  base = []
  for entry in (polarity, echo):
    registry.unregister_dataset(f"rates2022:{entry.spec.name}:zsopt")
    base.append(template_types.register_template_types(
        entry.spec, collection="rates2022",
        fields=registry.prepared_fields_of(entry.key),
        templates={"zsopt": template_types.TypeTemplates(
            entry.spec.templates)})["zsopt"].train_task)
  mixtures.register_task_mixture("rates2022:base", base, overwrite=True)
  name = mixtures.training_mixture("rates2022:base", input_inversion=True)
  assert name == "rates2022:base+inversion"
  assert mixtures.datasets_in_mixture(name) == {"rates2022:polarity:zsopt",
                                                "rates2022:echo:zsopt"}
  shares = _shares(name, ["inverted", "not"], lambda ex: tf.where(
      tf.strings.regex_full_match(ex["inputs_pretokenized"], "Write two.*"),
      "inverted", "not"), FEWER)
  # Only polarity has an inverted template ("Write two {answer} words.").
  assert shares["inverted"] == pytest.approx(0.3 / 1.3, abs=0.01)
  with pytest.raises(ValueError, match="nothing to invert"):
    mixtures.register_input_inversion("toy:echo:train")
