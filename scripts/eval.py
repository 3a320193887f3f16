r"""Zero-shot evaluation of a checkpoint, configured with gin.

    python scripts/eval.py --gin_file=runs/demo_eval.gin \
        --gin.CHECKPOINT="'/tmp/flan_demo'" --gin.EVAL_OUTPUT_DIR="'/tmp/flan_demo/eval'"

Writes results.json and results.md to the output directory and prints the
markdown table.
"""

from flan_jax import cli  # sets up TF logging before TensorFlow loads

import sys

from absl import app

from flan_jax import gin_utils
from flan_jax import reports


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  cli.setup_logging()
  cli.import_modules()
  gin_utils.parse_gin_flags()
  output_dir = gin_utils.query("evaluate.output_dir")
  gin_utils.write_config(output_dir, "eval_config.gin")
  results = gin_utils.evaluate()
  sys.stdout.write(reports.results_markdown(results))


if __name__ == "__main__":
  app.run(main, flags_parser=gin_utils.flags_parser)
