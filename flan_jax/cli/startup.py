"""Shared start-up of the command-line scripts: logging, task modules, gin.

Every script begins `from flan_jax.cli import startup` (which quiets
TensorFlow before it loads, see `flan_jax/cli/__init__.py`) and ends with
`startup.run_gin_script(main)` or `absl.app.run(main)`.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from typing import Callable, Sequence

from absl import app
from absl import flags

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
  repo_root = os.path.dirname(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__))))
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
  from flan_jax.cli import gin_config  # pylint: disable=g-import-not-at-top
  try:
    gin_config.parse_gin_flags()
  except ValueError as e:  # a bad binding or file: the message, no traceback
    raise app.UsageError(str(e)) from e


def run_gin_script(main: Callable[[Sequence[str]], None]) -> None:
  """`absl.app.run` for the gin scripts: gin flag parsing, and a task or
  mixture name that nothing registered (the message names the closest
  registered names) or a local benchmark copy that is missing reported as
  a usage error, without a traceback."""
  from flan_jax.cli import gin_config  # pylint: disable=g-import-not-at-top

  def main_reporting_unknown_names(argv):
    from flan_jax.data import local_files  # pylint: disable=g-import-not-at-top
    from flan_jax.data import registry  # pylint: disable=g-import-not-at-top
    try:
      main(argv)
    except (registry.UnknownTaskOrMixtureError,
            local_files.LocalDataMissingError) as e:
      # gin appends "In call to configurable ..." lines; the first says it.
      raise app.UsageError(str(e).splitlines()[0]) from e

  app.run(main_reporting_unknown_names, flags_parser=gin_config.flags_parser)
