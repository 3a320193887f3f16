"""FLAN 2021 question_classification cluster on TFDS mock data."""

import pytest

import mock_helpers
from tasks.flan2021 import question_classification  # noqa: F401  (registers the cluster)


@pytest.mark.parametrize("name", mock_helpers.dataset_names("question_classification"))
def test_tasks_run_on_mock_data(name):
  # Training task + first generation (+ first scoring) task; every template
  # rendered on every split.
  assert mock_helpers.check_dataset(name) >= 2
