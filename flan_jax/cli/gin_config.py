"""Gin at the edges: t5x-style flags and the configurable names gin files use.

Flags every script accepts::

    --gin_file=runs/demo.gin            (repeatable; searched in --gin_search_paths)
    --gin.train.num_train_steps=500     (any binding; repeatable)
    --gin_search_paths=/my/configs      (comma-separated; the repo's gin/ is
                                         always searched)

Names available in gin files (library code itself never imports gin)::

    train, evaluate, infer, EncoderDecoderModel, T5Config, DecoderOnlyModel,
    DecoderConfig, Partitioner, make_optimizer, learning_rate_schedule,
    demo_base_checkpoint (the shipped demo base's path)
"""

from __future__ import annotations

import difflib
import logging
import math
import os
import pathlib
import re
from typing import Sequence

import gin
from absl import flags

from flan_jax.evaluation import inference
from flan_jax.evaluation import job
from flan_jax.models import decoder
from flan_jax.models import decoder_only
from flan_jax.models import encoder_decoder
from flan_jax.models import t5
from flan_jax.parallel import partitioning
from flan_jax.train import optimizers
from flan_jax.train import planning
from flan_jax.train import trainer

REPO_GIN_DIR = str(pathlib.Path(__file__).resolve().parents[2] / "gin")
# The demo's pretrained base, shipped with the demo suite
# (scripts/pretrain_demo.py writes it).
DEMO_BASE_DIR = str(pathlib.Path(__file__).resolve().parents[2] / "tasks" /
                    "demo" / "base")


def demo_base_checkpoint() -> str:
  """The step directory of the shipped pretrained demo base.

  gin: `train.initial_checkpoint = @demo_base_checkpoint()` (runs/demo.gin).
  """
  directory = os.path.join(DEMO_BASE_DIR, "checkpoints")
  steps = sorted(int(s) for s in (os.listdir(directory)
                                  if os.path.isdir(directory) else [])
                 if s.isdigit())
  if not steps:
    raise FileNotFoundError(
        f"no pretrained demo base in {directory}; make it with "
        "`python scripts/pretrain_demo.py`, or tune from random weights "
        "with --gin.train.initial_checkpoint=None")
  return os.path.join(directory, str(steps[-1]))


gin.external_configurable(demo_base_checkpoint, name="demo_base_checkpoint")

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


def binding_or(name: str, default):
  """A gin binding ("train.batch_size") or macro ("MODEL"), else `default`."""
  try:
    value = (gin.query_parameter(f"%{name}") if "." not in name
             else query(name))
  except (ValueError, KeyError):
    return default
  while isinstance(value, gin.config.ConfigurableReference) and (
      value.configurable.name == "macro"):
    value = value.scoped_configurable_fn()
  if isinstance(value, gin.config.ConfigurableReference):
    value = value.scoped_configurable_fn()
  return value


def memory_plan(num_devices: int | None = None) -> planning.MemoryPlan:
  """scripts/plan.py's plan of the gin in force: memory per device of one
  train step. A -1 mesh axis needs `num_devices`."""
  mesh_shape = binding_or("Partitioner.mesh_shape", {"data": -1, "model": 1})
  if -1 in mesh_shape.values() and num_devices is None:
    raise ValueError(f"mesh {mesh_shape} has a -1 axis; pass --num_devices")
  return planning.plan_memory(
      model=binding_or("MODEL", None),
      optimizer=binding_or("train.optimizer", None),
      mesh_shape=mesh_shape,
      num_devices=num_devices or math.prod(mesh_shape.values()),
      fsdp=binding_or("Partitioner.fsdp", False),
      logical_axis_rules=binding_or("Partitioner.logical_axis_rules", None),
      batch_size=binding_or("train.batch_size", None),
      task_feature_lengths=binding_or("train.task_feature_lengths", None),
      num_microbatches=binding_or("train.num_microbatches", 1),
      pack=binding_or("train.pack", True),
      device_memory_gib=binding_or("DEVICE_MEMORY_GIB", None))


def query(binding: str):
  """The value bound to `binding` ("train.model_dir"), macros resolved."""
  value = gin.query_parameter(binding)
  if (isinstance(value, gin.config.ConfigurableReference) and
      value.configurable.name == "macro"):
    value = value.scoped_configurable_fn()  # follows macros of macros too
  return value
