r"""Instruction-tune a model, configured with gin.

    python scripts/train.py --gin_file=runs/demo.gin \
        --gin.MODEL_DIR="'/tmp/flan_demo'" --gin.train.num_train_steps=500

Resumes automatically when MODEL_DIR already holds checkpoints (the newest
one that reads back whole). The resolved gin config is written to
MODEL_DIR/config.gin before training starts.

Multi-host: run the same command on every host. On Cloud TPU pods, SLURM
(srun), Open MPI and Kubernetes JobSets the processes find each other by
themselves; elsewhere pass --coordinator_address=HOST:PORT (process 0's
address), --num_processes and --process_id (or FLAN_JAX_* environment
variables). SIGTERM saves a checkpoint and exits with status 0.
"""

from flan_jax.cli import startup  # sets up TF logging before TensorFlow loads

import logging
import sys

from absl import flags

from flan_jax.parallel import distributed
from flan_jax.cli import gin_config
from flan_jax.train import trainer

_COORDINATOR = flags.DEFINE_string(
    "coordinator_address", None,
    "HOST:PORT of process 0, for a multi-host job JAX cannot detect itself.")
_NUM_PROCESSES = flags.DEFINE_integer(
    "num_processes", None, "Processes in the multi-host job.")
_PROCESS_ID = flags.DEFINE_integer(
    "process_id", None, "This process's index, 0 .. num_processes - 1.")


def main(argv):
  startup.start_gin_script(argv, before_modules=lambda: distributed.initialize(
      _COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value))
  model_dir = gin_config.query("train.model_dir")
  log = logging.getLogger("flan_jax")
  try:
    result = gin_config.train(config_text=gin_config.config_text())
  except trainer.NonFiniteLossError as e:
    log.error("%s", e)
    sys.exit(3)
  log.info("%s: step %d, checkpoints %s in %s",
           "preempted" if result.preempted else "done", result.final_step,
           result.checkpoint_steps, model_dir)


if __name__ == "__main__":
  startup.run_gin_script(main)
