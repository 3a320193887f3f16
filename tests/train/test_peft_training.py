"""A frozen base and trainable adapters: the train state, checkpoints, resume.

Full finetuning is the plain step bit for bit; a LoRA or prompt-tuning run
leaves its base bit-identical, keeps optimizer state for its adapters only,
saves adapter-only checkpoints that record their base, and resumes exactly.
"""

import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest

import toy_training
from flan_jax.checkpoints import adapter_base
from flan_jax.checkpoints import checkpointer as checkpointer_lib
from flan_jax.checkpoints import loading
from flan_jax.evaluation import job
from flan_jax.models import trainable
from flan_jax.parallel import partitioning
from flan_jax.steps import builder
from flan_jax.train import train_state

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LORA = {"rank": 4, "alpha": 8.0,
        "target_pattern": r"(attention/(query|value)|mlp/wo)$"}
PROMPT = {"length": 3, "init": "vocab", "vocab_sample_size": 100}


def _flat(tree):
  return {jax.tree_util.keystr(p): np.asarray(v)
          for p, v in jax.tree_util.tree_leaves_with_path(tree)}


def _steps(model, optimizer):
  shapes = builder.model_input_shapes(model.feature_converter(pack=True),
                                      toy_training.LENGTHS, 8)
  return train_state.step_builder(model, optimizer,
                                  partitioning.Partitioner(), shapes, 0)


def _step_before_the_split(model, tx, dropout_seed):
  """The train step as it was before trainable/frozen (full batch)."""
  grad_fn = jax.value_and_grad(model.loss_fn, has_aux=True)

  def train_step(state, batch):
    dropout_rng = jax.random.fold_in(jax.random.key(dropout_seed), state.step)
    (_, metrics), grads = grad_fn(state.params, batch, dropout_rng)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    metrics = dict(metrics)
    metrics["grad_norm"] = optax.tree.norm(grads)
    metrics["param_norm"] = optax.tree.norm(params)
    return builder.TrainState(state.step + 1, params, opt_state), metrics

  return train_step


def test_full_finetuning_is_the_step_before_the_split_bit_for_bit():
  """Everything trainable: no frozen part, the same state structure, and
  the same numbers as the step before trainable/frozen existed."""
  model = toy_training.tiny_model()
  steps = _steps(model, toy_training.tiny_optimizer(1e-2))
  state = steps.init_state()
  assert state.frozen is None
  assert jax.tree.structure(steps.state_shardings.params) == jax.tree.structure(
      state.params)
  batch = toy_training.first_batch(model)
  new = steps.jit_train_step(train_state.make_train_step(model, steps.tx, 0))
  old = steps.jit_train_step(_step_before_the_split(model, steps.tx, 0))
  copy = lambda s: jax.tree.map(lambda x: x.copy(), s)
  state_old = copy(state)
  for _ in range(2):
    state, metrics = new(state, batch)
    state_old, metrics_old = old(state_old, batch)
    assert {k: float(v) for k, v in metrics.items()} == {
        k: float(v) for k, v in metrics_old.items()}
  for name, value in _flat((state_old.params, state_old.opt_state)).items():
    np.testing.assert_array_equal(
        _flat((state.params, state.opt_state))[name], value, err_msg=name)


@pytest.fixture(scope="module")
def base_checkpoint(tmp_path_factory):
  """A parameters-only base checkpoint, as convert_hf.py writes one."""
  root = tmp_path_factory.mktemp("base")
  params = toy_training.tiny_model().initial_params(jax.random.key(5))
  writer = checkpointer_lib.Checkpointer(str(root / "checkpoints"),
                                         async_save=False)
  writer.save_params(0, params, {"note": "base"})
  writer.close()
  return str(root / "checkpoints" / "0"), params


@pytest.fixture(scope="module")
def lora_run(base_checkpoint, tmp_path_factory):
  model_dir = str(tmp_path_factory.mktemp("lora"))
  result = toy_training.run(model_dir, 4, optimizer="adamw",
                            learning_rate=1e-2, lora=LORA,
                            initial_checkpoint=base_checkpoint[0],
                            checkpoint_every_steps=2)
  return model_dir, result


