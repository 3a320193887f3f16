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

import math
import sys

import gin
from absl import app
from absl import flags

from flan_jax.cli import gin_config
from flan_jax.train import planning

_NUM_DEVICES = flags.DEFINE_integer(
    "num_devices", None, "Devices to plan for when the mesh has a -1 axis.")


def _binding(name: str, default):
  """A gin binding ("train.batch_size") or macro ("MODEL"), or `default`."""
  try:
    value = (gin.query_parameter(f"%{name}") if "." not in name
             else gin_config.query(name))
  except (ValueError, KeyError):
    return default
  while isinstance(value, gin.config.ConfigurableReference) and (
      value.configurable.name == "macro"):
    value = value.scoped_configurable_fn()
  if isinstance(value, gin.config.ConfigurableReference):
    value = value.scoped_configurable_fn()
  return value


def main(argv):
  startup.start_gin_script(argv)
  mesh_shape = _binding("Partitioner.mesh_shape", {"data": -1, "model": 1})
  if -1 in mesh_shape.values():
    if _NUM_DEVICES.value is None:
      raise app.UsageError(f"mesh {mesh_shape} has a -1 axis; pass "
                           f"--num_devices")
  num_devices = _NUM_DEVICES.value or math.prod(mesh_shape.values())
  plan = planning.plan_memory(
      model=_binding("MODEL", None),
      optimizer=_binding("train.optimizer", None),
      mesh_shape=mesh_shape, num_devices=num_devices,
      fsdp=_binding("Partitioner.fsdp", False),
      logical_axis_rules=_binding("Partitioner.logical_axis_rules", None),
      batch_size=_binding("train.batch_size", None),
      task_feature_lengths=_binding("train.task_feature_lengths", None),
      num_microbatches=_binding("train.num_microbatches", 1),
      pack=_binding("train.pack", True),
      device_memory_gib=_binding("DEVICE_MEMORY_GIB", None))
  print(planning.format_plan(plan))
  sys.exit(0 if plan.fits in (True, None) else 1)


if __name__ == "__main__":
  startup.run_gin_script(main)
