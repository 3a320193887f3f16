"""Runs the project's real scripts many times, cheaply, as a user would.

Each run is a fresh process executing `scripts/<name>.py` as `__main__`
with its own argv, environment and working directory; stdout and stderr are
captured at the file-descriptor level (so C++ and library output is caught
too) and the exit status is the script's own.

Starting Python and importing TensorFlow, JAX and seqio costs about 10 s of
CPU per run, which a table of dozens of cases cannot afford. So the runs are
forked from a `multiprocessing` fork server that has imported those
libraries, flan_jax and the demo tasks once. No run in the server touches
an accelerator or starts JAX's backend before forking. A case whose
environment changes what importing does (FLAN_JAX_SPM_PATH picks the
vocabulary at registration) runs as a plain subprocess (`fresh=True`).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import pathlib
import runpy
import subprocess
import sys
import tempfile
import traceback

REPO = pathlib.Path(__file__).resolve().parent.parent
PRELOAD = ["tensorflow", "jax", "jax.numpy", "flax.linen", "optax",
           "orbax.checkpoint", "seqio", "gin", "sentencepiece",
           "matplotlib.pyplot", "flan_jax.cli.gin_config",
           "flan_jax.checkpoints.hf_conversion", "flan_jax.train.planning",
           "flan_jax.evaluation.reports", "tasks.demo"]

_CONTEXT = None


@dataclasses.dataclass(frozen=True)
class Run:
  status: int
  stdout: str
  stderr: str


def _context():
  global _CONTEXT
  if _CONTEXT is None:
    _CONTEXT = multiprocessing.get_context("forkserver")
    _CONTEXT.set_forkserver_preload(PRELOAD)
  return _CONTEXT


def _child(script: str, args: list[str], env: dict[str, str], cwd: str,
           out_path: str, err_path: str) -> None:
  out = os.open(out_path, os.O_WRONLY)
  err = os.open(err_path, os.O_WRONLY)
  os.dup2(out, 1)
  os.dup2(err, 2)
  os.environ.update(env)
  os.chdir(cwd)
  sys.argv = [script, *args]
  # The interpreter's own path for `python scripts/x.py`: the script's
  # folder first, and nothing of pytest's (tests/ holds folders, such as
  # tests/models, that gin would take for packages of gin files).
  tests = str(REPO / "tests")
  sys.path[:] = [os.path.dirname(script)] + [
      p for p in sys.path if p and not p.startswith(tests)]
  status = 0
  try:
    runpy.run_path(script, run_name="__main__")
  except SystemExit as e:
    if isinstance(e.code, str):  # what the interpreter does with sys.exit(msg)
      sys.stderr.write(e.code + "\n")
      status = 1
    else:
      status = e.code or 0
  except BaseException:  # pylint: disable=broad-except
    traceback.print_exc()
    status = 1
  sys.stdout.flush()
  sys.stderr.flush()
  os._exit(status)  # no atexit handlers: the server's state is not ours


def run(script: str, *args: str, env: dict[str, str] | None = None,
        cwd: str | os.PathLike | None = None, timeout: float = 600,
        fresh: bool = False) -> Run:
  """Runs `scripts/<script>` with `args`; returns status and output."""
  path = str(REPO / "scripts" / script)
  if fresh:
    done = subprocess.run([sys.executable, path, *args],
                          env={**os.environ, **(env or {})},
                          cwd=str(cwd or REPO), capture_output=True,
                          text=True, timeout=timeout, check=False)
    return Run(done.returncode, done.stdout, done.stderr)
  with tempfile.TemporaryDirectory() as tmp:
    out_path, err_path = os.path.join(tmp, "out"), os.path.join(tmp, "err")
    for p in (out_path, err_path):
      open(p, "w").close()
    process = _context().Process(
        target=_child, args=(path, list(args), dict(env or {}),
                             str(cwd or REPO), out_path, err_path))
    process.start()
    process.join(timeout)
    if process.exitcode is None:
      process.kill()
      process.join()
      raise TimeoutError(f"{script} {' '.join(args)} ran over {timeout} s")
    with open(out_path) as f:
      stdout = f.read()
    with open(err_path) as f:
      stderr = f.read()
  return Run(process.exitcode, stdout, stderr)
