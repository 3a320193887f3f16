"""Every setting the scripts' gin files bind has a declared rule, checked
at start-up (flan_jax/cli/settings.py)."""

import glob
import os

import gin
import pytest
from gin import config_parser

from flan_jax import errors
from flan_jax.cli import gin_config
from flan_jax.cli import settings

GIN_DIR = gin_config.REPO_GIN_DIR


def bound_parameters(text: str) -> set[str]:
  """`configurable.parameter` of every binding in a gin file's text."""
  parser = config_parser.ConfigParser(
      text, gin.config.ParserDelegate(skip_unknown=True))
  return {f"{s.selector.split('/')[-1]}.{s.arg_name}" for s in parser
          if isinstance(s, config_parser.BindingStatement) and s.arg_name}


def undeclared(texts) -> set[str]:
  found = set().union(*(bound_parameters(t) for t in texts))
  return found - set(settings.SETTINGS)


def _gin_texts():
  paths = sorted(glob.glob(os.path.join(GIN_DIR, "runs", "*.gin")) +
                 glob.glob(os.path.join(GIN_DIR, "models", "*.gin")))
  assert len(paths) >= 15
  return [open(p).read() for p in paths]


def test_every_parameter_the_gin_files_bind_has_a_declared_rule():
  texts = _gin_texts()
  assert len(set().union(*map(bound_parameters, texts))) > 80
  assert not undeclared(texts), (
      "declare these settings' valid values in flan_jax/cli/settings.py")


def test_a_new_numeric_parameter_without_a_rule_fails_the_walk():
  new_run = "include 'runs/finetune.gin'\ntrain.seed = 0\n" \
            "scoped/train.warmup_fraction = 0.1\n"
  assert undeclared([*_gin_texts(), new_run]) == {"train.warmup_fraction"}


@pytest.mark.parametrize("name, value, words", [
    ("learning_rate_schedule.base_learning_rate", -1e-3, "number above 0"),
    ("learning_rate_schedule.base_learning_rate", float("nan"), "number"),
    ("evaluate.few_shot", -1, "whole number above -1"),
    ("train.num_train_steps", 2.5, "whole number above 0"),
    ("train.task_feature_lengths", {"inputs": 0, "targets": 8},
     "train.task_feature_lengths['inputs'] is 0"),
    ("EncoderDecoderModel.top_p", 1.5, "at most 1"),
    ("EncoderDecoderModel.temperature", 0.0, "above 0"),
    ("DecoderOnlyModel.num_beams", 0, "above 0"),
    ("LoraConfig.rank", 0, "whole number above 0"),
    ("LoraConfig.alpha", -8.0, "above 0"),
    ("PromptConfig.init", "vocabulary", "'vocab'"),
    ("DecoderConfig.family", "gemma2", "'gemma3_text'"),
    ("DecoderConfig.layer_types", ("full_attention", "local"), "a tuple of"),
    ("learning_rate_schedule.warmup_steps", -10, "above -1"),
    ("make_optimizer.name", "sgd", "one of 'adafactor', 'adamw'"),
    ("train.pack", "yes", "one of True, False"),
])
def test_a_value_out_of_range_is_one_line_naming_the_setting(name, value,
                                                             words):
  with pytest.raises(errors.ConfigError) as e:
    settings.check(name, value)
  assert words in str(e.value) and str(e.value).startswith(name)
  assert e.value.setting == name and len(str(e.value).splitlines()) == 1


def test_values_in_range_pass():
  for name, value in [("learning_rate_schedule.base_learning_rate", 1e-3),
                      ("evaluate.few_shot", 0), ("train.keep_checkpoints",
                                                 None),
                      ("EncoderDecoderModel.top_p", 1.0),
                      ("DecoderConfig.rope_scaling", "llama3")]:
    settings.check(name, value)


def test_start_up_checks_what_the_gin_files_and_flags_bind(tmp_path):
  run = tmp_path / "run.gin"
  run.write_text("LEARNING_RATE = 1e-3\nWARMUP = %STEPS\nSTEPS = 10\n"
                 "learning_rate_schedule.base_learning_rate = %LEARNING_RATE\n"
                 "learning_rate_schedule.warmup_steps = %WARMUP\n"
                 "train.model = @EncoderDecoderModel()\n")
  with gin.unlock_config():
    gin.clear_config()
    try:
      gin_config.parse_gin([str(run)])
      gin_config.check_settings()  # valid; the reference is not called
      for binding, words in [("LEARNING_RATE = -0.001",
                              "base_learning_rate is -0.001"),
                             ("STEPS = -1", "warmup_steps is -1")]:
        gin.clear_config()
        gin_config.parse_gin([str(run)], [binding])
        with pytest.raises(errors.ConfigError, match=words):
          gin_config.check_settings()
    finally:
      gin.clear_config()


def test_a_setting_is_declared_once():
  with pytest.raises(ValueError, match="twice"):
    settings.declare("train.batch_size", settings.whole(1, what="x"))


def test_every_declared_setting_is_a_real_parameter():
  """A misspelt entry in the table would check nothing."""
  import inspect  # pylint: disable=g-import-not-at-top
  wrong = []
  for name in settings.SETTINGS:
    selector, parameter = name.rsplit(".", 1)
    # gin's public get_configurable hides a class's fields behind a wrapper.
    found = gin.config._REGISTRY.get_match(selector)  # pylint: disable=protected-access
    if found is None or parameter not in inspect.signature(
        found.wrapped).parameters:
      wrong.append(name)
  assert not wrong
