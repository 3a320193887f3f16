r"""LoRA against full finetuning, in flan_jax and in Hugging Face PEFT + torch.

    python benchmarks/lora.py [--steps 5] [--warmup 2] [--rank 8]

One T5 v1.1-shaped model (the shape of benchmarks/train_throughput.py, with
--layers encoder and decoder layers each), batch 8, inputs 256 / targets 64
tokens, float32, AdamW, the same random batch everywhere, on this machine's
CPU (or the first JAX device). Four train steps are timed:

    flan_jax full      every parameter trained (our trainer's jitted step)
    flan_jax LoRA      rank --rank on attention query and value (PEFT's
                       default targets), the base frozen
    torch full         transformers' T5ForConditionalGeneration, torch AdamW
    torch PEFT LoRA    peft.get_peft_model with the same rank and targets

and printed as ms/step and tokens/s, with the ratios LoRA / full in each
framework and flan_jax / torch for each kind of run. For flan_jax it also
prints what the compiled step needs (XLA's memory analysis of arguments,
outputs and temporaries: the peak of one step, from the compiler) and what
a checkpoint of the run holds (parameters item + optimizer state, from
shapes: an adapter run saves its adapters only).

The machine's load matters: run it when idle, and read the printed load
average.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import runpy  # pylint: disable=g-import-not-at-top
import types  # pylint: disable=g-import-not-at-top

import jax  # pylint: disable=g-import-not-at-top
import numpy as np  # pylint: disable=g-import-not-at-top

# The model shape, batch, timing and flan_jax step of the throughput
# benchmark, shared (a sibling script, not a package: read by path; its
# imports need the same "hf" extra).
train_throughput = types.SimpleNamespace(**runpy.run_path(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "train_throughput.py")))

TARGETS = r"attention/(query|value)$"


def _bytes(tree) -> int:
  return sum(int(np.prod(x.shape)) * x.dtype.itemsize
             for x in jax.tree.leaves(tree))


def flan_jax_run(batch, rank: int | None, layers: int):
  """(step, compiled step memory bytes, checkpoint payload bytes)."""
  from flan_jax.models import encoder_decoder  # pylint: disable=g-import-not-at-top
  from flan_jax.models import lora  # pylint: disable=g-import-not-at-top
  from flan_jax.models import t5  # pylint: disable=g-import-not-at-top
  from flan_jax.parallel import partitioning  # pylint: disable=g-import-not-at-top
  from flan_jax.train import optimizers  # pylint: disable=g-import-not-at-top
  from flan_jax.train import train_state  # pylint: disable=g-import-not-at-top

  config = t5.T5Config(**{**train_throughput.SHAPE,
                          "num_encoder_layers": layers,
                          "num_decoder_layers": layers},
                       dropout_rate=0.0, dtype="float32")
  if rank is not None:
    config = dataclasses.replace(config, lora=lora.LoraConfig(
        rank=rank, alpha=2.0 * rank, target_pattern=TARGETS))
  model = encoder_decoder.EncoderDecoderModel(config, z_loss=0.0)
  partitioner = partitioning.Partitioner()
  shapes = {k: v.shape for k, v in batch.items()}
  optimizer = optimizers.make_optimizer(
      name="adamw", learning_rate=train_throughput.LEARNING_RATE)
  steps = train_state.step_builder(model, optimizer, partitioner, shapes, 0)
  step_fn = steps.jit_train_step(train_state.make_train_step(model, steps.tx,
                                                             0))
  with partitioner.context():
    compiled = step_fn.lower(steps.sharded_state(),
                             steps.abstract_batch()).compile()
  analysis = compiled.memory_analysis()
  memory = None if analysis is None else (
      analysis.argument_size_in_bytes + analysis.output_size_in_bytes +
      analysis.temp_size_in_bytes - analysis.alias_size_in_bytes)
  state = steps.abstract_state
  checkpoint = _bytes(state.params) + _bytes(state.opt_state)
  return train_throughput._timed_step(model, partitioner, shapes, batch), \
      memory, checkpoint


def torch_run(batch, rank: int | None, layers: int):
  import peft  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top

  shape = train_throughput.SHAPE
  torch.manual_seed(0)
  model = transformers.T5ForConditionalGeneration(transformers.T5Config(
      vocab_size=shape["vocab_size"], d_model=shape["d_model"],
      d_kv=shape["head_dim"], d_ff=shape["d_ff"], num_layers=layers,
      num_decoder_layers=layers, num_heads=shape["num_heads"],
      feed_forward_proj="gated-gelu", dropout_rate=0.0,
      tie_word_embeddings=False)).train()
  if rank is not None:
    model = peft.get_peft_model(model, peft.LoraConfig(
        r=rank, lora_alpha=2 * rank, target_modules=["q", "v"],
        lora_dropout=0.0))
  trained = [p for p in model.parameters() if p.requires_grad]
  optimizer = torch.optim.AdamW(trained, lr=train_throughput.LEARNING_RATE)
  step = train_throughput.torch_t5_step(model, optimizer, batch)

  payload = sum(p.numel() * p.element_size() for p in trained) * 3  # + m, v
  return step, payload


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--steps", type=int, default=5)
  parser.add_argument("--warmup", type=int, default=2)
  parser.add_argument("--rank", type=int, default=8)
  parser.add_argument("--layers", type=int, default=4)
  args = parser.parse_args()
  import torch  # pylint: disable=g-import-not-at-top
  device = jax.devices()[0]
  print(f"device: {device.device_kind}, cpus: {os.cpu_count()}, torch "
        f"threads: {torch.get_num_threads()}, load average before: "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
  batch = train_throughput.random_batch()
  tokens = batch["encoder_input_tokens"].size + batch[
      "decoder_target_tokens"].size
  seconds, memory, checkpoint = {}, {}, {}
  for name, rank in (("full", None), ("LoRA", args.rank)):
    step, memory[name], checkpoint[name] = flan_jax_run(batch, rank,
                                                        args.layers)
    seconds[f"flan_jax {name}"] = train_throughput.time_steps(
        step, args.steps, args.warmup)
    step, checkpoint[f"torch {name}"] = torch_run(batch, rank, args.layers)
    seconds[f"torch {name}"] = train_throughput.time_steps(
        step, args.steps, args.warmup)
  print(f"T5 v1.1 shape d_model {train_throughput.SHAPE['d_model']}, "
        f"{args.layers}+{args.layers} layers, vocabulary "
        f"{train_throughput.SHAPE['vocab_size']}; batch "
        f"{train_throughput.BATCH} x ({train_throughput.INPUTS} + "
        f"{train_throughput.TARGETS}) tokens; AdamW; LoRA rank {args.rank} "
        f"on q, v; median of {args.steps} steps after {args.warmup}")
  print("| run | ms/step | tokens/s |")
  print("|---|---:|---:|")
  for name, s in seconds.items():
    print(f"| {name} | {1000 * s:.0f} | {tokens / s:,.0f} |")
  print(f"LoRA / full step time: flan_jax "
        f"{seconds['flan_jax LoRA'] / seconds['flan_jax full']:.2f}, torch "
        f"{seconds['torch LoRA'] / seconds['torch full']:.2f}")
  print(f"flan_jax / torch tokens/s: full "
        f"{seconds['torch full'] / seconds['flan_jax full']:.2f}, LoRA "
        f"{seconds['torch LoRA'] / seconds['flan_jax LoRA']:.2f}")
  if memory["full"] is not None:
    print(f"flan_jax compiled step memory: full {memory['full'] / 2**20:.0f}"
          f" MiB, LoRA {memory['LoRA'] / 2**20:.0f} MiB (ratio "
          f"{memory['LoRA'] / memory['full']:.2f})")
  print(f"checkpoint payload (trained parameters + AdamW moments): full "
        f"{checkpoint['full'] / 2**20:.1f} MiB, LoRA "
        f"{checkpoint['LoRA'] / 2**20:.2f} MiB (ratio "
        f"{checkpoint['LoRA'] / checkpoint['full']:.4f}); torch PEFT the "
        f"same count: {checkpoint['torch LoRA'] / 2**20:.2f} MiB")
  print(f"load average after: "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
  main()
