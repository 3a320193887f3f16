r"""Option log-likelihoods: flan_jax's fast scoring vs lm-evaluation-harness.

    pip install -e ".[benchmark]"
    python benchmarks/score_vs_lm_eval.py                 # builds a tiny model
    python benchmarks/score_vs_lm_eval.py --hf_dir=/path/to/llama_like_model

Takes a local Hugging Face causal LM directory (config.json, safetensors,
tokenizer.json), or builds a tiny random `LlamaForCausalLM` with its own
tokenizer when none is given, and a multiple-choice task: the demo suite's
classification datasets (`--task`, rendered by its template; each option is a
continuation " <option>" of the prompt). Then, on the same examples:

* lm-evaluation-harness (`lm_eval.models.huggingface.HFLM`, float32 on CPU)
  answers one `loglikelihood` request per (prompt, option);
* flan_jax converts the same directory to a checkpoint
  (`flan_jax.checkpoints.hf_conversion.convert_to_checkpoint`, as
  scripts/convert_hf.py does),
  restores it as the eval job does, and scores every example's options in one
  `score_options` call per batch, the prompt computed once per example;
* and the same requests through flan_jax's own harness model
  (`flan_jax.evaluation.lm_eval_backend.FlanJaxLM.loglikelihood`, what
  scripts/lm_eval_harness.py runs): its own tokenisation, requests grouped
  by context, `is_greedy` computed too.

Both see the very same token ids: the harness's own context/continuation
split is used for both. flan_jax's decoder starts every sequence with token
id 0, so the tokenizer this script builds puts BOS at id 0 and the harness
adds BOS; with a model of your own, pass one whose BOS id is 0 or read the
difference accordingly. Prints the largest |Δ log-likelihood| over all
options and the examples/s of each side (after one warm-up pass each, so
JIT compilation and the harness's first batch are not counted) and their
ratio. The two sides are timed alternately and each reports the median.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # pylint: disable=g-import-not-at-top


def parse_args(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--hf_dir", default=None,
                      help="local HF causal LM dir (default: build a tiny one)")
  parser.add_argument("--task", default="demo:nli_traits:t0:score",
                      help="a rank-classification seqio task")
  parser.add_argument("--split", default="train",
                      help="train: enough examples for steady timings")
  parser.add_argument("--examples", type=int, default=500,
                      help="at most this many (demo splits: train 2,000, "
                      "validation and test 100)")
  parser.add_argument("--repeats", type=int, default=7,
                      help="timed runs per side; the median is reported")
  parser.add_argument("--batch_size", type=int, default=32,
                      help="option rows per forward pass, both sides")
  parser.add_argument("--hidden", type=int, default=64)
  parser.add_argument("--layers", type=int, default=2)
  return parser.parse_args(argv)


# --- data ----------------------------------------------------------------------------


def multiple_choice_examples(task_name: str, split: str, limit: int):
  """[(prompt, [option, ...], correct index)] from a demo scoring task."""
  import seqio  # pylint: disable=g-import-not-at-top
  import tasks.demo  # pylint: disable=g-import-not-at-top,unused-import
  from flan_jax.evaluation import examples as examples_lib  # pylint: disable=g-import-not-at-top
  task = seqio.get_mixture_or_task(task_name)
  rows = examples_lib.load_examples(task, split, max_examples=limit)
  if not examples_lib.has_option_rows(rows):
    raise SystemExit(f"{task_name} is not a rank-classification task")
  out = []
  for example in examples_lib.group_options(rows):
    options = [r["targets_pretokenized"].decode() for r in example.rows]
    correct = [bool(r["is_correct"]) for r in example.rows].index(True)
    out.append((example.rows[0]["inputs_pretokenized"].decode(), options,
                correct))
  return out


# --- a tiny model of our own ---------------------------------------------------------


def build_tiny_llama(directory: str, texts, hidden: int, layers: int) -> str:
  """A random LlamaForCausalLM and a word-piece tokenizer (BOS = id 0)."""
  import torch  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top
  from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers  # pylint: disable=g-import-not-at-top

  specials = ["<s>", "</s>", "<unk>", "<pad>"]  # BOS must be id 0 (see top)
  tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
  tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
  tokenizer.train_from_iterator(
      texts, trainers.BpeTrainer(vocab_size=512, special_tokens=specials))
  tokenizer.post_processor = processors.TemplateProcessing(
      single="<s> $A", special_tokens=[("<s>", 0)])
  from tokenizers import decoders  # pylint: disable=g-import-not-at-top
  tokenizer.decoder = decoders.Metaspace()
  fast = transformers.PreTrainedTokenizerFast(
      tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>",
      unk_token="<unk>", pad_token="<pad>")
  fast.save_pretrained(directory)
  config = transformers.LlamaConfig(
      vocab_size=tokenizer.get_vocab_size(), hidden_size=hidden,
      intermediate_size=hidden * 3, num_hidden_layers=layers,
      num_attention_heads=4, num_key_value_heads=2, head_dim=hidden // 4,
      max_position_embeddings=1024, bos_token_id=0, eos_token_id=1,
      pad_token_id=3, tie_word_embeddings=False, rms_norm_eps=1e-6)
  torch.manual_seed(0)
  model = transformers.LlamaForCausalLM(config).to(torch.float32)
  with torch.no_grad():  # larger logits than the default init: a sterner test
    for p in model.parameters():
      p.mul_(4.0)
  model.save_pretrained(directory, safe_serialization=True)
  return directory


# --- the two sides ------------------------------------------------------------------


def harness_requests(lm, examples):
  from lm_eval.api.instance import Instance  # pylint: disable=g-import-not-at-top
  requests = []
  for i, (prompt, options, _) in enumerate(examples):
    for k, option in enumerate(options):
      requests.append(Instance(request_type="loglikelihood", doc={"i": i},
                               arguments=(prompt, " " + option), idx=k))
  return requests


def harness_scores(lm, requests):
  return np.array([ll for ll, _ in lm.loglikelihood(requests,
                                                    disable_tqdm=True)])


def flan_jax_examples(lm, examples):
  """OptionExamples from the harness's own tokenisation of each request."""
  from flan_jax.evaluation import examples as examples_lib  # pylint: disable=g-import-not-at-top
  out = []
  for i, (prompt, options, _) in enumerate(examples):
    context, targets = None, []
    for option in options:
      ctx, cont = lm._encode_pair(prompt, " " + option)  # pylint: disable=protected-access
      if ctx[0] != 0:
        raise SystemExit("the tokenizer must add BOS with id 0 (see --help)")
      ctx = ctx[1:]  # flan_jax's decoder puts its own id 0 first
      if context is not None and ctx != context:
        raise SystemExit(f"example {i}: options change the prompt's tokens")
      context = ctx
      targets.append(np.asarray(cont, np.int32))
    out.append(examples_lib.OptionExample(i, np.asarray(context, np.int32),
                                       targets, []))
  return out


