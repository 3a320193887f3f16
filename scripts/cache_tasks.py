r"""Tokenise tasks or mixtures once and cache them for training and eval.

    python scripts/cache_tasks.py --module=tasks.demo \
        --tasks=demo:train:no_sentiment --output_cache_dir=/data/flan_cache
    python scripts/train.py --gin_file=runs/demo.gin \
        --gin.TASK_CACHE_DIR="'/data/flan_cache'" --gin.USE_CACHED_TASKS=True

Writes every split named by --splits of every task (a mixture stands for
its tasks) under --output_cache_dir, in shards
(flan_jax/data/example_cache.py describes the files). Deterministic: the
cache holds exactly the examples training would tokenise itself, so cached
and uncached runs see the same batches. Splits other than train also keep
every feature of their rows (text, references, options) for the eval job.
Killed, it resumes: run the same
command again and it keeps every finished shard. Several machines can share
the work with --num_workers=N and --worker_index=0..N-1 (then run once more
with one worker, or let the last one finish, to write each split's
info.json). The output directory may be local or gs://.
"""

from flan_jax.cli import startup  # sets up TF logging before TensorFlow loads

import logging
import os
import time

from absl import app
from absl import flags

from flan_jax import errors

_TASKS = flags.DEFINE_list(
    "tasks", None, "Tasks or mixtures to cache (comma-separated).")
_OUTPUT = flags.DEFINE_string(
    "output_cache_dir", None, "Where the cache goes (local or gs://).")
_SPLITS = flags.DEFINE_list("splits", ["train"], "Splits to cache.")
_WORKER = flags.DEFINE_integer("worker_index", 0, "This worker, 0..N-1.")
_WORKERS = flags.DEFINE_integer("num_workers", 1, "Workers sharing the job.")

log = logging.getLogger("flan_jax")


def _tasks(names):
  import seqio  # pylint: disable=g-import-not-at-top
  from flan_jax.data import lookup  # pylint: disable=g-import-not-at-top
  found = {}
  for name in names:
    try:
      target = lookup.get_task_or_mixture(name)
    except lookup.UnknownTaskOrMixtureError as e:
      raise errors.ConfigError(f"--tasks: {e}") from None
    for task in seqio.get_subtasks(target):
      found[task.name] = task
  return list(found.values())


def _check_writable(directory: str) -> None:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  probe = os.path.join(directory, f".write_probe-{os.getpid()}")
  try:
    tf.io.gfile.makedirs(directory)
    with tf.io.gfile.GFile(probe, "w") as f:
      f.write("")
    tf.io.gfile.remove(probe)
  except (OSError, tf.errors.OpError) as e:
    reason = str(e).splitlines()[0] if str(e) else type(e).__name__
    raise errors.ConfigError(
        f"--output_cache_dir={directory} is not writable ({reason}): give a "
        f"directory you can write to")


def _format_time(seconds: float) -> str:
  seconds = int(seconds)
  return (f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600
          else f"{seconds // 60}m{seconds % 60:02d}s")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if not _TASKS.value or not _OUTPUT.value:
    raise app.UsageError("give --tasks=<tasks or mixtures> and "
                         "--output_cache_dir=<directory>")
  if not 0 <= _WORKER.value < _WORKERS.value:
    raise app.UsageError(f"--worker_index={_WORKER.value} must be in 0.."
                         f"{_WORKERS.value - 1} (--num_workers)")
  startup.setup_logging()
  startup.import_modules()
  from flan_jax.data import example_cache  # pylint: disable=g-import-not-at-top
  tasks = _tasks(_TASKS.value)
  units = []
  for task in tasks:
    for split in _SPLITS.value:
      if split not in task.splits:
        raise errors.ConfigError(
            f"--splits: task '{task.name}' has no split '{split}' (it has "
            f"{', '.join(task.splits)}): give one of those")
      units.append((task, split))
  _check_writable(_OUTPUT.value)
  sizes = [task.num_input_examples(split) or 0 for task, split in units]
  total, done, started = sum(sizes), 0, time.perf_counter()
  log.info("caching %d task splits (%s examples) in %s", len(units),
           f"{total:,}" if total else "unknown number of", _OUTPUT.value)
  incomplete = []
  for number, ((task, split), size) in enumerate(zip(units, sizes), 1):
    unit_started = time.perf_counter()
    before = done

    def progress(written, _, before=before):
      elapsed = time.perf_counter() - started
      so_far = before + written
      rate = so_far / elapsed if elapsed else 0.0
      eta = (f", ETA {_format_time((total - so_far) / rate)}"
             if total and rate else "")
      log.info("  %s %s: %s examples; all: %s/%s (%.0f%%), %.0f examples/s%s",
               task.name, split, f"{written:,}", f"{so_far:,}", f"{total:,}",
               100 * so_far / max(total, 1), rate, eta)

    if example_cache.read_info(_OUTPUT.value, task.name, split) is not None:
      example_cache.check(
          example_cache.read_info(_OUTPUT.value, task.name, split), task)
      log.info("[%d/%d] %s %s: already cached", number, len(units),
               task.name, split)
      total -= size  # finished before this run: not part of the ETA
      continue
    complete = example_cache.write(task, split, _OUTPUT.value,
                                   worker=(_WORKER.value, _WORKERS.value),
                                   on_progress=progress)
    if split != "train" and _WORKER.value == 0:
      # Eval splits also keep every feature (text, references, options)
      # for the eval job: small, written once by the first worker.
      example_cache.write_rows(task, split, _OUTPUT.value)
    done += size
    if not complete:
      incomplete.append(f"{task.name} ({split})")
    log.info("[%d/%d] %s %s: %s in %.1f s", number, len(units), task.name,
             split, "cached" if complete else "this worker's shards written",
             time.perf_counter() - unit_started)
  log.info("done in %s: %d of %d task splits complete in %s",
           _format_time(time.perf_counter() - started),
           len(units) - len(incomplete), len(units), _OUTPUT.value)
  if incomplete:
    log.info("waiting for other workers' shards: %s", ", ".join(incomplete))


if __name__ == "__main__":
  startup.run_script(main)
