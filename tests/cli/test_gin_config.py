"""Command-line gin bindings: a misspelt macro is an error, not a new macro.

(A misspelt task or mixture name in a script is one of the cases of
tests/cli/test_mistakes.py.)"""

import gin
import pytest

from flan_jax.cli import gin_config

_GIN = """
TRAIN_STEPS = 3
TRAINING_MIXTURE = 'demo:train:all'
train.num_train_steps = %TRAIN_STEPS
train.mixture_or_task_name = %TRAINING_MIXTURE
"""


def _parse(tmp_path, bindings):
  path = tmp_path / "run.gin"
  path.write_text(_GIN)
  with gin.unlock_config():
    gin.clear_config()
    try:
      gin_config.parse_gin([str(path)], bindings)
      return gin_config.query("train.num_train_steps")
    finally:
      gin.clear_config()


def test_a_macro_the_files_use_is_accepted(tmp_path):
  assert _parse(tmp_path, ["TRAIN_STEPS = 5",
                           "train.checkpoint_every_steps = 2"]) == 5


def test_a_misspelt_macro_is_rejected_with_the_closest_names(tmp_path):
  with pytest.raises(ValueError, match=r"TRAIN_STEP, which no gin file .* "
                     r"did you mean TRAIN_STEPS or TRAINING_MIXTURE\?"):
    _parse(tmp_path, ["TRAIN_STEP = 5"])
