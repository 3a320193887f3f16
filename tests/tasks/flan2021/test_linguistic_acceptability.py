"""FLAN 2021 linguistic_acceptability (CoLA) on TFDS mock data."""

import pytest

import mock_helpers
from tasks.flan2021 import linguistic_acceptability  # noqa: F401  (registers)


@pytest.mark.parametrize("name",
                         mock_helpers.dataset_names("linguistic_acceptability"))
def test_tasks_run_on_mock_data(name):
  # Training task + first generation + first scoring task (the slow
  # collection test runs all 19 variants of CoLA's cluster).
  assert mock_helpers.check_dataset(name) == 3
  assert len(mock_helpers.task_names(name)) == 1 + 9 + 9  # one inverted
