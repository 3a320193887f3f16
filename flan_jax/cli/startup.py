"""Shared start-up of the command-line scripts: logging, task modules, gin, errors.

Every script begins `from flan_jax.cli import startup` (which quiets
TensorFlow before it loads, see `flan_jax/cli/__init__.py`) and ends with
`startup.run_gin_script(main)` (gin-configured scripts) or
`startup.run_script(main)`.

Both report expected mistakes in one line on stderr, `<script>: <message>`,
and exit with status 1; a command-line usage mistake (an unknown flag, a
missing required flag, stray arguments) exits with 2. Expected mistakes are
`flan_jax.errors.FlanJaxError`s (a gin file that does not parse, a setting
out of range, a path that does not exist, a checkpoint that does not fit
the model, ...). Anything else is a bug or a broken machine and keeps its
traceback.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from typing import Callable, NoReturn, Sequence

from absl import app
from absl import flags

from flan_jax import errors

_MODULES = flags.DEFINE_multi_string(
    "module", [], "Python module(s) to import before gin is parsed, e.g. "
    "one that registers your own seqio tasks (`--module=my_project.tasks`).")

USAGE_STATUS = 2
MISTAKE_STATUS = 1


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
    try:
      importlib.import_module(name)
    except ModuleNotFoundError as e:
      if e.name is None or not name.startswith(e.name):
        raise  # the module exists but imports something missing: a bug
      raise errors.ConfigError(
          f"--module={name}: no module named {e.name!r}: give a module "
          f"path Python can import (e.g. my_project.tasks, run from the "
          f"folder that holds my_project/ or add it to PYTHONPATH)") from None


def start_gin_script(argv: Sequence[str],
                     before_modules: Callable[[], None] | None = None) -> None:
  """The common start of the gin-configured scripts.

  Refuses stray positional arguments, sets up logging, runs `before_modules`
  (e.g. the multi-host start-up, which must precede any JAX work), imports
  the --module modules, parses --gin_file / --gin.X=Y and applies the
  task settings (`task_data`: template set, local task data).
  """
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}: "
                         "flags take the form --name=value")
  setup_logging()
  if before_modules is not None:
    before_modules()
  import_modules()
  from flan_jax.cli import gin_config  # pylint: disable=g-import-not-at-top
  gin_config.parse_gin_flags()
  # Every numeric and enumerated setting, before data or compilation.
  gin_config.check_settings()
  # TEMPLATE_SET, FLAN_CHECKOUT, FLAN2022_DIR, ...: the task modules just
  # imported register again what they change.
  gin_config.apply_task_data()


def script_name() -> str:
  return os.path.splitext(os.path.basename(sys.argv[0] or "flan_jax"))[0]


def fail(message: str, status: int = MISTAKE_STATUS) -> NoReturn:
  """Prints `<script>: <first line of message>` and exits."""
  lines = str(message).strip().splitlines()
  sys.stderr.write(f"{script_name()}: {lines[0] if lines else message}\n")
  sys.stderr.flush()
  sys.exit(status)


def _gin_hint(error: errors.ConfigError) -> str:
  """ ': set --gin.MACRO' when a gin macro feeds the failing setting."""
  if not error.setting:
    return ""
  from flan_jax.cli import gin_config  # pylint: disable=g-import-not-at-top
  macro = gin_config.macro_bound_to(error.setting)
  return f" (set through %{macro}: --gin.{macro}=...)" if macro else ""


def _reporting(main: Callable[[Sequence[str]], None]):
  def run(argv):
    try:
      main(argv)
    except app.UsageError as e:
      fail(f"{e}: see --helpshort", USAGE_STATUS)
    except errors.ConfigError as e:
      fail(str(e).splitlines()[0] + _gin_hint(e))
    except errors.FlanJaxError as e:
      fail(str(e))
    except TypeError as e:
      if "supplied by Gin or caller" not in str(e):
        raise
      # gin: a configurable called without a required binding.
      fail(f"{str(e).splitlines()[0]}: bind it in a gin file or with "
           "--gin.NAME=value (see gin/runs/*.gin for what a run binds)")
  return run


def _parsing(parser: Callable[[Sequence[str]], list[str]]):
  def parse(argv):
    try:
      return parser(argv)
    except flags.Error as e:
      fail(f"{e}: see --helpshort", USAGE_STATUS)
    except errors.FlanJaxError as e:
      fail(str(e), USAGE_STATUS)
  return parse


def run_script(main: Callable[[Sequence[str]], None]) -> None:
  """`absl.app.run(main)` with one-line errors (scripts without gin)."""
  app.run(_reporting(main), flags_parser=_parsing(flags.FLAGS))


def run_gin_script(main: Callable[[Sequence[str]], None]) -> None:
  """`absl.app.run` for the gin scripts: `--gin.X=Y` flags and one-line
  errors (a misspelt task or mixture names the closest registered ones)."""
  from flan_jax.cli import gin_config  # pylint: disable=g-import-not-at-top
  app.run(_reporting(main), flags_parser=_parsing(gin_config.flags_parser))
