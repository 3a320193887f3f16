"""lm-evaluation-harness on flan_jax checkpoints, against the harness's HF backend.

One local YAML task over JSON files written here runs through
scripts/lm_eval_harness.py (the harness's own CLI, two CPU devices). Its
`acc` must equal our eval job's accuracy on the same examples, and its
log-likelihoods the harness's Hugging Face backend (HFLM) on the same
checkpoint exported with our exporter, within 1e-3. The backend's other
requests (rolling log-likelihood, generation, encoder-decoders) are checked
against HFLM directly.
"""

import glob
import json
import os
import subprocess
import sys

import flax.linen as nn
import jax
import numpy as np
import pytest
import seqio

from flan_jax.checkpoints import checkpointer
from flan_jax.checkpoints import hf_conversion
from flan_jax.data import rank_classification
from flan_jax.data import vocab as vocab_lib
from flan_jax.data.templates import Template
from flan_jax.evaluation import job
from flan_jax.models import decoder
from flan_jax.models import decoder_only
from flan_jax.models import encoder_decoder
from flan_jax.models import hf_config
from flan_jax.models import t5
from flan_jax.parallel import partitioning

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
TASK = "flan_jax_agreement"
COLOURS = ["red", "green", "blue", "yellow"]
THINGS = ["grass", "the sky", "a lemon", "a tomato", "a leaf", "the sea",
          "a banana", "a cherry", "a lime", "a sapphire", "a canary", "blood"]
ANSWERS = [1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0]


def _docs():
  return [{"question": f"Question: what colour is {thing}?\nAnswer:",
           "choices": COLOURS if i % 3 else COLOURS[:3] + ["light green"],
           "label": ANSWERS[i] % (4 if i % 3 else 3)}
          for i, thing in enumerate(THINGS)]


def _tokenizer(directory, texts, *, append_eos=False):
  """A word-piece tokenizer: <s> = 0 (flan_jax's start token), </s> = 1."""
  import transformers  # pylint: disable=g-import-not-at-top
  from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers  # pylint: disable=g-import-not-at-top
  tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
  tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
  tokenizer.decoder = decoders.Metaspace()
  tokenizer.train_from_iterator(texts, trainers.BpeTrainer(
      vocab_size=160, special_tokens=["<s>", "</s>", "<unk>", "<pad>"]))
  if append_eos:  # T5: the encoder input ends with EOS
    tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", 1)])
  else:  # decoders: BOS first
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", 0)])
  transformers.PreTrainedTokenizerFast(
      tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>",
      unk_token="<unk>", pad_token="<pad>").save_pretrained(directory)
  return str(directory), tokenizer.get_vocab_size()


def _save(model, params, model_dir):
  saver = checkpointer.Checkpointer(os.path.join(model_dir, "checkpoints"),
                                    async_save=False)
  saver.save_params(0, params, {})
  saver.close()
  return os.path.join(model_dir, "checkpoints", "0")


