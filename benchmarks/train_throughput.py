r"""Train-step throughput: flan_jax versus Hugging Face transformers + PyTorch.

    python benchmarks/train_throughput.py [--steps 5] [--warmup 2]

One fixed T5 v1.1-small-shaped model (d_model 512, 8 encoder + 8 decoder
layers, 6 heads x 64, gated-GELU d_ff 1024, vocabulary 32128, untied
output layer, no dropout), batch 8, inputs 256 / targets 64 tokens, float32,
AdamW, the same random batch on both sides, on this machine's CPU (or
whatever JAX device is first). Prints tokens/s for both (input + target
tokens per second), their ratio, and flan_jax's model FLOPs utilisation
(model FLOPs from the config; peak from the device table, or a measured
float32 matmul on CPU).

The machine's load matters: on a shared machine run it when idle, and read
the printed load average.

    python benchmarks/train_throughput.py --gin_model=llama_1b --fsdp \
        --batch=8 --length=2048

times flan_jax alone on a gin/models/ config in that file's dtype (llama_1b:
bfloat16) with parameters fully sharded over every device (FSDP), on
whatever devices JAX finds (a GPU or TPU when there is one), and prints its
MFU against the device's peak from the table in flan_jax/train/mfu.py.
`--gin=DecoderConfig.num_layers=2` (repeatable) shrinks a config for a
quick run on CPU.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top

BATCH, INPUTS, TARGETS = 8, 256, 64
SHAPE = dict(vocab_size=32128, d_model=512, num_heads=6, head_dim=64,
             d_ff=1024, num_encoder_layers=8, num_decoder_layers=8)
LEARNING_RATE = 1e-4


def random_batch(seed: int = 0) -> dict[str, np.ndarray]:
  rng = np.random.default_rng(seed)
  inputs = rng.integers(2, SHAPE["vocab_size"], (BATCH, INPUTS), np.int32)
  targets = rng.integers(2, SHAPE["vocab_size"], (BATCH, TARGETS), np.int32)
  decoder_inputs = np.concatenate(
      [np.zeros((BATCH, 1), np.int32), targets[:, :-1]], axis=1)
  return {"encoder_input_tokens": inputs,
          "decoder_input_tokens": decoder_inputs,
          "decoder_target_tokens": targets,
          "decoder_loss_weights": np.ones_like(targets)}


def time_steps(step, steps: int, warmup: int) -> float:
  """Seconds per step (median of `steps` after `warmup`)."""
  for _ in range(warmup):
    step()
  times = []
  for _ in range(steps):
    start = time.perf_counter()
    step()
    times.append(time.perf_counter() - start)
  return float(np.median(times))


def flan_jax_step(batch):
  """Our trainer's jitted, donated train step on the default partitioner."""
  from flan_jax.models import encoder_decoder  # pylint: disable=g-import-not-at-top
  from flan_jax.models import t5  # pylint: disable=g-import-not-at-top
  from flan_jax.parallel import partitioning  # pylint: disable=g-import-not-at-top

  model = encoder_decoder.EncoderDecoderModel(
      t5.T5Config(**SHAPE, dropout_rate=0.0, dtype="float32"), z_loss=0.0)
  partitioner = partitioning.Partitioner()
  shapes = {k: v.shape for k, v in batch.items()}
  return model, _timed_step(model, partitioner, shapes, batch)


def _timed_step(model, partitioner, shapes, batch):
  """A () -> None that runs one AdamW train step on `batch` and waits."""
  from flan_jax.train import optimizers  # pylint: disable=g-import-not-at-top
  from flan_jax.train import train_state  # pylint: disable=g-import-not-at-top
  optimizer = optimizers.make_optimizer(name="adamw",
                                        learning_rate=LEARNING_RATE)
  steps = train_state.step_builder(model, optimizer, partitioner, shapes, 0)
  state = steps.init_state()
  step_fn = steps.jit_train_step(train_state.make_train_step(model, steps.tx, 0))
  holder = {"state": state}
  with partitioner.context():
    global_batch = partitioner.global_batch(batch)

  def step():
    with partitioner.context():
      holder["state"], metrics = step_fn(holder["state"], global_batch)
    metrics["loss"].block_until_ready()

  return step


