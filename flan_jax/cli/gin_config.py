"""Gin at the edges: t5x-style flags and the configurable names gin files use.

Flags every script accepts::

    --gin_file=runs/demo.gin            (repeatable; searched in --gin_search_paths)
    --gin.train.num_train_steps=500     (any binding; repeatable)
    --gin_search_paths=/my/configs      (comma-separated; the repo's gin/ is
                                         always searched)

Names available in gin files (library code itself never imports gin)::

    train, evaluate, infer, EncoderDecoderModel, T5Config, DecoderOnlyModel,
    DecoderConfig, LoraConfig, PromptConfig (parameter-efficient tuning:
    a config's `lora` / `prompt`), Partitioner, make_optimizer,
    learning_rate_schedule, task_data (template set and local task data, applied right after gin is
    parsed), training_mixture (a mixture name, with input inversion when
    switched on), demo_base_checkpoint (the shipped demo base's path)
"""

from __future__ import annotations

import difflib
import logging
import math
import os
import pathlib
import re
import tokenize
from typing import Sequence

import gin
from absl import flags

from flan_jax import errors
from flan_jax.cli import settings
from flan_jax.data import mixtures
from flan_jax.data import task_settings
from flan_jax.evaluation import inference
from flan_jax.evaluation import job
from flan_jax.models import decoder
from flan_jax.models import decoder_only
from flan_jax.models import encoder_decoder
from flan_jax.models import lora
from flan_jax.models import prompt_tuning
from flan_jax.models import t5
from flan_jax.parallel import partitioning
from flan_jax.train import compiled_plan as compiled_plan_lib
from flan_jax.train import optimizers
from flan_jax.train import planning
from flan_jax.train import trainer

REPO_GIN_DIR = str(pathlib.Path(__file__).resolve().parents[2] / "gin")
# The demo's pretrained base, shipped with the demo suite
# (scripts/pretrain_demo.py writes it).
DEMO_BASE_DIR = str(pathlib.Path(__file__).resolve().parents[2] / "tasks" /
                    "demo" / "base")


class MissingDemoBaseError(errors.FlanJaxError, FileNotFoundError):
  """The demo's pretrained base is not there (not a ValueError, so that
  `binding_or` never reads a missing base as no base)."""


def demo_base_checkpoint() -> str:
  """The step directory of the shipped pretrained demo base.

  gin: `INITIAL_CHECKPOINT_PATH = @demo_base_checkpoint()` (runs/demo.gin).
  """
  directory = os.path.join(DEMO_BASE_DIR, "checkpoints")
  steps = sorted(int(s) for s in (os.listdir(directory)
                                  if os.path.isdir(directory) else [])
                 if s.isdigit())
  if not steps:
    raise MissingDemoBaseError(
        f"no pretrained demo base in {directory}: make it with "
        "`python scripts/pretrain_demo.py`, or tune from random weights "
        "with --gin.INITIAL_CHECKPOINT_PATH=None")
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
gin.external_configurable(lora.LoraConfig, name="LoraConfig")
gin.external_configurable(prompt_tuning.PromptConfig, name="PromptConfig")
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
      raise errors.ConfigError(f"{arg}: gin flags need a value, e.g. {arg}=1")
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
  """Parses gin files and bindings; a mistake in them is a ConfigError."""
  for path in [*search_paths, REPO_GIN_DIR, os.getcwd()]:
    gin.add_config_file_search_path(path)
  if not gin_files:
    raise errors.ConfigError("no --gin_file given: name a run, e.g. "
                             "--gin_file=runs/demo.gin (see README.md)")
  # gin probes each file name as a Python package path first and logs an
  # ERROR for every miss; those lines are noise, real failures still raise.
  logging.disable(logging.ERROR)
  try:
    gin.parse_config_files_and_bindings(gin_files, bindings,
                                        finalize_config=True)
  except errors.FlanJaxError:
    raise  # e.g. an `import` in a gin file that failed with a clear error
  except (OSError, SyntaxError, tokenize.TokenError, ValueError) as e:
    raise errors.ConfigError(_gin_mistake(e, gin_files, bindings)) from None
  finally:
    logging.disable(logging.NOTSET)
  check_binding_macros(bindings)


_UNBOUND_MACRO = re.compile(r"No bindings specified for '([^'/]+)/gin\.macro'")
_BINDINGS_LINE = re.compile(r"In bindings string line (\d+)")


