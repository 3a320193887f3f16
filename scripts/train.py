r"""Instruction-tune a model, configured with gin.

    python scripts/train.py --gin_file=runs/demo.gin \
        --gin.MODEL_DIR="'/tmp/flan_demo'" --gin.train.num_train_steps=500

Resumes automatically when MODEL_DIR already holds checkpoints. The resolved
gin config is written to MODEL_DIR/config.gin before training starts.
"""

from flan_jax import cli  # sets up TF logging before TensorFlow loads

import logging

from absl import app

from flan_jax import gin_utils


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  cli.setup_logging()
  cli.import_modules()
  gin_utils.parse_gin_flags()
  model_dir = gin_utils.query("train.model_dir")
  gin_utils.write_config(model_dir)
  result = gin_utils.train()
  logging.getLogger("flan_jax").info(
      "done: step %d, checkpoints %s in %s", result.final_step,
      result.checkpoint_steps, model_dir)


if __name__ == "__main__":
  app.run(main, flags_parser=gin_utils.flags_parser)