def _random_params(model, shapes, seed):
  params = nn.unbox(jax.jit(lambda r: model.init_variables(r, shapes)[
      "params"])(jax.random.key(seed)))
  # Larger than the default init, so options differ by more than rounding.
  return jax.tree.map(lambda p: p * 3.0, params)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
  root = tmp_path_factory.mktemp("harness")
  docs = _docs()
  texts = [d["question"] for d in docs] + [" ".join(COLOURS), "light green"]
  tok_dir, vocab_size = _tokenizer(root / "tokenizer", texts * 4)
  config = decoder.DecoderConfig(vocab_size=vocab_size, d_model=32,
                                 num_layers=2, num_heads=4, num_kv_heads=2,
                                 head_dim=8, d_ff=48)
  model = decoder_only.DecoderOnlyModel(config, prefix_lm=False)
  params = _random_params(model, {"decoder_input_tokens": (1, 8)}, 0)
  step_dir = _save(model, params, str(root / "run"))
  hf_dir = hf_conversion.export_checkpoint(model, step_dir, str(root / "hf"),
                                           tokenizer_dir=tok_dir)
  gin_file = root / "model.gin"
  gin_file.write_text(hf_config.gin_model_file(
      config, model_fields={"prefix_lm": False, "eos_id": 1}))
  (root / "data").mkdir()
  (root / "data" / "docs.json").write_text(
      "\n".join(json.dumps(d) for d in docs))
  (root / "tasks").mkdir()
  # A harness task in its YAML format, over the local JSON lines file.
  (root / "tasks" / f"{TASK}.yaml").write_text(
      f"task: {TASK}\n"
      "dataset_path: json\n"
      "dataset_kwargs:\n"
      "  data_files:\n"
      f"    test: {root / 'data' / 'docs.json'}\n"
      "test_split: test\n"
      "output_type: multiple_choice\n"
      "doc_to_text: '{{question}}'\n"
      "doc_to_choice: '{{choices}}'\n"
      "doc_to_target: label\n"
      "metric_list:\n"
      "  - metric: acc\n"
      "  - metric: acc_norm\n")
  return {"root": root, "model": model, "run": str(root / "run"),
          "hf_dir": hf_dir, "tok_dir": tok_dir, "gin_file": str(gin_file),
          "docs": docs}


def _env(root):
  return {**os.environ, "PYTHONPATH": ROOT, "HF_DATASETS_OFFLINE": "1",
          "HF_HUB_OFFLINE": "1", "HF_HOME": str(root / "hf_home"),
          "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
          "FLAN_JAX_SPM_PATH": str(root / "tokenizer")}


@pytest.fixture(scope="module")
def ours(setup):
  """The task through scripts/lm_eval_harness.py: (results, samples)."""
  root = setup["root"]
  out = root / "ours"
  done = subprocess.run(
      [sys.executable, os.path.join(ROOT, "scripts", "lm_eval_harness.py"),
       f"--gin_file={setup['gin_file']}", f"--checkpoint={setup['run']}",
       f"--vocabulary={setup['tok_dir']}", "--tasks", TASK,
       "--include_path", str(root / "tasks"), "--output_path", str(out),
       "--log_samples", "--batch_size", "8"],
      capture_output=True, text=True, check=False, env=_env(root),
      timeout=600)
  assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
  assert TASK in done.stdout  # the harness's own results table
  (results,) = glob.glob(str(out / "**" / "results_*.json"), recursive=True)
  (samples,) = glob.glob(str(out / "**" / f"samples_{TASK}_*.jsonl"),
                         recursive=True)
  with open(results) as f:
    results = json.load(f)
  with open(samples) as f:
    samples = [json.loads(line) for line in f]
  return results, sorted(samples, key=lambda s: s["doc_id"])


def _hflm(hf_dir, **kwargs):
  import torch  # pylint: disable=g-import-not-at-top
  from lm_eval.models.huggingface import HFLM  # pylint: disable=g-import-not-at-top
  return HFLM(pretrained=hf_dir, device="cpu", dtype=torch.float32,
              batch_size=8, **kwargs)


def test_harness_loglikelihoods_equal_the_hf_backend_on_the_export(setup, ours):
  import lm_eval  # pylint: disable=g-import-not-at-top
  from lm_eval.tasks import TaskManager  # pylint: disable=g-import-not-at-top
  results, samples = ours
  os.environ.update({"HF_DATASETS_OFFLINE": "1",
                     "HF_HOME": str(setup["root"] / "hf_home")})
  theirs = lm_eval.simple_evaluate(
      model=_hflm(setup["hf_dir"]), tasks=[TASK], log_samples=True,
      task_manager=TaskManager(include_path=str(setup["root"] / "tasks"),
                               include_defaults=False))  # skip a 10 s index
  their_samples = sorted(theirs["samples"][TASK], key=lambda s: s["doc_id"])
  assert len(their_samples) == len(samples) == len(setup["docs"])
  ours_ll = [float(r[0]) for s in samples for r in s["filtered_resps"]]
  their_ll = [float(r[0]) for s in their_samples for r in s["filtered_resps"]]
  assert len(ours_ll) == sum(len(d["choices"]) for d in setup["docs"])
  np.testing.assert_allclose(ours_ll, their_ll, atol=1e-3)
  assert max(abs(a - b) for a, b in zip(ours_ll, their_ll)) < 1e-3
  assert np.std(ours_ll) > 1.0  # a model that tells the options apart
  mine, hers = results["results"][TASK], theirs["results"][TASK]
  assert mine["acc,none"] == pytest.approx(hers["acc,none"])
  assert mine["acc_norm,none"] == pytest.approx(hers["acc_norm,none"])


