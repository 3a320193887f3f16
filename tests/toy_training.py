"""A tiny model and training run on the toy collection, shared by tests.

Also runnable as a script in a subprocess (fake multi-device meshes must be
configured before JAX starts; multi-process runs need their own processes):

    XLA_FLAGS=--xla_force_host_platform_device_count=8 \
        python tests/toy_training.py '{"model_dir": "/tmp/x", "steps": 12,
                                       "mesh_shape": {"data": 2, "model": 4}}'

A JSON list runs several in one process (prints a list). Keys: any keyword
of `run`, plus "distributed": {"coordinator_address",
"num_processes", "process_id"} to join a multi-process job first. Prints
one JSON line: {"losses": [...], "final_step", "start_step", "preempted",
"checkpoint_steps"}.
"""

import dataclasses
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from flan_jax.parallel import distributed  # pylint: disable=g-import-not-at-top

if __name__ == "__main__":
  import logging  # pylint: disable=g-import-not-at-top
  # Progress lines on stderr (tests watch them to interrupt a run).
  _log = logging.getLogger("flan_jax")
  _log.addHandler(logging.StreamHandler(sys.stderr))
  _log.setLevel(logging.INFO)
  _log.propagate = False
  _ARGS = json.loads(sys.argv[1])
  if isinstance(_ARGS, dict) and "distributed" in _ARGS:
    distributed.initialize(**_ARGS.pop("distributed"))

import numpy as np  # pylint: disable=g-import-not-at-top

import toy_tasks  # pylint: disable=unused-import,g-import-not-at-top
from flan_jax.checkpoints import checkpointer  # pylint: disable=g-import-not-at-top
from flan_jax.models import encoder_decoder  # pylint: disable=g-import-not-at-top
from flan_jax.models import lora as lora_lib  # pylint: disable=g-import-not-at-top
from flan_jax.models import prompt_tuning  # pylint: disable=g-import-not-at-top
from flan_jax.models import t5  # pylint: disable=g-import-not-at-top
from flan_jax.parallel import partitioning  # pylint: disable=g-import-not-at-top
from flan_jax.steps import builder  # pylint: disable=g-import-not-at-top
from flan_jax.train import input_pipeline  # pylint: disable=g-import-not-at-top
from flan_jax.train import optimizers  # pylint: disable=g-import-not-at-top
from flan_jax.train import trainer  # pylint: disable=g-import-not-at-top

LENGTHS = {"inputs": 24, "targets": 8}
CONFIG = t5.T5Config(vocab_size=1024, d_model=32, num_heads=4, head_dim=8,
                     d_ff=64, num_encoder_layers=2, num_decoder_layers=2)


def tiny_model(max_decode_length: int = 8, lora=None, prompt=None, **kwargs
               ) -> encoder_decoder.EncoderDecoderModel:
  """The tiny T5; `lora` / `prompt` (dicts of LoraConfig / PromptConfig
  fields) make it parameter-efficient."""
  config = dataclasses.replace(
      CONFIG, lora=None if lora is None else lora_lib.LoraConfig(**lora),
      prompt=None if prompt is None else prompt_tuning.PromptConfig(**prompt))
  return encoder_decoder.EncoderDecoderModel(config,
                                       max_decode_length=max_decode_length,
                                       **kwargs)


def tiny_optimizer(learning_rate: float = 3e-3, name: str = "adafactor",
                   **kwargs) -> optimizers.OptimizerDef:
  # Factor every matrix of the tiny model (it has no dim of 128 or more).
  return optimizers.make_optimizer(name=name, learning_rate=learning_rate,
                                   min_dim_size_to_factor=8, **kwargs)


def first_batch(model, pack: bool = True, batch_size: int = 8) -> dict:
  """The first batch the input pipeline gives `model` from toy:train:all."""
  batches = input_pipeline.PackedBatches(
      input_pipeline.mixture_examples("toy:train:all"),
      input_pipeline.packing_layout(model.feature_converter(pack=pack),
                                    LENGTHS),
      batch_size=batch_size, seed=0)
  batch = next(batches)
  batches.close()
  return batch


def run(model_dir: str, steps: int, mesh_shape=None, batch_size: int = 8,
        mixture: str = "toy:train:all", learning_rate: float = 3e-3,
        fsdp: bool = False, optimizer: str = "adafactor",
        checkpoint_every_steps: int | None = None, model=None,
        lora=None, prompt=None, **train_kwargs):
  partitioner = partitioning.Partitioner(
      mesh_shape=mesh_shape or {"data": -1, "model": 1}, fsdp=fsdp)
  return trainer.train(
      model=model or tiny_model(lora=lora, prompt=prompt),
      mixture_or_task_name=mixture,
      model_dir=model_dir,
      num_train_steps=steps, batch_size=batch_size,
      task_feature_lengths=LENGTHS, partitioner=partitioner,
      optimizer=tiny_optimizer(learning_rate, optimizer),
      log_every_steps=train_kwargs.pop("log_every_steps", 1),
      checkpoint_every_steps=checkpoint_every_steps or steps, **train_kwargs)


def final_params(model_dir: str, batch_size: int = 8) -> dict:
  """The newest checkpoint's parameters as host numpy arrays."""
  model = tiny_model()
  shapes = builder.model_input_shapes(model.feature_converter(pack=True),
                                      LENGTHS, batch_size)
  abstract = builder.StepBuilder(model, partitioning.Partitioner(),
                                 shapes).abstract_params
  ckpt = checkpointer.Checkpointer(os.path.join(model_dir, "checkpoints"),
                                  read_only=True)
  params, _, _ = ckpt.restore(ckpt.latest_step(), abstract, None)
  ckpt.close()
  return {"/".join(str(k.key) for k in path): np.asarray(v)
          for path, v in __import__("jax").tree_util.tree_leaves_with_path(
              params)}


def losses(result) -> list[float]:
  return [m["loss"] for _, m in result.history]


def summary(result) -> dict:
  return {"losses": losses(result), "final_step": result.final_step,
          "start_step": result.start_step, "preempted": result.preempted,
          "checkpoint_steps": result.checkpoint_steps}


if __name__ == "__main__":
  if isinstance(_ARGS, list):  # several runs in one process
    print(json.dumps([summary(run(**a)) for a in _ARGS]), flush=True)
  else:
    print(json.dumps(summary(run(**_ARGS))), flush=True)
