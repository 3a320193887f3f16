"""FLAN 2021 linguistic_acceptability (CoLA) on TFDS mock data."""

import pytest

import mock_helpers
from tasks.flan2021 import linguistic_acceptability  # noqa: F401  (registers)


@pytest.mark.parametrize("name",
                         mock_helpers.dataset_names("linguistic_acceptability"))
def test_every_task_variant_runs_on_mock_data(name):
  # 1 training task + 9 generation + 9 scoring tasks (one template inverted).
  assert mock_helpers.check_dataset(name, every_variant=True) == 19
