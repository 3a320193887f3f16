r"""Input pipeline figures, each next to a peer measured in the same run.

    python benchmarks/input_pipeline.py --part=resume      # (a)
    python benchmarks/input_pipeline.py --part=throughput  # (b)
    python benchmarks/input_pipeline.py --part=packing     # (c)

(a) resume: time from nothing to the first batch in hand, for a fresh
    start and for a resume at steps 10,000 and 100,000 of the demo run
    (demo:train:no_sentiment, T5 encoder-decoder rows, batch 16, lengths
    128/32), uncached and cached. The resumed batch is checked against the
    one an uninterrupted iterator yields at that step. Reaching step 100,000
    once means planning 100,000 batches; the states are kept in
    /tmp/flan_jax_bench_states.json so a second run skips that.
(b) throughput: examples/s of tokenising (uncached) and of reading the
    cache, and examples/s and tokens/s of mixing + packing + laying out
    rows, per host, for the demo run and for the shapes of the FLAN-T5-style
    run (rows 1024/256, batch 64) and the paper's run (prefix-LM rows of
    1280, batch 8, 16 hosts); next to the time one train step of those runs
    takes at 45% MFU on their hardware (model FLOPs from the gin models).
(c) packing: non-padding tokens / all tokens of 200 batches, for the FLAN
    2021 mixture on TFDS mock data and for the demo mixture, and seqio's own
    packing of the same examples in the same order as the peer.

The machine's load average is printed with every figure: on a shared
machine run it when idle.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # pylint: disable=g-import-not-at-top
import seqio  # pylint: disable=g-import-not-at-top
import tensorflow as tf  # pylint: disable=g-import-not-at-top

from flan_jax.data import example_cache  # pylint: disable=g-import-not-at-top
from flan_jax.train import input_pipeline  # pylint: disable=g-import-not-at-top

DEMO = "demo:train:no_sentiment"
DEMO_LENGTHS = {"inputs": 128, "targets": 32}
FLAN_LENGTHS = {"inputs": 1024, "targets": 256}
STATES_FILE = os.path.join(tempfile.gettempdir(),
                           "flan_jax_bench_states.json")


def load() -> str:
  return "load average %.2f %.2f %.2f" % os.getloadavg()


def encoder_decoder(lengths):
  return input_pipeline.packing_layout(seqio.EncDecFeatureConverter(pack=True),
                                       lengths)


def prefix_lm(lengths):
  return input_pipeline.packing_layout(
      seqio.PrefixLMFeatureConverter(pack=True), lengths)


# ---- (a) resume -------------------------------------------------------------


def _states(examples, layout, steps):
  """The data state after each of `steps` batches (planned, or from file)."""
  key = json.dumps([DEMO, examples.num_examples, layout.lengths, 16, 0,
                    input_pipeline.STATE_VERSION, input_pipeline.OVERSUPPLY])
  saved = {}
  if os.path.exists(STATES_FILE):
    with open(STATES_FILE) as f:
      saved = json.load(f).get(key, {})
  batches = input_pipeline.PackedBatches(examples, layout, batch_size=16,
                                         seed=0)
  done, started = 0, time.perf_counter()
  for step in sorted(steps):
    if str(step) in saved:
      continue
    batches.skip(step - done)
    done = step
    saved[str(step)] = batches.state()
    print(f"  planned {step:,} batches in {time.perf_counter() - started:.0f}"
          f" s ({done / (time.perf_counter() - started):,.0f} batches/s; "
          f"{load()})", flush=True)
  with open(STATES_FILE, "w") as f:
    json.dump({key: saved}, f)
  return {int(k): v for k, v in saved.items()}


def _first_batch_seconds(cache_dir, layout, state):
  """(seconds to get the examples, seconds from them to the first batch)."""
  started = time.perf_counter()
  examples = input_pipeline.mixture_examples(DEMO, cache_dir=cache_dir)
  loaded = time.perf_counter()
  batches = input_pipeline.PackedBatches(examples, layout, batch_size=16,
                                         seed=0, state=state)
  batch = next(batches)
  done = time.perf_counter()
  batches.close()
  return (loaded - started, done - loaded), batch


def resume(steps, rounds: int) -> None:
  print(f"(a) resume: {DEMO}, encoder-decoder rows 128/32, batch 16")
  layout = encoder_decoder(DEMO_LENGTHS)
  examples = input_pipeline.mixture_examples(DEMO)
  states = _states(examples, layout, steps)
  for step in steps:  # the resumed batch is the uninterrupted one
    expected = input_pipeline.PackedBatches(examples, layout, batch_size=16,
                                            seed=0, state=states[step])
    expected_batch, _ = expected.build()
    _, batch = _first_batch_seconds(None, layout, states[step])
    same = all(np.array_equal(batch[k], expected_batch[k]) for k in batch)
    print(f"  batch after step {step:,}: "
          f"{'identical to' if same else 'DIFFERENT from'} the planned order")
  cache_dir = tempfile.mkdtemp(prefix="flan_jax_bench_cache_")
  for task in examples.names:
    example_cache.write(seqio.get_mixture_or_task(task), "train", cache_dir)
  for label, directory in (("uncached", None), ("cached", cache_dir)):
    times = {s: [] for s in [0, *steps]}
    order = list(times)
    for round_ in range(rounds):
      # Interleaved, each in every position once: repeated builds in one
      # process slow down a little, and load changes; neither may favour one.
      for step in order[round_ % len(order):] + order[:round_ % len(order)]:
        times[step].append(_first_batch_seconds(
            directory, layout, states.get(step))[0])
    total = {s: [a + b for a, b in t] for s, t in times.items()}
    fresh = float(np.median(total[0]))
    fresh_batch = float(np.median([b for _, b in times[0]]))
    print(f"  {label}: fresh start {fresh:.2f} s to the first batch "
          f"(examples {np.median([a for a, _ in times[0]]):.2f} s, then "
          f"{1000 * fresh_batch:.1f} ms; median of {rounds}; {load()})")
    for step in steps:
      resumed = float(np.median(total[step]))
      batch = float(np.median([b for _, b in times[step]]))
      print(f"  {label}: resume at step {step:,}: {resumed:.2f} s = "
            f"{resumed / fresh:.2f}x the fresh start (examples "
            f"{np.median([a for a, _ in times[step]]):.2f} s, the same work "
            f"as a fresh start; then {1000 * batch:.1f} ms = "
            f"{batch / fresh_batch:.2f}x; {load()})")


# ---- (b) throughput -----------------------------------------------------------


def _step_seconds(gin_model: str, layout, batch: int, devices: int,
                  peak: float, mfu: float = 0.45) -> float:
  import gin  # pylint: disable=g-import-not-at-top
  from flan_jax.cli import gin_config  # pylint: disable=g-import-not-at-top
  from flan_jax.steps import builder  # pylint: disable=g-import-not-at-top
  gin.clear_config()
  gin_config.parse_gin(
      [os.path.join(gin_config.REPO_GIN_DIR, "models", f"{gin_model}.gin")])
  model = gin_config.model_macro()
  gin.clear_config()
  shapes = builder.model_input_shapes(
      model.feature_converter(pack=True), layout.lengths, batch)
  return model.train_flops(shapes) / (mfu * peak * devices)


def _packing_rate(examples, layout, batch_size, rows, seconds=10.0):
  batches = input_pipeline.PackedBatches(examples, layout,
                                         batch_size=batch_size, seed=0,
                                         rows=rows)
  count, tokens, examples_used = 0, 0, 0
  started = time.perf_counter()
  while time.perf_counter() - started < seconds:
    before = batches._order.state()  # pylint: disable=protected-access
    batch, after = batches.build()
    count += 1
    tokens += sum(int(np.count_nonzero(batch[k])) for k in
                  ("encoder_input_tokens", "decoder_target_tokens")
                  if k in batch)
    examples_used += (after["position"] - before["position"])
  elapsed = time.perf_counter() - started
  return count / elapsed, tokens / elapsed, examples_used / elapsed


def throughput() -> None:
  import tasks.demo  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  print("(b) throughput per host (one process on this machine)")
  tasks_ = [seqio.get_mixture_or_task(n) for n in
            input_pipeline.mixture_examples(DEMO).names]
  started = time.perf_counter()
  tokenised = example_cache.tokenize_many(tasks_, "train")
  seconds = time.perf_counter() - started
  count = sum(e.num_examples for e in tokenised)
  tokens = sum(len(e.tokens[f]) for e in tokenised for f in e.features)
  print(f"  tokenise {DEMO} (uncached): {count / seconds:,.0f} examples/s, "
        f"{tokens / seconds:,.0f} tokens/s ({count:,} examples in "
        f"{seconds:.1f} s; {load()})")
  cache_dir = tempfile.mkdtemp(prefix="flan_jax_bench_cache_")
  for task in tasks_:
    example_cache.write(task, "train", cache_dir)
  started = time.perf_counter()
  examples = input_pipeline.mixture_examples(DEMO, cache_dir=cache_dir,
                                             require_cache=True)
  seconds = time.perf_counter() - started
  print(f"  read the cache of {DEMO}: {count / seconds:,.0f} examples/s, "
        f"{tokens / seconds:,.0f} tokens/s ({seconds:.2f} s; {load()})")
  from flan_jax.train import mfu  # pylint: disable=g-import-not-at-top
  runs = [
      ("demo run (t5_demo, 1 CPU host)", encoder_decoder(DEMO_LENGTHS), 16,
       (0, 16), None),
      ("FLAN-T5-style (T5 base, TPU v3-8: 1 host, 8 cores)",
       encoder_decoder(FLAN_LENGTHS), 64, (0, 64),
       ("t5_1_1_base", 8, mfu.PEAK_FLOPS["TPU v3"][0])),
      ("paper (137B, TPU v3-128: 16 hosts, 128 cores)", prefix_lm(FLAN_LENGTHS),
       8, (0, 1), ("lamda_pt_137b", 128, mfu.PEAK_FLOPS["TPU v3"][0])),
  ]
  for label, layout, batch, rows, hardware in runs:
    batches_per_s, tokens_per_s, examples_per_s = _packing_rate(
        examples, layout, batch, rows)
    line = (f"  {label}: {examples_per_s:,.0f} examples/s, "
            f"{tokens_per_s:,.0f} tokens/s, {batches_per_s:.1f} batches/s "
            f"({1000 / batches_per_s:.1f} ms per batch of {batch} rows, "
            f"{rows[1] - rows[0]} built here)")
    if hardware:
      step = _step_seconds(hardware[0], layout, batch, hardware[1],
                           hardware[2])
      line += (f"; one train step at 45% MFU: {1000 * step:,.0f} ms -> the "
               f"pipeline is {step * batches_per_s:,.1f}x faster than the "
               "step")
    print(line + f" ({load()})", flush=True)


# ---- (c) packing ----------------------------------------------------------------


def _seqio_packing(examples, layout, converter, batches: int, batch_size):
  """seqio's packing of the same examples, drawn in the same order."""
  order = input_pipeline._Order(  # pylint: disable=protected-access
      examples, layout, batch_size, 0,
      input_pipeline.initial_state(len(examples.names)))
  picker = input_pipeline.PackedBatches(examples, layout,
                                        batch_size=batch_size, seed=0)
  refs = [ref for _ in range(batches) for row in order.next_rows()
          for ref in row]
  rows = [picker._tokens(ref) for ref in refs]  # pylint: disable=protected-access
  ds = tf.data.Dataset.from_generator(
      lambda: ({"inputs": i, "targets": t} for i, t in rows),
      output_signature={k: tf.TensorSpec([None], tf.int32)
                        for k in ("inputs", "targets")})
  packed = converter(ds, layout.lengths).batch(batch_size)
  return input_pipeline.packing_efficiency(list(packed.as_numpy_iterator()))


