"""Multi-host start-up on JAX's own runtime (`jax.distributed`).

Every process of a multi-host job calls `initialize` before touching JAX.
Where the settings come from, first match wins:

1. explicit arguments (scripts/train.py flags --coordinator_address,
   --num_processes, --process_id);
2. environment variables FLAN_JAX_COORDINATOR_ADDRESS, FLAN_JAX_NUM_PROCESSES,
   FLAN_JAX_PROCESS_ID (handy for launchers that template env vars);
3. a cluster JAX detects itself: Cloud TPU pod slices, SLURM (srun with
   more than one task), Open MPI (mpirun), Kubernetes JobSets. Then
   `jax.distributed.initialize()` is called without arguments;
4. otherwise a single process: nothing to do.

CPU collectives between processes go through gloo, so the same code runs a
2-process job on one laptop (tests/parallel/test_multihost.py).
"""

from __future__ import annotations

import logging
import os

import jax

log = logging.getLogger("flan_jax")

_ENV_PREFIX = "FLAN_JAX_"

# Environment variables whose presence means a launcher JAX can read started
# this process as one of several.
_CLUSTER_MARKERS = {
    "Cloud TPU": ("TPU_WORKER_HOSTNAMES", "CLOUD_TPU_TASK_ID",
                  "MEGASCALE_COORDINATOR_ADDRESS"),
    "Open MPI": ("OMPI_MCA_orte_hnp_uri", "OMPI_COMM_WORLD_SIZE"),
    "Kubernetes JobSet": ("JOBSET_NAME",),
}


def detected_cluster() -> str | None:
  """Name of the multi-process launcher that started us, if any."""
  if int(os.environ.get("SLURM_NTASKS", "1")) > 1 and "SLURM_JOB_ID" in os.environ:
    return "SLURM"
  for name, markers in _CLUSTER_MARKERS.items():
    if any(m in os.environ for m in markers):
      if name == "Cloud TPU" and "," not in os.environ.get(
          "TPU_WORKER_HOSTNAMES", ","):
        continue  # a single-host TPU VM
      return name
  return None


def initialize(coordinator_address: str | None = None,
               num_processes: int | None = None,
               process_id: int | None = None,
               local_device_ids: list[int] | None = None,
               cpu_collectives: str = "gloo") -> bool:
  """Joins the multi-host job; returns False when running as one process.

  Must run before anything else asks JAX for devices.
  """
  env = os.environ
  coordinator_address = coordinator_address or env.get(
      _ENV_PREFIX + "COORDINATOR_ADDRESS")
  if num_processes is None and _ENV_PREFIX + "NUM_PROCESSES" in env:
    num_processes = int(env[_ENV_PREFIX + "NUM_PROCESSES"])
  if process_id is None and _ENV_PREFIX + "PROCESS_ID" in env:
    process_id = int(env[_ENV_PREFIX + "PROCESS_ID"])
  # Harmless on GPU/TPU; on CPU it lets processes run collectives.
  jax.config.update("jax_cpu_collectives_implementation", cpu_collectives)

  if coordinator_address is not None:
    if num_processes is None or process_id is None:
      raise ValueError("a coordinator address needs num_processes and "
                       "process_id too (flags or FLAN_JAX_* environment)")
    jax.distributed.initialize(coordinator_address=coordinator_address,
                               num_processes=num_processes,
                               process_id=process_id,
                               local_device_ids=local_device_ids)
  else:
    cluster = detected_cluster()
    if cluster is None:
      return False
    log.info("multi-host launch detected (%s)", cluster)
    jax.distributed.initialize(local_device_ids=local_device_ids)
  log.info("process %d of %d, %d local / %d global devices",
           jax.process_index(), jax.process_count(), jax.local_device_count(),
           jax.device_count())
  return True
