"""FLAN 2021 shared machinery: split caps, missing data, registration checks."""

import pytest
import seqio

import mock_helpers
from flan_jax.data.templates import Template
from tasks.flan2021 import common


def test_split_presets():
  assert common.SPLITS_STANDARD == {"train": "train",
                                    "validation": "validation",
                                    "test": "test"}
  assert common.SPLITS_VALIDATION_AS_TEST == {"train": "train[:-200]",
                                              "validation": "train[-200:]",
                                              "test": "validation"}
  assert common.splits(test="test") == {"test": "test"}
  with pytest.raises(ValueError, match="at least one"):
    common.splits()


def test_caps_take_the_first_examples_of_a_split():
  source = common.FlanTfdsSource(
      "glue/cola", common.SPLITS_VALIDATION_AS_TEST,
      caps={"train": 4, "validation": 2})
  with mock_helpers.mock_tfds(7):
    train = list(source.get_dataset("train", shuffle=True, seed=3))
    again = list(source.get_dataset("train", shuffle=True, seed=5))
    assert len(train) == 4 and source.num_input_examples("train") == 4
    assert [ex["idx"] for ex in train] == [ex["idx"] for ex in again]
    assert source.num_input_examples("validation") == 2
    assert source.num_input_examples("test") == 7  # uncapped
    shard = list(source.get_dataset(
        "train", shuffle=False, shard_info=seqio.ShardInfo(1, 2)))
    assert [ex["idx"] for ex in shard] == [ex["idx"] for ex in train][1::2]


def test_missing_data_names_the_dataset_and_the_build_command(tmp_path):
  source = common.FlanTfdsSource("glue/cola", common.SPLITS_STANDARD,
                                 tfds_data_dir=str(tmp_path))
  with pytest.raises(common.DatasetNotPreparedError,
                     match=r"'glue/cola' is not prepared .*`tfds build glue/cola`"):
    source.get_dataset("train")
  with pytest.raises(common.DatasetNotPreparedError, match="tfds build"):
    source.num_input_examples("test")


def _templates(n, inverted=0):
  return [Template("{sentence}", "{answer}", inverted=i < inverted)
          for i in range(n)]


@pytest.mark.parametrize("kwargs, message", [
    (dict(cluster="grammar"), "unknown FLAN cluster 'grammar'"),
    (dict(templates=_templates(9)), "has 9 templates"),
    (dict(templates=_templates(10, inverted=4)), "4 inverted templates"),
    (dict(splits=common.splits(test="test")), "no train split"),
    (dict(eval_only=True, splits=common.splits(train="train")),
     "needs a test split"),
])
def test_registration_rejects_bad_datasets(kwargs, message):
  args = dict(name="not_flan", cluster="linguistic_acceptability",
              tfds_name="glue/cola", splits=common.SPLITS_STANDARD,
              templates=_templates(10))
  args.update(kwargs)
  with pytest.raises(ValueError, match=message):
    common.register_flan_dataset(**args)
  assert "not_flan" not in {d.name for d in common.registered_datasets()}