def test_harness_acc_equals_our_eval_job_on_the_same_examples(setup, ours,
                                                               tmp_path):
  results, _ = ours
  docs = setup["docs"]
  vocabulary = vocab_lib.tokenizers_vocabulary(
      os.path.join(setup["tok_dir"], "tokenizer.json"))

  def source_fn(split, shuffle_files=False, seed=None):
    del split, shuffle_files, seed
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    return tf.data.Dataset.from_generator(
        lambda: ({"question": d["question"], "options": d["choices"],
                  "answer": d["choices"][d["label"]]} for d in docs),
        output_signature={"question": tf.TensorSpec([], tf.string),
                          "options": tf.TensorSpec([None], tf.string),
                          "answer": tf.TensorSpec([], tf.string)})

  # The harness scores " <choice>" after the question, with no EOS: a task
  # whose targets are the bare option and whose features add no EOS.
  features = {name: seqio.Feature(vocabulary, add_eos=False)
              for name in ("inputs", "targets")}
  name = "test_harness:agreement:t0:score"
  seqio.TaskRegistry.remove(name)
  seqio.TaskRegistry.add(
      name, source=seqio.FunctionDataSource(source_fn, splits=("test",)),
      preprocessors=[rank_classification.expand_options(
          Template("{question}", "{answer}"), "answer"),
                     seqio.preprocessors.tokenize],
      output_features=features,
      metric_fns=[rank_classification.rank_classification_accuracy],
      postprocess_fn=rank_classification.option_row_postprocessor)
  evaluated = job.evaluate(
      model=setup["model"], checkpoint=setup["run"], mixture_or_task_name=name,
      output_dir=str(tmp_path), selection_split=None, batch_size=8)
  task = evaluated["tasks"][name]
  harness = results["results"][TASK]
  assert task["n"] == len(docs)
  assert harness["acc,none"] == pytest.approx(
      task["metrics"]["accuracy"] / 100, abs=1e-9)
  assert harness["acc_norm,none"] == pytest.approx(
      task["metrics"]["accuracy_char_norm"] / 100, abs=1e-9)
  assert harness["acc_stderr,none"] == pytest.approx(
      task["stderr"]["accuracy"] / 100, abs=1e-9)
  assert 0 < harness["acc,none"] < 1


def _instances(kind, args):
  from lm_eval.api.instance import Instance  # pylint: disable=g-import-not-at-top
  return [Instance(request_type=kind, doc={}, arguments=a, idx=i)
          for i, a in enumerate(args)]


def _backend(model, params, tok_dir, **kwargs):
  from flan_jax.evaluation import lm_eval_backend  # pylint: disable=g-import-not-at-top
  from flan_jax.evaluation import runner as runner_lib  # pylint: disable=g-import-not-at-top
  runner = runner_lib.ModelRunner(model, params, partitioning.Partitioner(), 8)
  vocabulary = vocab_lib.TokenizersVocabulary(
      os.path.join(tok_dir, "tokenizer.json"))
  return lm_eval_backend.FlanJaxLM(runner, vocabulary, **kwargs)


