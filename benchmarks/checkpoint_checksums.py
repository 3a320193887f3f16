r"""Save-time cost of checkpoint checksums (flan_jax/checkpoints/integrity.py).

    python benchmarks/checkpoint_checksums.py [--mib 512] [--repeats 3]

Saves the same state (random float32 arrays: `--mib` MiB of parameters
and as much again of optimizer state, in 32 arrays each) with
`Checkpointer.save` and waits until it is committed, alternately with the
checksums recorded and with `integrity.record` replaced by a no-op (how
steps were saved before). Prints the median save time of each and their
ratio, plus the restore-time verification on its own. Reads and writes a
temporary folder on the local disk (`--dir` to choose another, e.g. a
gs:// bucket). The machine's load matters: the load average is printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top

from flan_jax.checkpoints import checkpointer as checkpointer_lib  # pylint: disable=g-import-not-at-top
from flan_jax.checkpoints import integrity  # pylint: disable=g-import-not-at-top


def _tree(mib: int, seed: int) -> dict[str, jax.Array]:
  rng = np.random.default_rng(seed)
  per_array = mib * (1 << 20) // 4 // 32
  return {f"w{i:02d}": jax.device_put(
      rng.standard_normal(per_array, dtype=np.float32)) for i in range(32)}


def _timed_save(directory: str, step: int, params, opt_state) -> float:
  checkpointer = checkpointer_lib.Checkpointer(directory)
  start = time.perf_counter()
  checkpointer.save(step, params, opt_state, force=True)
  checkpointer.wait()
  seconds = time.perf_counter() - start
  checkpointer.close()
  return seconds


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--mib", type=int, default=512)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--dir", default=None)
  args = parser.parse_args()
  params, opt_state = _tree(args.mib, 0), _tree(args.mib, 1)
  record = integrity.record
  times = {"with": [], "without": []}
  with tempfile.TemporaryDirectory(prefix="flan_jax_bench-") as tmp:
    base = args.dir or tmp
    _timed_save(os.path.join(base, "warmup"), 0, params, opt_state)
    for repeat in range(args.repeats):
      for kind in ("without", "with"):
        integrity.record = record if kind == "with" else (lambda _: 0)
        times[kind].append(_timed_save(os.path.join(base, f"{kind}{repeat}"),
                                       1, params, opt_state))
    integrity.record = record
    step_dir = os.path.join(base, f"with{args.repeats - 1}", "1")
    start = time.perf_counter()
    assert integrity.verify(step_dir).damaged is None
    verify_seconds = time.perf_counter() - start
  with_s, without_s = (statistics.median(times[k])
                       for k in ("with", "without"))
  print(f"checkpoint of {2 * args.mib} MiB ({args.mib} MiB params + "
        f"{args.mib} MiB optimizer state), median of {args.repeats}, "
        f"{os.cpu_count()} CPUs, load average "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")
  print(f"save + commit without checksums: {without_s:.2f} s")
  print(f"save + commit with checksums:    {with_s:.2f} s")
  print(f"ratio: {with_s / without_s:.2f}x")
  print(f"verifying the step at restore:   {verify_seconds:.2f} s")


if __name__ == "__main__":
  main()
