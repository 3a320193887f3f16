"""Gin at the edges: t5x-style flags and the configurable names gin files use.

Flags every script accepts::

    --gin_file=runs/demo.gin            (repeatable; searched in --gin_search_paths)
    --gin.train.num_train_steps=500     (any binding; repeatable)
    --gin_search_paths=/my/configs      (comma-separated; the repo's gin/ is
                                         always searched)

Names available in gin files (library code itself never imports gin)::

    train, evaluate, infer, EncoderDecoderModel, T5Config, DecoderOnlyModel,
    DecoderConfig, Partitioner, make_optimizer, learning_rate_schedule,
    task_data (template set and local task data, applied right after gin is
    parsed), training_mixture (a mixture name, with input inversion when
    switched on)
"""

from __future__ import annotations

import difflib
import logging
import os
import pathlib
import re
from typing import Sequence

import gin
from absl import flags

from flan_jax.data import mixtures
from flan_jax.data import task_settings
from flan_jax.evaluation import inference
from flan_jax.evaluation import job
from flan_jax.models import decoder
from flan_jax.models import decoder_only
from flan_jax.models import encoder_decoder
from flan_jax.models import t5
from flan_jax.parallel import partitioning
from flan_jax.train import optimizers
from flan_jax.train import trainer

REPO_GIN_DIR = str(pathlib.Path(__file__).resolve().parents[2] / "gin")

train = gin.external_configurable(trainer.train, name="train")
evaluate = gin.external_configurable(job.evaluate, name="evaluate")
infer = gin.external_configurable(inference.infer, name="infer")
gin.external_configurable(encoder_decoder.EncoderDecoderModel,
                          name="EncoderDecoderModel")
gin.external_configurable(t5.T5Config, name="T5Config")
gin.external_configurable(decoder_only.DecoderOnlyModel,
                          name="DecoderOnlyModel")
gin.external_configurable(decoder.DecoderConfig, name="DecoderConfig")
gin.external_configurable(partitioning.Partitioner, name="Partitioner")
gin.external_configurable(optimizers.make_optimizer, name="make_optimizer")
gin.external_configurable(optimizers.learning_rate_schedule,
                          name="learning_rate_schedule")
task_data = gin.external_configurable(task_settings.configure,
                                      name="task_data")
gin.external_configurable(mixtures.training_mixture, name="training_mixture")

_GIN_FILES = flags.DEFINE_multi_string(
    "gin_file", [], "Gin config files, searched in --gin_search_paths.")
_GIN_BINDINGS = flags.DEFINE_multi_string(
    "gin_bindings", [], "Gin bindings; `--gin.X=Y` is shorthand for "
    "`--gin_bindings=X=Y`.")
_GIN_SEARCH_PATHS = flags.DEFINE_list(
    "gin_search_paths", [], "Extra directories to look for gin files in "
    "(the repository's gin/ directory is always searched).")


def rewrite_gin_args(argv: Sequence[str]) -> list[str]:
  """Turns `--gin.X=Y` into `--gin_bindings=X=Y` (absl cannot parse the former).

  A value may span following arguments when the shell split it:
  `--gin.a=1 2` is not supported; quote values with spaces.
  """
  rewritten = []
  for arg in argv:
    match = re.fullmatch(r"--gin\.([^=]+)=(.*)", arg, flags=re.DOTALL)
    if match:
      rewritten.append(f"--gin_bindings={match.group(1)} = {match.group(2)}")
    elif arg.startswith("--gin.") and "=" not in arg:
      raise ValueError(f"{arg}: gin flags need a value, e.g. {arg}=1")
    else:
      rewritten.append(arg)
  return rewritten


def flags_parser(argv: Sequence[str]) -> list[str]:
  """`absl.app.run(main, flags_parser=gin_config.flags_parser)`."""
  return flags.FLAGS(rewrite_gin_args(argv))


def parse_gin_flags(extra_bindings: Sequence[str] = ()) -> None:
  """Loads the gin files and bindings given on the command line."""
  parse_gin(_GIN_FILES.value, [*_GIN_BINDINGS.value, *extra_bindings],
            _GIN_SEARCH_PATHS.value)


def parse_gin(gin_files: Sequence[str], bindings: Sequence[str] = (),
              search_paths: Sequence[str] = ()) -> None:
  for path in [*search_paths, REPO_GIN_DIR, os.getcwd()]:
    gin.add_config_file_search_path(path)
  if not gin_files:
    raise ValueError("no --gin_file given; see README.md for examples")
  # gin probes each file name as a Python package path first and logs an
  # ERROR for every miss; those lines are noise, real failures still raise.
  logging.disable(logging.ERROR)
  try:
    gin.parse_config_files_and_bindings(gin_files, bindings,
                                        finalize_config=True)
  finally:
    logging.disable(logging.NOTSET)
  check_binding_macros(bindings)


_MACRO_BINDING = re.compile(r"\s*([A-Za-z_]\w*)\s*=")
_MACRO_REFERENCE = re.compile(r"%([A-Za-z_]\w*)")


def check_binding_macros(bindings: Sequence[str]) -> None:
  """Rejects a binding that sets a macro nothing uses (usually a typo).

  gin takes `--gin.TRAIN_STEP=5` as a new macro and the run goes on with
  the file's TRAIN_STEPS; this raises instead, naming the closest macros.
  """
  used = set(_MACRO_REFERENCE.findall(gin.config_str()))
  for binding in bindings:
    match = _MACRO_BINDING.match(binding)
    if not match or match.group(1) in used:
      continue
    name = match.group(1)
    close = difflib.get_close_matches(name, sorted(used), n=3)
    hint = (f"did you mean {' or '.join(close)}?" if close else
            "the gin files use: " + ", ".join(sorted(used)))
    raise ValueError(f"gin binding '{binding.strip()}' sets the macro {name}, "
                     f"which no gin file or binding uses (%{name}); {hint}")


def apply_task_data() -> None:
  """Applies the `task_data` bindings (TEMPLATE_SET, FLAN_CHECKOUT, ...).

  Task modules are imported while gin is parsed; this re-registers what
  those settings change. Wrong settings raise a one-line ValueError.
  """
  task_data()


def model_macro():
  """The model bound to the MODEL macro (gin/models/*.gin define it)."""
  value = gin.query_parameter("MODEL/macro.value")
  if isinstance(value, gin.config.ConfigurableReference):
    value = value.scoped_configurable_fn()
  return value


def write_config(directory: str, name: str = "config.gin") -> str:
  """Writes every gin binding in force, so a run can be reproduced."""
  os.makedirs(directory, exist_ok=True)
  path = os.path.join(directory, name)
  with open(path, "w") as f:
    f.write(gin.config_str())
  return path


def query(binding: str):
  """The value bound to `binding` ("train.model_dir"), macros resolved."""
  value = gin.query_parameter(binding)
  if (isinstance(value, gin.config.ConfigurableReference) and
      value.configurable.name == "macro"):
    value = value.scoped_configurable_fn()  # follows macros of macros too
  return value