def test_rolling_loglikelihood_and_generation_equal_the_hf_backend(setup):
  from flan_jax.checkpoints import loading  # pylint: disable=g-import-not-at-top
  model = setup["model"]
  params = loading.load_params(model, os.path.join(setup["run"],
                                                   "checkpoints"), 0)
  ours = _backend(model, params, setup["tok_dir"], max_length=24)
  # Without BOS in the text, HFLM's windows start from its BOS (id 0): ours.
  theirs = _hflm(setup["hf_dir"], add_bos_token=False, max_length=24)
  texts = [setup["docs"][0]["question"] * 3, "red green blue"]
  rolling = _instances("loglikelihood_rolling", [(t,) for t in texts])
  np.testing.assert_allclose(ours.loglikelihood_rolling(rolling),
                             theirs.loglikelihood_rolling(rolling), atol=1e-3)
  gen = _instances("generate_until", [
      (d["question"], {"until": ["\n"], "max_gen_toks": 6,
                       "do_sample": False}) for d in setup["docs"][:3]])
  with_bos = _hflm(setup["hf_dir"])
  assert ours.generate_until(gen) == with_bos.generate_until(gen)
  _assert_greedy_continuations_are_greedy(ours, with_bos,
                                          setup["docs"][1]["question"])


def test_encoder_decoder_loglikelihoods_and_greedy_equal_the_hf_backend(
    setup, tmp_path):
  texts = [d["question"] for d in setup["docs"]] + COLOURS
  tok_dir, vocab_size = _tokenizer(tmp_path / "t5_tokenizer", texts * 4,
                                   append_eos=True)
  config = t5.T5Config(vocab_size=vocab_size, d_model=32, num_heads=4,
                       head_dim=8, d_ff=48, num_encoder_layers=2,
                       num_decoder_layers=2)
  model = encoder_decoder.EncoderDecoderModel(config)
  params = _random_params(model, {"encoder_input_tokens": (1, 8),
                                  "decoder_input_tokens": (1, 8)}, 1)
  step_dir = _save(model, params, str(tmp_path / "t5_run"))
  hf_dir = hf_conversion.export_checkpoint(model, step_dir,
                                           str(tmp_path / "t5_hf"),
                                           tokenizer_dir=tok_dir)
  ours = _backend(model, params, tok_dir)
  theirs = _hflm(hf_dir, backend="seq2seq")
  # transformers 5 forces T5's tie_word_embeddings to True and HFLM calls
  # model.tie_weights(), which replaces an untied (T5 v1.1, FLAN-T5) output
  # layer by the embedding. Put the checkpoint's own output layer back.
  import torch  # pylint: disable=g-import-not-at-top
  from safetensors.torch import load_file  # pylint: disable=g-import-not-at-top
  lm_head = load_file(os.path.join(hf_dir, "model.safetensors"))[
      "lm_head.weight"]
  assert not torch.equal(theirs.model.lm_head.weight, lm_head)
  theirs.model.lm_head.weight = torch.nn.Parameter(lm_head)
  _assert_same_answers(ours, theirs, setup["docs"][:4], setup["docs"][:2],
                       max_gen_toks=4)
  _assert_greedy_continuations_are_greedy(ours, theirs,
                                          setup["docs"][0]["question"])


# Qwen3 and Gemma 3 (local and global layers, a window shorter than the
# questions) through the same backend: the families' own features, exported.
NEW_DECODERS = {
    "qwen3": dict(qk_norm=True, family="qwen3", tie_word_embeddings=True),
    "gemma3": dict(qk_norm=True, family="gemma3_text", norm_plus_one=True,
                   post_norms=True, scale_embeddings=True,
                   mlp_activation="gelu_tanh", query_pre_attn_scalar=8.0,
                   sliding_window=4, rope_local_theta=1e3,
                   layer_types=("sliding_attention", "full_attention"),
                   final_logit_softcap=30.0, tie_word_embeddings=True),
}


