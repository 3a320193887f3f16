r"""lm-evaluation-harness on a flan_jax checkpoint: our flags, then its own.

    python scripts/lm_eval_harness.py \
        --gin_file=models/t5_demo.gin --checkpoint=/tmp/flan_jax_demo \
        --tasks=arc_easy --num_fewshot=0 --output_path=/tmp/harness

Our flags (everything else goes to the harness's own `lm-eval run`, which
gets `--model flan_jax`):

    --gin_file, --gin.X=Y, --gin_search_paths   the model (its MODEL macro)
                                                and mesh (Partitioner), as
                                                for scripts/eval.py
    --checkpoint   a model dir (newest step), its checkpoints dir or a step
                   dir; --step picks a step of a model dir
    --vocabulary   a SentencePiece model, tokenizer.json or converted model
                   dir (default: FLAN_JAX_SPM_PATH or the shipped model, as
                   the tasks use)
    --module       Python modules to import first (repeatable)

`--model_args` may set `max_length` and `max_gen_toks` (see
`lm_eval_backend.FlanJaxLM`); `--batch_size` counts option rows or
generated sequences per forward pass ("auto" means 64).
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import logging
import os
import sys
from typing import Any, Sequence

import gin

from flan_jax import errors
from flan_jax.checkpoints import loading
from flan_jax.cli import gin_config
from flan_jax.cli import startup
from flan_jax.data import vocab as vocab_lib
from flan_jax.evaluation import lm_eval_backend
from flan_jax.evaluation import runner as runner_lib

log = logging.getLogger("flan_jax")

DEFAULT_BATCH_SIZE = 64
MODEL_ARGS = ("max_length", "max_gen_toks")


class UsageError(errors.FlanJaxError, ValueError):
  """A flag the user got wrong; printed as one line."""


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog="lm_eval_harness.py", add_help=False, allow_abbrev=False,
      description="flan_jax's flags; the rest go to `lm-eval run`.")
  parser.add_argument("--gin_file", action="append", default=[])
  parser.add_argument("--gin_bindings", action="append", default=[])
  parser.add_argument("--gin_search_paths", default="")
  parser.add_argument("--checkpoint", default=None)
  parser.add_argument("--step", type=int, default=None)
  parser.add_argument("--vocabulary", default=None)
  parser.add_argument("--module", action="append", default=[])
  return parser


def split_args(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
  """(our flags, the harness's arguments)."""
  ours, rest = _parser().parse_known_args(gin_config.rewrite_gin_args(argv))
  for flag in ("--model", "-M"):
    if any(a == flag or a.startswith(flag + "=") for a in rest):
      raise UsageError(f"{flag}: this script always runs the flan_jax model; "
                       "drop it (choose the model with --gin_file)")
  return ours, rest


def _batch_size(value: Any, data_parallel: int) -> int:
  """The harness's --batch_size as option rows per pass (a multiple of the
  data-parallel size)."""
  text = str(value if value is not None else DEFAULT_BATCH_SIZE)
  if not text.isdigit():
    log.info("batch_size %s: using %d rows per pass", text, DEFAULT_BATCH_SIZE)
    text = str(DEFAULT_BATCH_SIZE)
  size = max(int(text), 1)
  return -(-size // data_parallel) * data_parallel


def _vocabulary(path: str | None):
  if path is None:
    return vocab_lib.default_vocabulary()
  if path.endswith(".json"):
    return vocab_lib.tokenizers_vocabulary(path)
  if path.endswith(".model"):
    return vocab_lib.sentencepiece_vocabulary(path)
  return vocab_lib.vocabulary_from_directory(path)


def make_builder(ours: argparse.Namespace):
  """Parses gin and returns the `FlanJaxLM` builder the harness will call."""
  if not ours.checkpoint:
    raise UsageError("--checkpoint is required (a model dir, its checkpoints "
                     "dir or a step dir)")
  # Paths first: a misspelt one stops the run before any other work.
  directory, step = loading.resolve_checkpoint(ours.checkpoint, ours.step)
  vocabulary = _vocabulary(ours.vocabulary)
  for name in ours.module:
    importlib.import_module(name)
  search = [p for p in ours.gin_search_paths.split(",") if p]
  gin_config.parse_gin(ours.gin_file, ours.gin_bindings, search)
  gin_config.check_settings()
  model = gin_config.model_macro()
  partitioner = gin.get_configurable("Partitioner")()

  def build(batch_size=None, max_batch_size=None, device=None, **model_args):
    del max_batch_size, device  # JAX places work on the mesh's devices
    unknown = sorted(set(model_args) - set(MODEL_ARGS))
    if unknown:
      raise UsageError(f"--model_args {', '.join(unknown)}: flan_jax takes "
                       f"{', '.join(MODEL_ARGS)}")
    log.info("restoring %s step %d", directory, step)
    params = loading.load_params(model, directory, step, partitioner)
    runner = runner_lib.ModelRunner(
        model, params, partitioner,
        _batch_size(batch_size, partitioner.data_parallel_size))
    return lm_eval_backend.FlanJaxLM(runner, vocabulary, **model_args)

  return build


def _flag_values(args: Sequence[str], flag: str) -> list[str]:
  values = []
  for i, arg in enumerate(args):
    if arg == flag and i + 1 < len(args):
      values.append(args[i + 1])
    elif arg.startswith(flag + "="):
      values.append(arg.split("=", 1)[1])
  return values


def _broken_task_file(folders: Sequence[str]) -> errors.MalformedFileError | None:
  """The first task YAML under `folders` that does not parse (the harness
  skips it with a log line, and then knows no such task)."""
  import yaml  # pylint: disable=g-import-not-at-top

  class Loader(yaml.SafeLoader):  # the harness's tags (!function) parse
    pass
  Loader.add_multi_constructor("!", lambda *_: None)
  for folder in folders:
    for root, _, files in sorted(os.walk(folder)):
      for name in sorted(files):
        if not name.endswith((".yaml", ".yml")):
          continue
        path = os.path.join(root, name)
        with open(path, encoding="utf-8") as f:
          try:
            config = yaml.load(f, Loader=Loader)  # nosec: SafeLoader
          except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            return errors.MalformedFileError(
                path, mark.line + 1 if mark else 1, "a YAML task config",
                str(getattr(e, "problem", None) or e).splitlines()[0])
        if not isinstance(config, dict):
          return errors.MalformedFileError(path, 1, "a YAML mapping (task: "
                                           "..., dataset_path: ...)",
                                           type(config).__name__)
  return None


def check_task_names(harness_args: Sequence[str]) -> None:
  """A --tasks name the harness does not know: one line with the closest
  names, or the task YAML under --include_path that does not parse."""
  names = [n for value in _flag_values(harness_args, "--tasks")
           for n in value.split(",") if n and not os.path.exists(n)]
  if not names:
    return
  from lm_eval import tasks as lm_eval_tasks  # pylint: disable=g-import-not-at-top
  include = _flag_values(harness_args, "--include_path")
  manager = lm_eval_tasks.TaskManager(include_path=include or None)
  known = set(manager.all_tasks)
  for name in names:
    if name not in known:
      broken = _broken_task_file(include)
      if broken is not None:
        raise broken
      close = difflib.get_close_matches(name, sorted(known), n=3)
      raise UsageError(
          f"--tasks {name}: lm-evaluation-harness has no such task"
          f"{'' if include else ' (no --include_path given)'}; "
          + (f"closest: {', '.join(close)}" if close else
             "`lm-eval ls tasks` lists them"))


def run_harness(harness_args: Sequence[str]) -> None:
  """The harness's own command line, `lm-eval run --model flan_jax ...`."""
  from lm_eval import _cli  # pylint: disable=g-import-not-at-top
  from lm_eval import utils as lm_eval_utils  # pylint: disable=g-import-not-at-top
  lm_eval_utils.setup_logging()
  saved = sys.argv
  sys.argv = ["lm-eval", "run", "--model", lm_eval_backend.MODEL_NAME,
              *harness_args]
  try:
    cli = _cli.HarnessCLI()
    cli.execute(cli.parse_args())
  finally:
    sys.argv = saved


def _fail(error: Exception, status: int) -> int:
  """`lm_eval_harness: <first line>` on stderr, as every script reports."""
  lines = str(error).strip().splitlines()
  print(f"lm_eval_harness: {lines[0] if lines else error}", file=sys.stderr)
  return status


def main(argv: Sequence[str]) -> int:
  """Runs the harness on a flan_jax checkpoint; returns the exit status."""
  if any(a in ("-h", "--help") for a in argv):
    _parser().print_help()
    print(__doc__)
    run_harness(["--help"])
    return 0
  try:
    ours, rest = split_args(argv)
  except UsageError as e:
    return _fail(e, startup.USAGE_STATUS)
  try:
    startup.setup_logging()
    lm_eval_backend.register_builder(make_builder(ours))
    try:
      run_harness(rest)
    except ValueError as e:
      # The harness stops on a task it does not know with a traceback
      # ("Tasks not found: ..."); say which and the closest names instead.
      # Checked only then: indexing every task costs seconds.
      if "Tasks not found" not in str(e):
        raise
      check_task_names(rest)
      raise
  except (errors.FlanJaxError, FileNotFoundError) as e:
    # A misspelt path, gin binding or model argument: one line, no traceback.
    return _fail(e, startup.MISTAKE_STATUS)
  return 0
