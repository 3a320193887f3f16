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


_RUN = """
include 'runs/finetune.gin'
include 'runs/eval.gin'
MODEL = None
MIXTURE = 'demo:train:no_sentiment'
TRAINING_MIXTURE = %MIXTURE_OR_TASK_NAME
MODEL_DIR = '/tmp/run'
CHECKPOINT = %MODEL_DIR
EVAL_MIXTURE = 'demo:eval:all'
EVAL_OUTPUT_DIR = '/tmp/run/eval'
TRAIN_STEPS = 10
BATCH_SIZE = 8
TASK_FEATURE_LENGTHS = {'inputs': 16, 'targets': 8}
LEARNING_RATE = 0.01
"""


def test_t5x_macro_names_are_aliases_in_the_run_files(tmp_path):
  (tmp_path / "run.gin").write_text(_RUN)  # the shape of gin/runs/demo.gin
  run = [str(tmp_path / "run.gin")]
  t5x = ["MIXTURE_OR_TASK_NAME = 'demo:train:no_nli'",
         "INITIAL_CHECKPOINT_PATH = '/ckpt/t5_base/checkpoints/0'",
         "CHECKPOINT_PATH = '/runs/a/checkpoints/1400'",
         "USE_CACHED_TASKS = True", "TASK_CACHE_DIR = '/data/cache'"]
  with gin.unlock_config():
    gin.clear_config()
    try:
      # Unbound, each alias follows the flan_jax macro it stands for ...
      gin_config.parse_gin(run)
      assert gin_config.query("train.mixture_or_task_name") == (
          "demo:train:no_sentiment")
      assert gin_config.query("evaluate.checkpoint") == "/tmp/run"
      assert gin_config.query("train.initial_checkpoint") is None
      assert gin_config.query("train.use_cached_tasks") is False
      gin.clear_config()
      # ... and a t5x user's bindings are accepted and take effect.
      gin_config.parse_gin(run, t5x)
      assert gin_config.query("train.mixture_or_task_name") == (
          "demo:train:no_nli")
      assert gin_config.query("evaluate.training_mixture") == (
          "demo:train:no_nli")
      assert gin_config.query("train.initial_checkpoint") == (
          "/ckpt/t5_base/checkpoints/0")
      assert gin_config.query("evaluate.checkpoint") == (
          "/runs/a/checkpoints/1400")
      assert gin_config.query("train.use_cached_tasks") is True
      assert gin_config.query("train.cache_dir") == "/data/cache"
    finally:
      gin.clear_config()


def test_the_demo_base_is_found_or_missed_in_one_line(tmp_path, monkeypatch):
  # The shipped base: a step directory the demo tunes from.
  assert gin_config.demo_base_checkpoint().endswith("/base/checkpoints/3000")
  monkeypatch.setattr(gin_config, "DEMO_BASE_DIR", str(tmp_path))
  with pytest.raises(gin_config.MissingDemoBaseError,
                     match="scripts/pretrain_demo.py"):
    gin_config.demo_base_checkpoint()
  # Not a ValueError: binding_or must not read a missing base as "no base".
  assert not isinstance(gin_config.MissingDemoBaseError("x"), ValueError)
  (tmp_path / "run.gin").write_text(
      "train.initial_checkpoint = @demo_base_checkpoint()\n")
  with gin.unlock_config():
    gin.clear_config()
    try:
      gin_config.parse_gin([str(tmp_path / "run.gin")])
      with pytest.raises(gin_config.MissingDemoBaseError):
        gin_config.binding_or("train.initial_checkpoint", None)
    finally:
      gin.clear_config()



@pytest.mark.parametrize("peft_file", ["runs/lora.gin",
                                       "runs/prompt_tuning.gin"])
def test_peft_run_files_make_the_demo_model_parameter_efficient(
    peft_file, tmp_path):
  # The demo's shape (tests/models would shadow gin/models in an include).
  (tmp_path / "run.gin").write_text(
      _RUN.replace("MODEL = None", "MODEL = @EncoderDecoderModel()\n"
                   "EncoderDecoderModel.config = @T5Config()") +
      f"include '{peft_file}'\n")
  with gin.unlock_config():
    gin.clear_config()
    try:
      gin_config.parse_gin([str(tmp_path / "run.gin")],
                           ["PROMPT_LENGTH = 4"] if "prompt" in peft_file
                           else ["LORA_RANK = 2"])
      model = gin_config.model_macro()
      if "lora" in peft_file:
        assert model.config.lora.rank == 2 and model.config.lora.scale == 8.0
        assert model.config.prompt is None
      else:
        assert model.config.prompt.length == 4 and model.config.lora is None
        assert gin_config.query("train.pack") is False
    finally:
      gin.clear_config()