def gin_model_step(name: str, bindings, batch_size: int, length: int,
                   fsdp: bool):
  """flan_jax's train step on gin/models/<name>.gin with a random batch."""
  from flan_jax.cli import gin_config  # pylint: disable=g-import-not-at-top
  from flan_jax.parallel import partitioning  # pylint: disable=g-import-not-at-top
  from flan_jax.steps import builder  # pylint: disable=g-import-not-at-top

  gin_config.parse_gin(
      [os.path.join(gin_config.REPO_GIN_DIR, "models", f"{name}.gin")],
      bindings)
  model = gin_config.model_macro()
  partitioner = partitioning.Partitioner(fsdp=fsdp)
  lengths = {"inputs": length // 2, "targets": length - length // 2}
  shapes = builder.model_input_shapes(model.feature_converter(pack=True),
                                      lengths, batch_size)
  rng = np.random.default_rng(0)
  batch = {}
  for feature, shape in shapes.items():  # one example per row, all real
    if feature.endswith("_tokens"):
      batch[feature] = rng.integers(2, model.config.vocab_size, shape,
                                    np.int32)
    elif feature.endswith("_positions"):
      batch[feature] = np.broadcast_to(np.arange(shape[1], dtype=np.int32),
                                       shape).copy()
    elif feature == "decoder_causal_attention":
      batch[feature] = np.zeros(shape, np.int32)
    else:  # segment ids, loss weights
      batch[feature] = np.ones(shape, np.int32)
  return model, shapes, _timed_step(model, partitioner, shapes, batch)


def gin_model_main(args) -> None:
  from flan_jax.train import mfu  # pylint: disable=g-import-not-at-top
  device = jax.devices()[0]
  print(f"device: {device.device_kind} x{jax.device_count()}, "
        f"cpus: {os.cpu_count()}, load average before: "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
  model, shapes, step = gin_model_step(args.gin_model, args.gin, args.batch,
                                       args.length, args.fsdp)
  seconds = time_steps(step, args.steps, args.warmup)
  flops = model.train_flops(shapes)
  peak, source = mfu.peak_flops_per_device(str(model.compute_dtype))
  tokens = args.batch * args.length
  print(f"config: gin/models/{args.gin_model}.gin {list(args.gin)}, "
        f"{model.num_params / 1e9:.2f}B parameters, {model.compute_dtype}, "
        f"batch {args.batch} x {args.length} tokens, FSDP {args.fsdp}, "
        f"AdamW; median of {args.steps} steps after {args.warmup} warm-up")
  print(f"flan_jax: {seconds * 1000:.1f} ms/step, {tokens / seconds:,.0f} "
        f"tokens/s, {flops / seconds / 1e12:.2f} model TFLOP/s; peak "
        f"{peak / 1e12:.3g} TFLOP/s per device ({source}); MFU "
        f"{100 * mfu.mfu(flops, seconds, jax.device_count(), peak):.1f}%")
  print(f"load average after: "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")



def torch_t5_step(model, optimizer, batch):
  """One torch train step of a transformers T5 on our batch's features."""
  import torch  # pylint: disable=g-import-not-at-top
  inputs = torch.from_numpy(batch["encoder_input_tokens"]).long()
  decoder_inputs = torch.from_numpy(batch["decoder_input_tokens"]).long()
  labels = torch.from_numpy(batch["decoder_target_tokens"]).long()

  def step():
    optimizer.zero_grad(set_to_none=True)
    loss = model(input_ids=inputs, decoder_input_ids=decoder_inputs,
                 labels=labels).loss
    loss.backward()
    optimizer.step()

  return step

def torch_step(batch):
  """transformers' T5ForConditionalGeneration, same shape, torch AdamW."""
  import torch  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top

  torch.manual_seed(0)
  config = transformers.T5Config(
      vocab_size=SHAPE["vocab_size"], d_model=SHAPE["d_model"],
      d_kv=SHAPE["head_dim"], d_ff=SHAPE["d_ff"],
      num_layers=SHAPE["num_encoder_layers"],
      num_decoder_layers=SHAPE["num_decoder_layers"],
      num_heads=SHAPE["num_heads"], feed_forward_proj="gated-gelu",
      dropout_rate=0.0, tie_word_embeddings=False)
  model = transformers.T5ForConditionalGeneration(config).train()
  optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE)
  return torch_t5_step(model, optimizer, batch), torch.get_num_threads()


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--steps", type=int, default=5)
  parser.add_argument("--warmup", type=int, default=2)
  parser.add_argument("--gin_model", default=None,
                      help="time flan_jax alone on gin/models/<name>.gin")
  parser.add_argument("--gin", action="append", default=[],
                      help="a gin binding for --gin_model (repeatable)")
  parser.add_argument("--batch", type=int, default=8)
  parser.add_argument("--length", type=int, default=2048)
  parser.add_argument("--fsdp", action="store_true")
  args = parser.parse_args()
  if args.gin_model:
    gin_model_main(args)
    return
  from flan_jax.train import mfu  # pylint: disable=g-import-not-at-top

  batch = random_batch()
  tokens = BATCH * (INPUTS + TARGETS)
  device = jax.devices()[0]
  print(f"device: {device.device_kind} x{jax.device_count()}, "
        f"cpus: {os.cpu_count()}, load average before: "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")

  model, ours = flan_jax_step(batch)
  ours_s = time_steps(ours, args.steps, args.warmup)
  del ours
  peak, source = mfu.peak_flops_per_device("float32")
  model_flops = model.config.train_flops(BATCH, INPUTS, TARGETS)

  theirs, threads = torch_step(batch)
  theirs_s = time_steps(theirs, args.steps, args.warmup)

  ours_tps, theirs_tps = tokens / ours_s, tokens / theirs_s
  print(f"config: T5 v1.1-small shape {SHAPE}, batch {BATCH}, lengths "
        f"{INPUTS}/{TARGETS}, float32, AdamW; median of {args.steps} steps "
        f"after {args.warmup} warm-up")
  print(f"flan_jax (JAX {jax.__version__}):      {ours_s * 1000:9.1f} ms/step "
        f"{ours_tps:9.1f} tokens/s")
  print(f"transformers + torch ({threads} threads): {theirs_s * 1000:9.1f} "
        f"ms/step {theirs_tps:9.1f} tokens/s")
  print(f"ratio flan_jax / torch: {ours_tps / theirs_tps:.2f}x")
  print(f"flan_jax model FLOPs/step {model_flops:.3e}; "
        f"{model_flops / ours_s / 1e9:.1f} GFLOP/s; peak {peak / 1e9:.1f} "
        f"GFLOP/s per device ({source}); MFU "
        f"{100 * mfu.mfu(model_flops, ours_s, jax.device_count(), peak):.1f}%")
  print(f"load average after: "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
  main()
