r"""The whole FLAN protocol on the built-in demo suite, end to end.

    python scripts/demo.py [--model_dir=/tmp/flan_jax_demo] [--held_out=nli]
                           [--seed=1] [--gin.TRAIN_STEPS=500]

1. Instruction-tunes the tiny T5 of gin/models/t5_demo.gin, starting from
   its pretrained base (tasks/demo/base/, pretrained on the demo world's
   prose by scripts/pretrain_demo.py), on the demo leave-one-cluster-out
   mixture: every cluster but --held_out (sentiment by default).
2. Evaluates zero-shot, on the test split of every demo dataset, the
   pretrained base (step 0) and the tuned model.
3. Prints base versus tuned per dataset and per cluster, marking the
   held-out cluster, and writes the table to MODEL_DIR/demo_results.md and
   a report with figures to MODEL_DIR/report/ (report.md, clusters.png:
   base vs tuned per cluster, templates.png: spread over templates).

Re-running with the same --model_dir resumes or reuses the finished run.
"""

from flan_jax.cli import startup  # sets up TF logging before TensorFlow loads

import logging
import os
import re
import sys
import time

from absl import app
from absl import flags

from flan_jax import storage
from flan_jax.cli import gin_config
from flan_jax.data import mixtures
from flan_jax.evaluation import reports

_MODEL_DIR = flags.DEFINE_string("model_dir", "/tmp/flan_jax_demo",
                                 "Where the demo's run and results go.")
_HELD_OUT = flags.DEFINE_string(
    "held_out", "sentiment", "The cluster left out of tuning and evaluated "
    "zero-shot.")
_SEED = flags.DEFINE_integer("seed", 0, "train.seed: the order of the "
                             "tuning data.")

log = logging.getLogger("flan_jax")


def _refuse_another_run(model_dir: str) -> None:
  """Stops when model_dir holds a demo run of another mixture or seed, which
  resuming would mix with this one."""
  path = os.path.join(model_dir, "config.gin")
  if not os.path.exists(path):
    return
  with open(path) as f:
    before = f.read()
  for binding in ("MIXTURE", "train.seed"):
    now = f"{binding} = {gin_config.binding_or(binding, None)!r}"
    old = re.search(rf"^{re.escape(binding)} = (.*)$", before, re.MULTILINE)
    if old and f"{binding} = {old.group(1)}" != now:
      raise app.UsageError(
          f"{model_dir} holds a demo run with {binding} = {old.group(1)}, "
          f"not {now.split(' = ', 1)[1]}; use another --model_dir")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  started = time.perf_counter()
  startup.setup_logging()
  startup.import_modules()
  model_dir = storage.absolute(_MODEL_DIR.value)
  gin_files = flags.FLAGS.gin_file or ["runs/demo.gin"]
  import tasks.demo  # pylint: disable=g-import-not-at-top,unused-import
  clusters = mixtures.registered_clusters("demo")
  if _HELD_OUT.value not in clusters:
    raise app.UsageError(f"--held_out={_HELD_OUT.value}: no such demo "
                         f"cluster; choose one of {', '.join(clusters)}")
  mixture = mixtures.train_mixture_name("demo", _HELD_OUT.value)
  gin_config.parse_gin(
      gin_files,
      [f"MODEL_DIR = '{model_dir}'", f"MIXTURE = '{mixture}'",
       f"train.seed = {_SEED.value}", *flags.FLAGS.gin_bindings],
      flags.FLAGS.gin_search_paths)
  base = gin_config.binding_or("train.initial_checkpoint", None)
  _refuse_another_run(model_dir)
  log.info("tuning %s", f"from the pretrained base {base}" if base else
           "from random weights (no train.initial_checkpoint)")
  config_text = gin_config.config_text()

  result = gin_config.train(config_text=config_text)
  trained_at = time.perf_counter()
  base_label = "pretrained base (step 0)" if base else "untuned (step 0)"
  labels = [base_label, f"tuned (step {result.final_step})"]
  runs = []
  for label, step in zip(labels, (0, result.final_step)):
    log.info("zero-shot evaluation of %s", label)
    runs.append(gin_config.evaluate(
        step=step, output_dir=os.path.join(model_dir, "eval", f"step_{step}"),
        config_text=config_text,
        tensorboard_dir=os.path.join(model_dir, "eval", "tensorboard")))
  finished = time.perf_counter()

  table = reports.comparison_markdown(runs, labels)
  files = reports.write_report(runs, labels, os.path.join(model_dir, "report"))
  summary = (f"Training: {trained_at - started:.0f} s (including set-up); "
             f"evaluation: {finished - trained_at:.0f} s; "
             f"total: {finished - started:.0f} s\n")
  storage.write_atomic(os.path.join(model_dir, "demo_results.md"),
                       table + "\n" + summary)
  sys.stdout.write("\n" + table + "\n" + summary)
  sys.stdout.write(f"Report with figures: {files['markdown']}\n")


if __name__ == "__main__":
  startup.run_gin_script(main)