def import_model(hf_dir: str, partitioner):
  """Our model and parameters, the way a user gets them: the converter behind
  scripts/convert_hf.py writes an orbax checkpoint, which the eval job's
  loader restores."""
  from flan_jax.checkpoints import hf_conversion  # pylint: disable=g-import-not-at-top
  from flan_jax.checkpoints import loading  # pylint: disable=g-import-not-at-top
  from flan_jax.models import decoder_only  # pylint: disable=g-import-not-at-top
  from flan_jax.models import hf  # pylint: disable=g-import-not-at-top
  step_dir = hf_conversion.convert_to_checkpoint(
      hf_dir, os.path.join(tempfile.mkdtemp(prefix="converted_"), "run"))
  config, _ = hf.load_hf(hf_dir)
  model = decoder_only.DecoderOnlyModel(config, prefix_lm=False)
  directory, step = loading.resolve_checkpoint(step_dir)
  return model, loading.load_params(model, directory, step, partitioner)


def timed_sides(sides, repeats: int):
  """Runs each side once (warm-up: compilation, caches), then `repeats`
  times each, in turn, so a change in machine speed hits all alike. Returns
  each side's result, then each side's median seconds."""
  results = [fn() for fn in sides]
  seconds = [[] for _ in sides]
  for _ in range(repeats):
    for side, fn in enumerate(sides):
      started = time.perf_counter()
      results[side] = fn()
      seconds[side].append(time.perf_counter() - started)
  return (*results, *(float(np.median(s)) for s in seconds))