def _efficiency_lines(name, examples, runs, batches):
  for label, layout, converter, batch_size in runs:
    ours = input_pipeline.PackedBatches(examples, layout,
                                        batch_size=batch_size, seed=0)
    mine = input_pipeline.packing_efficiency(
        [ours.build()[0] for _ in range(batches)])
    theirs = _seqio_packing(examples, layout, converter, batches, batch_size)
    parts = ", ".join(f"{k.split('_')[0]} {100 * v:.1f}%"
                      for k, v in mine.items() if k != "overall")
    print(f"  {name}, {label}: {100 * mine['overall']:.1f}% ({parts}); "
          f"seqio packing of the same examples: "
          f"{100 * theirs['overall']:.1f}% ({load()})", flush=True)


def packing(batches: int) -> None:
  import tasks.demo  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  print(f"(c) packing efficiency: non-padding / all tokens, {batches} batches")
  runs = lambda lengths, batch: [
      (f"encoder-decoder rows {lengths['inputs']}/{lengths['targets']}, "
       f"batch {batch}", encoder_decoder(lengths),
       seqio.EncDecFeatureConverter(pack=True), batch),
      (f"prefix-LM rows {lengths['inputs'] + lengths['targets']}, batch "
       f"{batch}", prefix_lm(lengths),
       seqio.PrefixLMFeatureConverter(pack=True), batch)]
  _efficiency_lines(DEMO, input_pipeline.mixture_examples(DEMO),
                    runs(DEMO_LENGTHS, 16), batches)
  sys.path.insert(0, os.path.join(ROOT, "tests", "tasks", "flan2021"))
  import mock_helpers  # pylint: disable=g-import-not-at-top
  import tasks.flan2021  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  name = "flan2021:train:all"
  with mock_helpers.preloaded_tfds([name], splits=("train",),
                                   num_examples=64):
    examples = input_pipeline.mixture_examples(name)
  print(f"  ({name} on TFDS mock data: {len(examples.names)} tasks, 64 "
        "random examples each)")
  _efficiency_lines(name, examples, runs(FLAN_LENGTHS, 8), batches)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--part", choices=("resume", "throughput", "packing",
                                         "all"), default="all")
  parser.add_argument("--resume_steps", default="10000,100000")
  parser.add_argument("--rounds", type=int, default=5)
  parser.add_argument("--batches", type=int, default=200)
  args = parser.parse_args()
  print(f"machine: {os.cpu_count()} CPUs; {load()}")
  if args.part in ("resume", "all"):
    import tasks.demo  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
    resume([int(s) for s in args.resume_steps.split(",")], args.rounds)
  if args.part in ("throughput", "all"):
    throughput()
  if args.part in ("packing", "all"):
    packing(args.batches)


if __name__ == "__main__":
  main()
