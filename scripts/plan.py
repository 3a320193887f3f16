r"""Will a training step fit? Memory per device for a model gin on a mesh.

    python scripts/plan.py --gin_file=plan/flan_t5_xxl.gin \
        --gin_file=hardware/gpu8.gin --gin.BATCH_SIZE=64

Prints parameters, optimizer state, gradients and an activation estimate per
device, and whether their sum fits in DEVICE_MEMORY_GIB (bound in each
gin/hardware file). Nothing is allocated and no accelerator is needed:
shapes come from `jax.eval_shape` over the model's own init, so any model
class behind the model interface works; shardings come from the same rule
table the trainer uses. A -1 mesh axis needs --num_devices.
"""

from flan_jax.cli import startup  # sets up TF logging before TensorFlow loads

import sys

from absl import app
from absl import flags

from flan_jax.cli import gin_config
from flan_jax.train import planning

_NUM_DEVICES = flags.DEFINE_integer(
    "num_devices", None, "Devices to plan for when the mesh has a -1 axis.")


def main(argv):
  startup.start_gin_script(argv)
  try:
    plan = gin_config.memory_plan(_NUM_DEVICES.value)
  except ValueError as e:  # a -1 mesh axis without --num_devices
    raise app.UsageError(str(e)) from e
  print(planning.format_plan(plan))
  sys.exit(0 if plan.fits in (True, None) else 1)


if __name__ == "__main__":
  startup.run_gin_script(main)
