"""The plan XLA makes: the train and eval steps compiled for a TPU topology.

`compile_plan` builds, on a machine without a TPU, the trainer's own step
(its microbatches, remat policy, optimizer and donated state:
`train_state.make_train_step` jitted by the `StepBuilder`) and the eval
runner's scoring step on the mesh of a TPU topology's compile-only devices
(`parallel.topologies`), has XLA compile both, and sets XLA's memory per
device beside the analytic plan
(`planning.plan_memory`) of the same run:

    analytic                         XLA
    parameters + optimizer state  ~  arguments (state shards + batch)
    gradients, compute copy,
      gathered weights, activations ~  temporaries
    total                         ~  peak: arguments, outputs not written
                                     into donated inputs, temporaries and
                                     generated code, against HBM

The analytic plan knows shapes; XLA also knows what the compiled program
really keeps alive at once: FSDP-gathered weights, collective buffers,
fusion temporaries, the scan carry of microbatches, padding to the chip's
tiles. The difference is printed with both.

The scoring step is `Model.score_batch` over unpacked rows of the run's
feature lengths (`eval_batch_size` rows): the per-option path, whose
memory the runner's fast paths keep to (they hold about as many tokens per
pass as that many option rows).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Callable, Mapping

from flan_jax.models import api
from flan_jax.parallel import partitioning
from flan_jax.parallel import topologies
from flan_jax.steps import ahead_of_time
from flan_jax.steps import builder as builder_lib
from flan_jax.train import planning
from flan_jax.train import train_state

log = logging.getLogger("flan_jax")
GIB = planning.GIB


@dataclasses.dataclass(frozen=True)
class CompiledPlan:
  topology: str
  num_slices: int
  num_devices: int
  device_kind: str
  hbm_bytes: int
  analytic: planning.MemoryPlan
  train: ahead_of_time.CompiledStep
  score: ahead_of_time.CompiledStep

  @property
  def too_big(self) -> list[ahead_of_time.CompiledStep]:
    return [s for s in (self.train, self.score)
            if s.memory.peak_bytes > self.hbm_bytes]

  @property
  def fits(self) -> bool:
    return not self.too_big


def compile_plan(*, model: api.Model | None, optimizer,
                 mesh_shape: Mapping[str, int], topology: str,
                 num_slices: int = 1, batch_size: int,
                 task_feature_lengths: Mapping[str, int], fsdp: bool = False,
                 logical_axis_rules=None, num_microbatches: int = 1,
                 pack: bool = True, seed: int = 0,
                 eval_batch_size: int | None = None,
                 progress: Callable[[str], None] = log.info) -> CompiledPlan:
  """Compiles the train and scoring steps of this run for `topology`."""
  devices = topologies.topology_devices(topology, num_slices)
  where = topology + (f" x {num_slices} slices" if num_slices > 1 else "")
  partitioner = partitioning.Partitioner(
      mesh_shape=mesh_shape, fsdp=fsdp, logical_axis_rules=logical_axis_rules,
      devices=devices)
  progress(f"{where}: {len(devices)} x {devices[0].device_kind}, mesh "
           f"{dict(partitioner.mesh.shape)}")
  train_state.check_batch_split(batch_size, num_microbatches, partitioner,
                                where)
  hbm = topologies.hbm_bytes(devices[0])
  analytic = planning.plan_memory(
      model=model, optimizer=optimizer, mesh_shape=mesh_shape,
      num_devices=len(devices), batch_size=batch_size,
      task_feature_lengths=task_feature_lengths, fsdp=fsdp,
      logical_axis_rules=logical_axis_rules,
      num_microbatches=num_microbatches, pack=pack,
      device_memory_gib=hbm / GIB, partitioner=partitioner)
  builder = planning.plan_builder(
      model=model, optimizer=optimizer, mesh_shape=mesh_shape,
      num_devices=len(devices), batch_size=batch_size,
      task_feature_lengths=task_feature_lengths, pack=pack,
      partitioner=partitioner, seed=seed)
  # Everything eager (keys, shapes, shardings) outside the compile-only
  # mesh: its devices cannot run anything. Only lowering happens inside.
  train_step = builder.jit_train_step(train_state.make_train_step(
      model, builder.tx, seed, num_microbatches))
  train_args = (builder.sharded_state(), builder.abstract_batch())
  score_shapes = builder_lib.model_input_shapes(
      model.feature_converter(pack=False), task_feature_lengths,
      eval_batch_size or batch_size)
  score_args = (builder.restore_target(), builder.abstract_batch(score_shapes))
  with partitioner.context():
    train = ahead_of_time.compile_step(
        train_step, *train_args, label="train step", where=where,
        progress=progress)
    score = ahead_of_time.compile_step(
        builder.jit_score_step(model.score_batch), *score_args,
        label="scoring step", where=where, progress=progress)
  return CompiledPlan(topology, num_slices, len(devices),
                      devices[0].device_kind, hbm, analytic, train, score)


def _gib(b: float) -> str:
  return f"{b / GIB:9.2f} GiB"


def _difference(analytic: int, xla: int) -> str:
  if not xla:
    return ""
  return f"{100 * (analytic - xla) / xla:+7.1f}%"


def format_compiled_plan(plan: CompiledPlan) -> str:
  a, t, s = plan.analytic, plan.train.memory, plan.score.memory
  temporaries = (a.gradients_bytes + a.compute_copy_bytes + a.gathered_bytes +
                 a.activations_bytes)
  where = plan.topology + (f" x {plan.num_slices} slices"
                           if plan.num_slices > 1 else "")
  lines = [
      f"compiled for {where}: {plan.num_devices} x {plan.device_kind}, "
      f"{plan.hbm_bytes / GIB:.2f} GiB HBM each, mesh {a.mesh_shape}",
      f"train step, per device         analytic          XLA  "
      f"analytic vs XLA",
      f"  state (params + optimizer) {_gib(a.params_bytes + a.optimizer_bytes)}"
      f"{_gib(t.argument_bytes)}  "
      f"{_difference(a.params_bytes + a.optimizer_bytes, t.argument_bytes)}"
      f"   (XLA: arguments, batch included)",
      f"  outputs                    {'':13s}{_gib(t.output_bytes)}"
      f"            ({t.alias_bytes / GIB:.2f} GiB reuse donated inputs)",
      f"  temporaries                {_gib(temporaries)}"
      f"{_gib(t.temp_bytes)}  {_difference(temporaries, t.temp_bytes)}"
      f"   (analytic: gradients, copy, gathered, activations)",
      f"  generated code             {'':13s}{_gib(t.generated_code_bytes)}",
      f"  peak                       {_gib(a.total_bytes)}{_gib(t.peak_bytes)}  "
      f"{_difference(a.total_bytes, t.peak_bytes)}",
      f"  collectives                {_collectives(plan.train)}",
      f"  compile time               {plan.train.compile_seconds:.1f} s",
      f"scoring step (score_batch), per device: arguments "
      f"{s.argument_bytes / GIB:.2f} GiB, temporaries {s.temp_bytes / GIB:.2f} "
      f"GiB, peak {s.peak_bytes / GIB:.2f} GiB; {_collectives(plan.score)}; "
      f"compiled in {plan.score.compile_seconds:.1f} s",
  ]
  verdicts = [f"{step.label} peak {step.memory.peak_bytes / GIB:.2f} GiB"
              for step in (plan.train, plan.score)]
  lines.append(f"HBM {plan.hbm_bytes / GIB:.2f} GiB per device -> "
               f"{'FITS' if plan.fits else 'DOES NOT FIT'} "
               f"({', '.join(verdicts)})")
  return "\n".join(lines)


def _collectives(step: ahead_of_time.CompiledStep) -> str:
  if not step.collectives:
    return "no collectives"
  return ", ".join(f"{name} x{n}" for name, n in step.collectives.items()) + \
      " (a scanned body counted once)"


def does_not_fit_line(plan: CompiledPlan) -> str:
  """One line naming what does not fit, for the planner's exit."""
  step = plan.too_big[0]
  return (f"the {step.label} does not fit on {plan.topology}: it needs "
          f"{step.memory.peak_bytes / GIB:.2f} GiB per device at its peak "
          f"(XLA), over the {plan.hbm_bytes / GIB:.2f} GiB of HBM of a "
          f"{plan.device_kind}: add devices, shard more (FSDP, model axis), "
          f"microbatch or remat")
