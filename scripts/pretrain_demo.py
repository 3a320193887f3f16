r"""Pretrains the demo model on the demo world's corpus; writes the shipped base.

    python scripts/pretrain_demo.py [--gin.TRAIN_STEPS=3000] \
        [--model_dir=/tmp/flan_jax_demo_pretrain] [--output=tasks/demo/base]

Trains gin/models/t5_demo.gin on `demo:world` (tasks/demo/world.py: plain
prose about the demo suite's people, places, feelings, numbers and the Lumo
language, with span corruption and prefix LM as objectives) with the
project's own trainer (runs/pretrain_demo.gin), then writes the last step's
parameters, without optimizer state, to OUTPUT/checkpoints/<step> and what
made them to OUTPUT/base.json. runs/demo.gin tunes from the newest step
there. An existing base is never overwritten: remove it first, or choose
another --output. A killed pretraining resumes from MODEL_DIR.
"""

from flan_jax.cli import startup  # sets up TF logging before TensorFlow loads

import datetime
import json
import os
import platform
import sys
import time

from absl import app
from absl import flags

from flan_jax.checkpoints import loading
from flan_jax.cli import gin_config

_MODEL_DIR = flags.DEFINE_string(
    "model_dir", None, "Where the pretraining run goes (default: the gin's "
    "MODEL_DIR, /tmp/flan_jax_demo_pretrain).")
_OUTPUT = flags.DEFINE_string(
    "output", gin_config.DEMO_BASE_DIR, "Where the base is written.")


def main(argv):
  if not flags.FLAGS.gin_file:
    flags.FLAGS.gin_file = ["runs/pretrain_demo.gin"]
  if _MODEL_DIR.value:
    flags.FLAGS.gin_bindings = [f"MODEL_DIR = '{_MODEL_DIR.value}'",
                                *flags.FLAGS.gin_bindings]
  startup.start_gin_script(argv)
  output = os.path.abspath(_OUTPUT.value)
  if os.path.isdir(os.path.join(output, "checkpoints")):
    raise app.UsageError(f"{output} already holds a base; remove it or pass "
                         "another --output")
  model_dir = gin_config.query("train.model_dir")
  started = time.perf_counter()
  result = gin_config.train(config_text=gin_config.config_text())
  seconds = time.perf_counter() - started
  import jax  # pylint: disable=g-import-not-at-top
  meta = {
      "task": gin_config.query("train.mixture_or_task_name"),
      "steps": result.final_step,
      "batch_size": gin_config.query("train.batch_size"),
      "task_feature_lengths": dict(gin_config.query(
          "train.task_feature_lengths")),
      "final_loss": result.final_metrics.get("loss"),
      "final_token_accuracy": result.final_metrics.get("accuracy"),
      "seconds_this_invocation": round(seconds),
      "resumed_from_step": result.start_step,
      "machine": f"{platform.machine()} {os.cpu_count()} CPUs, "
                 f"{jax.devices()[0].device_kind}",
      "date": datetime.date.today().isoformat(),
      "command": " ".join(sys.argv),
  }
  step_dir = loading.export_params(gin_config.model_macro(),
                                   os.path.join(model_dir, "checkpoints"),
                                   result.final_step, output, meta)
  with open(os.path.join(output, "base.json"), "w") as f:
    json.dump(meta, f, indent=2, sort_keys=True)
    f.write("\n")
  print(json.dumps(meta, indent=2, sort_keys=True))
  print(f"base written to {step_dir}")


if __name__ == "__main__":
  startup.run_gin_script(main)
