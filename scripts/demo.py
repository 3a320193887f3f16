r"""The whole FLAN protocol on the built-in demo suite, end to end.

    python scripts/demo.py [--model_dir=/tmp/flan_jax_demo] [--gin.TRAIN_STEPS=500]

1. Instruction-tunes the tiny T5 of gin/models/t5_demo.gin on the demo
   leave-one-cluster-out mixture (every cluster but sentiment).
2. Evaluates zero-shot, on the test split of every demo dataset, the
   untrained model (step 0) and the tuned one.
3. Prints base versus tuned per dataset and per cluster, marking the
   held-out cluster, and writes the table to MODEL_DIR/demo_results.md and
   a report with figures to MODEL_DIR/report/ (report.md, clusters.png:
   base vs tuned per cluster, templates.png: spread over templates).

Re-running with the same --model_dir resumes or reuses the finished run.
"""

from flan_jax.cli import startup  # sets up TF logging before TensorFlow loads

import logging
import os
import sys
import time

from absl import app
from absl import flags

from flan_jax import storage
from flan_jax.cli import gin_config
from flan_jax.evaluation import reports

_MODEL_DIR = flags.DEFINE_string("model_dir", "/tmp/flan_jax_demo",
                                 "Where the demo's run and results go.")

log = logging.getLogger("flan_jax")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  started = time.perf_counter()
  startup.setup_logging()
  startup.import_modules()
  model_dir = storage.absolute(_MODEL_DIR.value)
  gin_files = flags.FLAGS.gin_file or ["runs/demo.gin"]
  gin_config.parse_gin(
      gin_files, [f"MODEL_DIR = '{model_dir}'", *flags.FLAGS.gin_bindings],
      flags.FLAGS.gin_search_paths)
  config_text = gin_config.config_text()

  result = gin_config.train(config_text=config_text)
  trained_at = time.perf_counter()
  runs = []
  for label, step in (("base (step 0)", 0),
                      (f"tuned (step {result.final_step})", result.final_step)):
    log.info("zero-shot evaluation of %s", label)
    runs.append(gin_config.evaluate(
        step=step, output_dir=os.path.join(model_dir, "eval", f"step_{step}"),
        config_text=config_text,
        tensorboard_dir=os.path.join(model_dir, "eval", "tensorboard")))
  finished = time.perf_counter()

  labels = ["base (step 0)", f"tuned (step {result.final_step})"]
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