def _gin_mistake(error: Exception, gin_files: Sequence[str],
                 bindings: Sequence[str]) -> str:
  """One line for what gin could not parse, naming the file or binding."""
  text = str(error)
  first = (text.strip().splitlines() or [type(error).__name__])[0]
  first = first.rstrip(".")
  if isinstance(error, OSError) and (match := _UNOPENED.search(text)):
    return (f"gin file {match.group(1)} not found (searched the gin/ folder, "
            f"the current folder and --gin_search_paths): give a file under "
            f"gin/ (e.g. runs/demo.gin) or a path to one")
  if match := _UNBOUND_MACRO.search(text):
    return (f"gin macro %{match.group(1)} is used but never set: bind it in "
            f"a gin file or with --gin.{match.group(1)}=...")
  quoting = "strings need inner quotes, e.g. --gin.MODEL_DIR=\"'/tmp/run'\""
  if isinstance(error, tokenize.TokenError):
    line = error.args[1][0] if len(error.args) > 1 else "?"
    return (f"gin file among {', '.join(gin_files)} does not parse "
            f"({error.args[0]}, line {line}): close the bracket or quote")
  binding = _failing_binding(error, text, bindings)
  if isinstance(error, SyntaxError) and error.filename and not binding:
    return (f"gin file {error.filename} line {error.lineno} does not parse "
            f"({first}): fix that line; {quoting}")
  subject = f"gin binding '{binding}'" if binding else "gin configuration"
  if isinstance(error, SyntaxError):
    return f"{subject} does not parse ({first}): {quoting}"
  return (f"{subject}: {first}: check the name against gin/ and README.md "
          f"(or --module for your own configurables)")


_UNOPENED = re.compile(r"Unable to open file: (.*?)\. Searched config paths")


def _failing_binding(error: Exception, text: str,
                     bindings: Sequence[str]) -> str | None:
  """The command-line binding gin's error points at, if it is one."""
  line = None
  if match := _BINDINGS_LINE.search(text):
    line = int(match.group(1))
  elif isinstance(error, SyntaxError) and not error.filename:
    line = error.lineno
  joined = "\n".join(bindings).splitlines()
  if line is not None and 0 < line <= len(joined):
    return joined[line - 1].strip()
  return None


def macro_bound_to(setting: str) -> str | None:
  """The macro a configurable parameter is bound to ("TRAIN_STEPS" for
  "train.num_train_steps" when a gin file says `= %TRAIN_STEPS`)."""
  pattern = re.compile(rf"^{re.escape(setting)}\s*=\s*%(\w+)\s*$", re.M)
  match = pattern.search(gin.config_str())
  return match.group(1) if match else None


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
    raise errors.ConfigError(
        f"gin binding '{binding.strip()}' sets the macro {name}, which no gin "
        f"file or binding uses (%{name}); {hint}")


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


def config_text() -> str:
  """Every gin binding in force: what a run writes as its config.gin."""
  return gin.config_str()


def bound_value(binding: str):
  """The plain value bound to `binding` ("train.batch_size"), macros
  followed; LookupError when it is unbound or bound to a configurable
  reference (evaluated later, never here)."""
  try:
    value = gin.query_parameter(binding)
  except ValueError:
    raise LookupError(binding) from None
  while isinstance(value, gin.config.ConfigurableReference) and (
      value.configurable.name == "macro" and value.scopes):
    try:
      value = gin.query_parameter(f"{value.scopes[-1]}/macro.value")
    except ValueError:
      raise LookupError(binding) from None
  if isinstance(value, gin.config.ConfigurableReference):
    raise LookupError(binding)
  return value


def check_settings() -> None:
  """Every bound setting against its declared rule (cli/settings.py)."""
  settings.check_bound(bound_value)


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


def compiled_plan(topology: str | None, num_slices: int | None,
                  progress) -> compiled_plan_lib.CompiledPlan:
  """scripts/plan.py --compile's plan: the gin in force compiled for
  `topology` (else the hardware file's TPU_TOPOLOGY) and `num_slices`
  (else TPU_NUM_SLICES, else 1)."""
  topology = topology or binding_or("TPU_TOPOLOGY", None)
  if not topology:
    raise errors.ConfigError(
        "no TPU topology to compile for: pass --topology=v5e:16x16 (say) or "
        "include a gin/hardware TPU file (it binds TPU_TOPOLOGY)",
        setting="TPU_TOPOLOGY")
  model = binding_or("MODEL", None)
  optimizer = binding_or("train.optimizer", None)
  batch_size = binding_or("train.batch_size", None)
  if model is None or optimizer is None or batch_size is None:
    raise errors.ConfigError(
        "plan needs MODEL, train.optimizer and train.batch_size bound "
        "(include a gin/runs file or bind them)", setting="MODEL")
  return compiled_plan_lib.compile_plan(
      model=model, optimizer=optimizer,
      mesh_shape=binding_or("Partitioner.mesh_shape", {"data": -1, "model": 1}),
      topology=topology,
      num_slices=num_slices or binding_or("TPU_NUM_SLICES", 1),
      batch_size=batch_size,
      task_feature_lengths=binding_or("train.task_feature_lengths", None),
      fsdp=binding_or("Partitioner.fsdp", False),
      logical_axis_rules=binding_or("Partitioner.logical_axis_rules", None),
      num_microbatches=binding_or("train.num_microbatches", 1),
      pack=binding_or("train.pack", True), seed=binding_or("train.seed", 0),
      progress=progress)


def query(binding: str):
  """The value bound to `binding` ("train.model_dir"): macros followed, and
  an evaluated reference (`@training_mixture()`) called for its value."""
  value = gin.query_parameter(binding)
  if isinstance(value, gin.config.ConfigurableReference) and (
      value.configurable.name == "macro" or value.evaluate):
    value = value.scoped_configurable_fn()  # follows macros of macros too
  return value