def test_lora_trains_adapters_only_and_keeps_the_base_bit_identical(
    base_checkpoint, lora_run):
  model_dir, result = lora_run
  assert result.final_step == 4
  losses = toy_training.losses(result)
  assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
  model = toy_training.tiny_model(lora=LORA)
  # Eval-side loading: base from the record, adapters from the run.
  params = loading.load_params(model, os.path.join(model_dir, "checkpoints"),
                               4)
  trained, frozen = trainable.split(model.config, params)
  base = _flat(base_checkpoint[1])
  assert _flat(frozen).keys() == base.keys()
  for name, value in _flat(frozen).items():
    np.testing.assert_array_equal(value, base[name], err_msg=name)
  assert all(k.endswith(("['lora_a']", "['lora_b']")) for k in _flat(trained))
  assert any(np.any(v != 0) for k, v in _flat(trained).items()
             if k.endswith("['lora_b']"))
  # Optimizer state (and so gradients) exist for the adapters alone.
  steps = _steps(model, toy_training.tiny_optimizer(1e-2, "adamw"))
  state = steps.abstract_state
  adapter_shapes = {v.shape for v in jax.tree.leaves(state.params)}
  kernel_shapes = {v.shape for p, v in
                   jax.tree_util.tree_leaves_with_path(state.frozen)
                   if p[-1].key in ("kernel", "embedding")}
  opt_leaves = jax.tree.leaves(state.opt_state)
  assert {v.shape for v in opt_leaves} <= adapter_shapes | {()}
  assert not {v.shape for v in opt_leaves} & kernel_shapes
  size = lambda leaves: sum(int(np.prod(v.shape)) for v in leaves)
  adapters = size(jax.tree.leaves(state.params))
  assert size(opt_leaves) == 2 * adapters + 1  # AdamW's mu, nu and a count
  assert adapters * 10 < size(jax.tree.leaves(state.frozen))
  # The checkpoint holds the adapters and a record of the base.
  reader = checkpointer_lib.Checkpointer(
      os.path.join(model_dir, "checkpoints"), read_only=True)
  meta = reader.read_meta(4)
  reader.close()
  assert meta["base"]["path"] == base_checkpoint[0]
  assert meta["base"]["fingerprint"] == trainable.fingerprint(frozen)


def _size(directory):
  return sum(os.path.getsize(os.path.join(d, f))
             for d, _, files in os.walk(directory) for f in files)


def _stored_bytes(params_dir):
  """Bytes of the arrays a params item stores, from orbax's metadata."""
  metadata = ocp.PyTreeCheckpointer().metadata(params_dir).item_metadata
  return sum(int(np.prod(leaf.shape)) * np.dtype(leaf.dtype).itemsize
             for leaf in jax.tree.leaves(metadata.tree))


def test_an_adapter_checkpoint_is_small_and_an_eval_job_reads_it(
    base_checkpoint, lora_run, tmp_path):
  model_dir, _ = lora_run
  adapter_dir = os.path.join(model_dir, "checkpoints", "4", "params")
  base_dir = os.path.join(base_checkpoint[0], "params")
  adapter, base = _stored_bytes(adapter_dir), _stored_bytes(base_dir)
  print(f"\nstored arrays: adapter {adapter} bytes, base {base} bytes; "
        f"on disk {_size(adapter_dir)} and {_size(base_dir)}")
  assert adapter * 10 < base
  # On disk orbax's own metadata (tens of kB, and more when its writes are
  # not compacted) is most of a toy adapter checkpoint: only a loose bound.
  assert _size(adapter_dir) < _size(base_dir)
  results = job.evaluate(
      model=toy_training.tiny_model(lora=LORA), checkpoint=model_dir,
      mixture_or_task_name="toy:eval:all", output_dir=str(tmp_path),
      batch_size=16, max_examples=4)
  assert results["step"] == 4 and results["datasets"]


def test_adapters_onto_another_base_and_another_rank_are_refused(
    base_checkpoint, lora_run, tmp_path):
  model_dir, _ = lora_run
  model = toy_training.tiny_model(lora=LORA)
  reader = checkpointer_lib.Checkpointer(
      os.path.join(model_dir, "checkpoints"), read_only=True)
  record = dict(reader.read_meta(4)["base"])
  reader.close()
  # The recorded base path now holds another model's weights.
  other = str(tmp_path / "checkpoints")
  writer = checkpointer_lib.Checkpointer(other, async_save=False)
  writer.save_params(0, toy_training.tiny_model().initial_params(
      jax.random.key(6)), {})
  writer.close()
  frozen_like = trainable.split(model.config, _abstract(model))[1]
  with pytest.raises(adapter_base.BaseMismatchError, match="fingerprint"):
    loading.load_base({**record, "path": os.path.join(other, "0")}, model,
                      frozen_like, "checkpoint x")
  # Resuming the run with another rank: one line, nothing written.
  before = sorted(os.listdir(os.path.join(model_dir, "checkpoints")))
  with pytest.raises(checkpointer_lib.CheckpointMismatchError,
                     match="does not fit"):
    toy_training.run(model_dir, 6, optimizer="adamw", lora={**LORA, "rank": 2},
                     initial_checkpoint=base_checkpoint[0])
  assert sorted(os.listdir(os.path.join(model_dir, "checkpoints"))) == before


def _abstract(model):
  import flax.linen as nn  # pylint: disable=g-import-not-at-top
  return nn.unbox(model.abstract_params())


