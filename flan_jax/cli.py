"""Shared set-up for the command-line scripts: logging and task modules."""

from __future__ import annotations

import importlib
import logging
import os
import sys

# TensorFlow is used for data only; keep its C++ logging and GPU probing quiet.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from typing import Callable, Sequence  # pylint: disable=g-import-not-at-top

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags  # pylint: disable=g-import-not-at-top

_MODULES = flags.DEFINE_multi_string(
    "module", [], "Python module(s) to import before gin is parsed, e.g. "
    "one that registers your own seqio tasks (`--module=my_project.tasks`).")


def setup_logging(level: int = logging.INFO) -> None:
  """Plain progress lines on stdout from the `flan_jax` logger."""
  log = logging.getLogger("flan_jax")
  if not log.handlers:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s",
                                           datefmt="%H:%M:%S"))
    log.addHandler(handler)
  log.setLevel(level)
  log.propagate = False
  # absl logging (seqio, orbax) reports every task and checkpoint it touches;
  # flan_jax's own logger says what matters, so keep absl to errors.
  logging.getLogger("absl").setLevel(logging.ERROR)
  logging.getLogger().setLevel(logging.WARNING)
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.config.set_visible_devices([], "GPU")


def import_modules() -> None:
  """Imports the --module flags' modules (they register tasks)."""
  repo_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  if repo_root not in sys.path:
    sys.path.append(repo_root)
  for name in _MODULES.value:
    importlib.import_module(name)


def start_gin_script(argv: Sequence[str],
                     before_modules: Callable[[], None] | None = None) -> None:
  """The common start of the gin-configured scripts.

  Refuses stray positional arguments, sets up logging, runs `before_modules`
  (e.g. the multi-host start-up, which must precede any JAX work), imports
  the --module modules and parses --gin_file / --gin.X=Y.
  """
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  setup_logging()
  if before_modules is not None:
    before_modules()
  import_modules()
  from flan_jax import gin_utils  # pylint: disable=g-import-not-at-top
  try:
    gin_utils.parse_gin_flags()
  except ValueError as e:  # a bad binding or file: the message, no traceback
    raise app.UsageError(str(e)) from e


def run_gin_script(main: Callable[[Sequence[str]], None]) -> None:
  """`absl.app.run` for the gin scripts: gin flag parsing, and a task or
  mixture name that nothing registered reported as a usage error (its
  message names the closest registered names), without a traceback."""
  from flan_jax import gin_utils  # pylint: disable=g-import-not-at-top

  def main_reporting_unknown_names(argv):
    from flan_jax.data import registry  # pylint: disable=g-import-not-at-top
    try:
      main(argv)
    except registry.UnknownTaskOrMixtureError as e:
      # gin appends "In call to configurable ..." lines; the first says it.
      raise app.UsageError(str(e).splitlines()[0]) from e

  app.run(main_reporting_unknown_names, flags_parser=gin_utils.flags_parser)
