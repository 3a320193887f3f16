"""FLAN 2021 coreference cluster on TFDS mock data."""

import pytest

import mock_helpers
from tasks.flan2021 import common
from tasks.flan2021 import coreference  # noqa: F401  (registers the cluster)


@pytest.mark.parametrize("name", mock_helpers.dataset_names("coreference"))
def test_tasks_run_on_mock_data(name):
  # wsc273's label is a plain integer: keep mock integers in {0, 1}.
  count = mock_helpers.check_dataset(name, max_value=2)
  assert count == (2 if name == "wsc273" else 3)


def test_wsc273_is_evaluation_only():
  wsc273 = common.get_flan_dataset("wsc273")
  assert wsc273.eval_only and wsc273.registered.train_task is None
  assert set(wsc273.spec.source.splits) == {"test"}
  assert common.clusters(include_eval_only=False)["coreference"] == (
      "definite_pronoun_resolution", "winogrande", "wsc")
