"""A tiny model and training run on the toy collection, shared by tests.

Also runnable as a script in a subprocess (for fake multi-device meshes,
which must be configured before JAX starts):

    XLA_FLAGS=--xla_force_host_platform_device_count=8 \
        python tests/toy_training.py MODEL_DIR STEPS '{"data": 2, "model": 4}'

prints the per-step training losses as JSON.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import toy_tasks  # pylint: disable=unused-import,g-import-not-at-top
from flan_jax import model as model_lib
from flan_jax import optimizers
from flan_jax import partitioning
from flan_jax import trainer
from flan_jax.models import t5

LENGTHS = {"inputs": 24, "targets": 8}
CONFIG = t5.T5Config(vocab_size=1024, d_model=32, num_heads=4, head_dim=8,
                     d_ff=64, num_encoder_layers=2, num_decoder_layers=2)


def tiny_model(max_decode_length: int = 8) -> model_lib.EncoderDecoderModel:
  return model_lib.EncoderDecoderModel(CONFIG,
                                       max_decode_length=max_decode_length)


def run(model_dir: str, steps: int, mesh_shape=None, batch_size: int = 8,
        mixture: str = "toy:train:all", learning_rate: float = 3e-3):
  partitioner = partitioning.Partitioner(
      mesh_shape=mesh_shape or {"data": -1, "model": 1})
  return trainer.train(
      model=tiny_model(), mixture_or_task_name=mixture, model_dir=model_dir,
      num_train_steps=steps, batch_size=batch_size,
      task_feature_lengths=LENGTHS, partitioner=partitioner,
      optimizer=optimizers.make_optimizer(learning_rate=learning_rate),
      log_every_steps=1, checkpoint_every_steps=steps)


if __name__ == "__main__":
  directory, num_steps, mesh = sys.argv[1], int(sys.argv[2]), json.loads(
      sys.argv[3])
  result = run(directory, num_steps, mesh)
  print(json.dumps([m["loss"] for _, m in result.history]))
