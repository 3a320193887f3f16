r"""Zero-shot evaluation of one checkpoint, a list, or every checkpoint of a run.

    # the newest checkpoint of a run, on the held-out NLI cluster:
    python scripts/eval.py --gin_file=runs/demo.gin \
        --gin.CHECKPOINT="'/tmp/flan_jax_demo'" \
        --gin.EVAL_MIXTURE="'demo:eval:nli'" \
        --gin.EVAL_OUTPUT_DIR="'/tmp/flan_jax_demo/eval_nli'"

    # every checkpoint of the run (finished ones are skipped), or a list:
    python scripts/eval.py ... --all_steps
    python scripts/eval.py ... --gin.CHECKPOINT="['/tmp/run_a', '/tmp/run_b']"

One checkpoint writes into EVAL_OUTPUT_DIR; several write into
EVAL_OUTPUT_DIR/step_<N> (under a folder per run when several runs are
given), with TensorBoard scalars of all steps of a run in one `tensorboard`
folder beside them (`tensorboard --logdir EVAL_OUTPUT_DIR`). A killed job
re-run with the same flags resumes where it stopped.
On a multi-host slice pass --multihost: each host evaluates its share of the
tasks and the last to finish writes results.json.
"""

from flan_jax.cli import startup  # sets up TF logging before TensorFlow loads

import os
import sys

from absl import flags

from flan_jax.cli import gin_config
from flan_jax.evaluation import job
from flan_jax.evaluation import reports

_ALL_STEPS = flags.DEFINE_bool(
    "all_steps", False, "Evaluate every checkpoint step of the model dir(s), "
    "not only the newest.")
_MULTIHOST = flags.DEFINE_bool(
    "multihost", False, "Call jax.distributed.initialize() first (multi-host "
    "TPU/GPU slices); tasks are then shared out across hosts.")


def main(argv):
  def start_multihost():
    if _MULTIHOST.value:
      import jax  # pylint: disable=g-import-not-at-top
      jax.distributed.initialize()

  startup.start_gin_script(argv, before_modules=start_multihost)
  output_dir = gin_config.query("evaluate.output_dir")
  checkpoint = gin_config.query("evaluate.checkpoint")
  config_text = gin_config.config_text()
  if isinstance(checkpoint, str) and not _ALL_STEPS.value:
    runs = [gin_config.evaluate(config_text=config_text)]
  else:
    runs = []
    for directory, step, out in job.checkpoints_to_evaluate(
        checkpoint, output_dir, all_steps=_ALL_STEPS.value):
      runs.append(gin_config.evaluate(
          checkpoint=directory, step=step, output_dir=out,
          config_text=config_text,
          tensorboard_dir=os.path.join(os.path.dirname(out), "tensorboard")))
  for results in runs:
    if results is not None:  # None: other hosts still finishing
      sys.stdout.write(reports.results_markdown(results))


if __name__ == "__main__":
  startup.run_gin_script(main)