@pytest.mark.parametrize("family", sorted(NEW_DECODERS))
def test_qwen3_and_gemma3_loglikelihoods_and_greedy_equal_the_hf_backend(
    setup, family, tmp_path):
  config = decoder.DecoderConfig(
      vocab_size=setup["model"].config.vocab_size, d_model=32, num_layers=3,
      num_heads=4, num_kv_heads=2, head_dim=8, d_ff=48,
      **NEW_DECODERS[family])
  model = decoder_only.DecoderOnlyModel(config, prefix_lm=False, eos_id=1)
  params = _random_params(model, {"decoder_input_tokens": (1, 8)}, 2)
  step_dir = _save(model, params, str(tmp_path / "run"))
  hf_dir = hf_conversion.export_checkpoint(model, step_dir,
                                           str(tmp_path / "hf"),
                                           tokenizer_dir=setup["tok_dir"])
  ours = _backend(model, params, setup["tok_dir"])
  theirs = _hflm(hf_dir)
  _assert_same_answers(ours, theirs, setup["docs"][:3], setup["docs"][:2],
                       max_gen_toks=6)


def _assert_same_answers(ours, theirs, scored, generated, max_gen_toks):
  """Both backends give the same log-likelihoods (within 1e-3) and greedy
  flags for every choice of the `scored` docs, and the same greedy
  generations for the `generated` docs' questions."""
  requests = _instances("loglikelihood", [
      (d["question"], " " + c) for d in scored for c in d["choices"]])
  mine, hers = ours.loglikelihood(requests), theirs.loglikelihood(requests)
  np.testing.assert_allclose([m[0] for m in mine], [h[0] for h in hers],
                             atol=1e-3)
  assert [m[1] for m in mine] == [h[1] for h in hers]
  gen = _instances("generate_until", [
      (d["question"], {"until": ["\n"], "max_gen_toks": max_gen_toks,
                       "do_sample": False}) for d in generated])
  assert ours.generate_until(gen) == theirs.generate_until(gen)


def _assert_greedy_continuations_are_greedy(ours, theirs, question):
  """The model's own greedy tokens score as greedy, on both sides."""
  context = ours.tok_encode(question)
  rows = [{"inputs": ours._model_context(context, 4),  # pylint: disable=protected-access
           "targets": np.asarray([1], np.int32)}]
  runner = ours._generator({"max_decode_length": 4})  # pylint: disable=protected-access
  tokens = runner.predict(rows, 4)[0].tolist()
  greedy = tokens[:tokens.index(1) + 1] if 1 in tokens else tokens
  changed = greedy[:-1] + [greedy[-1] % 100 + 2]  # a different last token
  assert changed != greedy
  for cont, expected in ((greedy, True), (changed, False)):
    (mine,) = ours._loglikelihood_tokens([((None, None), context, cont)])  # pylint: disable=protected-access
    (hers,) = theirs._loglikelihood_tokens(  # pylint: disable=protected-access
        [(("x", "y"), theirs.tok_encode(question), cont)])
    assert mine[1] is expected and hers[1] is expected
    assert mine[0] == pytest.approx(hers[0], abs=1e-3)


def test_script_flags_and_mistakes_are_one_line(setup, capsys):
  from flan_jax.cli import lm_eval_harness  # pylint: disable=g-import-not-at-top
  ours, rest = lm_eval_harness.split_args(
      ["--gin_file=a.gin", "--gin.X=1", "--checkpoint=/c", "--tasks", "t",
       "--limit", "3"])
  assert ours.gin_file == ["a.gin"] and ours.gin_bindings == ["X = 1"]
  assert ours.checkpoint == "/c" and rest == ["--tasks", "t", "--limit", "3"]
  for argv, message in (
      (["--model", "hf", "--tasks", TASK], "always runs the flan_jax model"),
      ([f"--gin_file={setup['gin_file']}", "--tasks", TASK],
       "--checkpoint is required"),
      ([f"--gin_file={setup['gin_file']}", "--tasks", TASK,
        f"--checkpoint={setup['root'] / 'nowhere'}"], "does not exist")):
    assert lm_eval_harness.main(argv) == (2 if "--model" in argv else 1)
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("lm_eval_harness: ") and message in line
