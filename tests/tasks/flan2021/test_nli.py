"""FLAN 2021 nli cluster on TFDS mock data."""

import pytest

import mock_helpers
from tasks.flan2021 import common
from tasks.flan2021 import nli  # noqa: F401  (registers the cluster)


def test_the_ten_nli_datasets():
  assert mock_helpers.dataset_names("nli") == [
      "anli_r1", "anli_r2", "anli_r3", "cb", "rte", "mnli_matched",
      "mnli_mismatched", "qnli", "wnli", "snli"]
  for name in ("cb", "rte", "qnli", "wnli", "mnli_matched"):  # hidden tests
    assert common.get_flan_dataset(name).spec.source.split_map["validation"] == \
        "train[-200:]"
  assert common.get_flan_dataset("mnli_mismatched").spec.source.split_map[
      "test"] == "validation_mismatched"


@pytest.mark.parametrize("name", mock_helpers.dataset_names("nli"))
def test_tasks_run_on_mock_data(name):
  # train + first gen + first score task, every template rendered.
  assert mock_helpers.check_dataset(name) == 3