def harness_backend(runner, hf_dir: str):
  """flan_jax's lm-evaluation-harness model over the same runner, with the
  directory's tokenizer.json as its vocabulary."""
  from flan_jax.data import vocab  # pylint: disable=g-import-not-at-top
  from flan_jax.evaluation import lm_eval_backend  # pylint: disable=g-import-not-at-top
  vocabulary = vocab.TokenizersVocabulary(os.path.join(hf_dir,
                                                       "tokenizer.json"))
  return lm_eval_backend.FlanJaxLM(runner, vocabulary)


def main(argv=None):
  args = parse_args(argv)
  import torch  # pylint: disable=g-import-not-at-top
  from lm_eval.models.huggingface import HFLM  # pylint: disable=g-import-not-at-top
  from flan_jax.parallel import partitioning  # pylint: disable=g-import-not-at-top
  from flan_jax.evaluation import runner  # pylint: disable=g-import-not-at-top

  examples = multiple_choice_examples(args.task, args.split, args.examples)
  hf_dir = args.hf_dir
  if hf_dir is None:
    texts = [p for p, _, _ in examples] + [o for _, os_, _ in examples
                                           for o in os_]
    hf_dir = build_tiny_llama(tempfile.mkdtemp(prefix="tiny_llama_"), texts,
                              args.hidden, args.layers)
  partitioner = partitioning.Partitioner()
  model, params = import_model(hf_dir, partitioner)
  runner = runner.ModelRunner(model, params, partitioner, args.batch_size)

  lm = HFLM(pretrained=hf_dir, backend="causal", device="cpu",
            dtype=torch.float32, batch_size=args.batch_size)
  requests = harness_requests(lm, examples)
  ours_examples = flan_jax_examples(lm, examples)
  backend = harness_backend(runner, hf_dir)
  theirs, scores, backend_scores, their_seconds, our_seconds, backend_seconds = (
      timed_sides([lambda: harness_scores(lm, requests),
                   lambda: runner.option_scores(ours_examples),
                   lambda: harness_scores(backend, requests)], args.repeats))
  ours = np.concatenate(scores)

  delta = np.abs(ours - theirs)
  n = len(examples)
  agree = np.mean([np.argmax(s) == np.argmax(theirs[j:j + len(s)]) for s, j in
                   zip(scores, np.cumsum([0] + [len(s) for s in scores])[:-1])])
  print(f"model: {hf_dir}")
  print(f"task: {args.task} ({args.split}), {n} examples, {len(ours)} options, "
        f"mean log-likelihood {theirs.mean():.3f}")
  print(f"max |Δ log-likelihood| per option: {delta.max():.2e} "
        f"(mean {delta.mean():.2e}); same argmax on {100 * agree:.1f}% of "
        "examples")
  print(f"lm-evaluation-harness (HF, torch CPU): {n / their_seconds:8.1f} "
        f"examples/s ({their_seconds:.2f} s)")
  print(f"flan_jax score_options (JAX CPU):      {n / our_seconds:8.1f} "
        f"examples/s ({our_seconds:.2f} s)")
  print(f"flan_jax harness model (lm_eval API):  {n / backend_seconds:8.1f} "
        f"examples/s ({backend_seconds:.2f} s), max |Δ| to the harness "
        f"{np.abs(backend_scores - theirs).max():.2e}")
  # What bounds the ratio: the tokens each side runs through the model (the
  # harness: every option's request, prompt included; flan_jax: the prompt
  # once per example plus every option) times the speed per token.
  their_tokens = sum(len(lm.tok_encode(r.args[0] + r.args[1]))
                     for r in requests)
  our_tokens = sum(1 + len(e.inputs) + sum(map(len, e.options))
                   for e in ours_examples)
  fewer = their_tokens / our_tokens
  per_token = (our_tokens / our_seconds) / (their_tokens / their_seconds)
  print(f"tokens through the model: harness {their_tokens:,}, flan_jax "
        f"{our_tokens:,} ({fewer:.1f}x fewer)")
  print(f"tokens/s: harness {their_tokens / their_seconds:,.0f}, flan_jax "
        f"{our_tokens / our_seconds:,.0f} ({per_token:.2f}x per token); "
        f"speed ratio = {fewer:.1f} x {per_token:.2f}")
  print(f"speed ratio flan_jax / harness: {their_seconds / our_seconds:.1f}x "
        f"(score_options), {their_seconds / backend_seconds:.1f}x (the "
        "harness model)")
  return delta.max(), their_seconds / our_seconds


if __name__ == "__main__":
  main()
