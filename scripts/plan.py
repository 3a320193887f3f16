r"""Will a training step fit? Memory per device for a model gin on a mesh.

    python scripts/plan.py --gin_file=plan/flan_t5_xxl.gin \
        --gin_file=hardware/gpu8.gin --gin.BATCH_SIZE=64

Prints parameters, optimizer state, gradients and an activation estimate per
device, and whether their sum fits in DEVICE_MEMORY_GIB (bound in each
gin/hardware file). Nothing is allocated and no accelerator is needed:
shapes come from `jax.eval_shape` over the model's own init, so any model
class behind the model interface works; shardings come from the same step
builder the trainer uses. A -1 mesh axis needs --num_devices.

    python scripts/plan.py --gin_file=plan/flan_t5_xxl.gin \
        --gin_file=hardware/tpu_v5e_256.gin --compile

also compiles the trainer's own train step and the eval scoring step for
the hardware file's TPU topology (TPU_TOPOLOGY, TPU_NUM_SLICES; or
--topology=v5e:16x16 --num_slices=2) on this machine, with libtpu
(`pip install "flan_jax[aot]"`) and no TPU, and prints XLA's memory per
device beside the plan, the collectives and the compile time. Exit status
1 when either step does not fit.
"""

from flan_jax.cli import startup  # sets up TF logging before TensorFlow loads

import sys

from absl import app
from absl import flags

from flan_jax.cli import gin_config
from flan_jax.parallel import topologies
from flan_jax.train import compiled_plan
from flan_jax.train import planning

_NUM_DEVICES = flags.DEFINE_integer(
    "num_devices", None, "Devices to plan for when the mesh has a -1 axis.")
_COMPILE = flags.DEFINE_bool(
    "compile", False, "Compile the train and eval steps for the hardware "
    "file's TPU_TOPOLOGY (needs libtpu: the aot extra).")
_TOPOLOGY = flags.DEFINE_string(
    "topology", None, "TPU topology to compile for, e.g. v5e:16x16, "
    "v4:4x4x4 (implies --compile).")
_NUM_SLICES = flags.DEFINE_integer(
    "num_slices", None, "Slices of the topology joined over DCN (default: "
    "TPU_NUM_SLICES, else 1).")


def _progress(line: str) -> None:
  print(f"plan.py: {line}", file=sys.stderr, flush=True)


def main(argv):
  if _COMPILE.value or _TOPOLOGY.value:
    topologies.quiet_libtpu()  # before anything starts JAX's backends
  startup.start_gin_script(argv)
  if _COMPILE.value or _TOPOLOGY.value:
    plan = gin_config.compiled_plan(_TOPOLOGY.value, _NUM_SLICES.value,
                                    _progress)
    print(planning.format_plan(plan.analytic))
    print(compiled_plan.format_compiled_plan(plan))
    if not plan.fits:
      startup.fail(compiled_plan.does_not_fit_line(plan))
    return
  try:
    plan = gin_config.memory_plan(_NUM_DEVICES.value)
  except ValueError as e:  # a -1 mesh axis without --num_devices
    raise app.UsageError(str(e)) from e
  print(planning.format_plan(plan))
  sys.exit(0 if plan.fits in (True, None) else 1)


if __name__ == "__main__":
  startup.run_gin_script(main)
