"""Meshes real TPU pods accept, built from libtpu's topology descriptions."""

import importlib.util

import pytest

from flan_jax.parallel import partitioning
from flan_jax.parallel import topologies

# The aot extra (part of the test extra) brings libtpu; without it these
# tests cannot describe a TPU.
needs_libtpu = pytest.mark.skipif(
    importlib.util.find_spec("libtpu") is None,
    reason=f"libtpu missing: {topologies.INSTALL}")


def test_topology_names_are_checked_in_one_line():
  assert topologies.parse("v5e:16x16") == ("v5e", (16, 16))
  assert topologies.parse("v4:4x4x4") == ("v4", (4, 4, 4))
  for bad in ("v5e", "v9:2x2", "v5e:16", "tpu-v5e-256"):
    with pytest.raises(topologies.TopologyError, match="e.g. v5e:16x16"):
      topologies.parse(bad)


def test_missing_libtpu_names_the_install_command(monkeypatch):
  monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
  with pytest.raises(topologies.MissingLibtpuError,
                     match=r'pip install "flan_jax\[aot\]"'):
    topologies.topology_devices("v5e:2x2")


@needs_libtpu
@pytest.mark.parametrize("name,mesh_shape,kind", [
    # jax.make_mesh refuses this one ("set allow_split_physical_axes").
    ("v6e:16x16", {"data": 32, "model": 8}, "TPU v6 lite"),
    ("v5e:4x4", {"data": 8, "model": 2}, "TPU v5 lite"),
    ("v5p:2x2x2", {"data": 4, "model": 2}, "TPU v5"),
    ("v4:2x2x2", {"data": 4, "model": 2}, "TPU v4"),  # megacore: 8 chips
])
def test_single_slice_meshes_follow_the_physical_layout(name, mesh_shape,
                                                        kind):
  devices = topologies.topology_devices(name)
  part = partitioning.Partitioner(mesh_shape, fsdp=True, devices=devices)
  assert dict(part.mesh.shape) == mesh_shape
  assert devices[0].device_kind == kind
  assert set(part.mesh.devices.flat) == set(devices)


@needs_libtpu
def test_two_slices_cross_only_on_the_slice_axis():
  devices = topologies.topology_devices("v5e:2x2", num_slices=2)
  part = partitioning.Partitioner({"slice": 2, "data": 2, "model": 2},
                                  fsdp=True, devices=devices)
  grid = part.mesh.devices
  for s in range(2):  # every device of one slice row lives on that slice
    assert {d.slice_index for d in grid[s].flat} == {s}
  # The batch spans both slices; FSDP stays within one.
  assert part.batch_sharding.spec[0] == ("slice", "data")
  assert part.data_parallel_size == 4
  assert part.spec(("embed", "mlp")) == partitioning.PartitionSpec("data",
                                                                    "model")


@needs_libtpu
def test_a_mesh_the_devices_cannot_form_is_one_line():
  two = topologies.topology_devices("v5e:2x2", num_slices=2)
  with pytest.raises(partitioning.MeshError) as missing_slice:
    partitioning.Partitioner({"data": 4, "model": 2}, devices=two)
  assert "needs a 'slice' axis of 2" in str(missing_slice.value)
  one = topologies.topology_devices("v5e:2x2")
  with pytest.raises(ValueError) as too_many:
    partitioning.Partitioner({"data": 4, "model": 2}, devices=one)
  assert "needs 8 devices, there are 4" in str(too_many.value)
  for error in (missing_slice.value, too_many.value):
    assert "\n" not in str(error)


@needs_libtpu
def test_every_tpu_hardware_file_names_a_topology_that_holds_its_mesh():
  import glob  # pylint: disable=g-import-not-at-top
  import os  # pylint: disable=g-import-not-at-top
  import gin  # pylint: disable=g-import-not-at-top
  from flan_jax.cli import gin_config  # pylint: disable=g-import-not-at-top
  files = sorted(glob.glob(os.path.join(gin_config.REPO_GIN_DIR, "hardware",
                                        "tpu_*.gin")))
  assert len(files) >= 6
  for path in files:
    gin.clear_config()
    gin_config.parse_gin([path], [])
    topology = gin_config.binding_or("TPU_TOPOLOGY", None)
    slices = gin_config.binding_or("TPU_NUM_SLICES", 1)
    mesh_shape = gin_config.binding_or("Partitioner.mesh_shape", None)
    devices = topologies.topology_devices(topology, slices)
    part = partitioning.Partitioner(mesh_shape, fsdp=True, devices=devices)
    assert dict(part.mesh.shape) == mesh_shape, path
    assert topologies.hbm_bytes(devices[0]) == gin_config.binding_or(
        "DEVICE_MEMORY_GIB", None) * 1024**3, path
  gin.clear_config()