def test_prompt_tuning_trains_the_prompt_only(base_checkpoint, tmp_path):
  result = toy_training.run(str(tmp_path), 2, optimizer="adamw",
                            learning_rate=1e-2, prompt=PROMPT, pack=False,
                            initial_checkpoint=base_checkpoint[0])
  model = toy_training.tiny_model(prompt=PROMPT)
  params = loading.load_params(model, str(tmp_path / "checkpoints"), 2)
  start = loading.load_params(model, str(tmp_path / "checkpoints"), 0)
  trained, frozen = trainable.split(model.config, params)
  assert list(_flat(trained)) == ["['prompt']['embedding']"]
  base = _flat(base_checkpoint[1])
  for name, value in _flat(frozen).items():
    np.testing.assert_array_equal(value, base[name], err_msg=name)
  # Step 0's prompt rows are vocabulary embeddings of the base.
  rows = {tuple(r) for r in base["['token_embedder']['embedding']"][1:100]}
  assert all(tuple(r) in rows for r in np.asarray(start["prompt"]["embedding"]))
  assert not np.array_equal(start["prompt"]["embedding"],
                            params["prompt"]["embedding"])
  assert np.all(np.isfinite(toy_training.losses(result)))


def _start(args, devices=1):
  env = dict(os.environ, PYTHONPATH=os.path.dirname(TESTS_DIR),
             XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
  return subprocess.Popen(
      [sys.executable, os.path.join(TESTS_DIR, "toy_training.py"),
       json.dumps(args)], env=env, stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, text=True)


@pytest.mark.slow  # three training processes
def test_adapter_only_resume_after_sigkill_is_bit_exact(base_checkpoint,
                                                        tmp_path):
  steps = 8
  args = lambda d: {"model_dir": d, "steps": steps, "optimizer": "adamw",
                    "learning_rate": 1e-2, "lora": LORA,
                    "checkpoint_every_steps": 2,
                    "initial_checkpoint": base_checkpoint[0]}
  whole = str(tmp_path / "whole")
  child = _start(args(whole))
  out, err = child.communicate(timeout=900)
  assert child.returncode == 0, err[-3000:]
  uninterrupted = json.loads(out.strip().splitlines()[-1])
  killed = str(tmp_path / "killed")
  child = _start(args(killed))
  deadline = time.time() + 600
  for line in child.stderr:
    if f"step 5/{steps}" in line:
      break
    assert time.time() < deadline
  child.kill()
  child.wait(timeout=60)
  assert child.returncode == -signal.SIGKILL
  child = _start(args(killed))
  out, err = child.communicate(timeout=900)
  assert child.returncode == 0, err[-3000:]
  resumed = json.loads(out.strip().splitlines()[-1])
  assert 0 < resumed["start_step"] < steps
  assert resumed["losses"] == uninterrupted["losses"][resumed["start_step"]:]
  model = toy_training.tiny_model(lora=LORA)
  got = _flat(loading.load_params(model, killed + "/checkpoints", steps))
  want = _flat(loading.load_params(model, whole + "/checkpoints", steps))
  for name, value in want.items():
    np.testing.assert_array_equal(got[name], value, err_msg=name)


@pytest.mark.slow  # two compiled runs in fresh processes
def test_a_lora_run_on_a_4_device_fsdp_mesh_matches_1_device(base_checkpoint,
                                                             tmp_path):
  runs = {}
  for devices, mesh in ((1, {"data": 1, "model": 1}),
                        (4, {"data": 4, "model": 1})):
    child = _start({"model_dir": str(tmp_path / str(devices)), "steps": 4,
                    "optimizer": "adamw", "learning_rate": 1e-2, "lora": LORA,
                    "mesh_shape": mesh, "fsdp": devices > 1,
                    "initial_checkpoint": base_checkpoint[0]}, devices)
    out, err = child.communicate(timeout=900)
    assert child.returncode == 0, err[-3000:]
    runs[devices] = json.loads(out.strip().splitlines()[-1])["losses"]
  print(f"\nLoRA losses 1 device {runs[1]}\n            4 devices {runs[4]}")
  np.testing.assert_allclose(runs[4], runs[1], rtol=2e-4)


def test_export_reads_an_adapter_checkpoint_merged_and_as_peft(lora_run,
                                                               tmp_path):
  import torch  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top
  from flan_jax.checkpoints import hf_conversion  # pylint: disable=g-import-not-at-top
  model_dir, _ = lora_run
  model = toy_training.tiny_model(lora=LORA)
  step_dir = os.path.join(model_dir, "checkpoints", "4")
  merged = hf_conversion.export_checkpoint(model, step_dir,
                                           str(tmp_path / "merged"))
  adapters = hf_conversion.export_checkpoint(model, step_dir,
                                             str(tmp_path / "peft"), peft=True)
  with open(os.path.join(adapters, "adapter_config.json")) as f:
    assert json.load(f)["target_modules"] == ["q", "v", "wo"]
  params = loading.load_params(model, os.path.join(model_dir, "checkpoints"),
                               4)
  tokens = np.random.RandomState(0).randint(2, 1024, (2, 7))
  ours = model.module.apply({"params": params}, tokens, tokens[:, :4])
  reference = transformers.T5ForConditionalGeneration.from_pretrained(
      merged, dtype=torch.float32).eval()
  with torch.no_grad():
    theirs = reference(input_ids=torch.tensor(tokens),
                       decoder_input_ids=torch.tensor(tokens[:, :4])).logits
  np.testing.assert_allclose(np.asarray(ours), theirs.numpy(), atol=1e-4)
