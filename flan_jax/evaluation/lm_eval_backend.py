"""flan_jax as an lm-evaluation-harness model: harness tasks on a checkpoint.

`FlanJaxLM` implements the harness's `LM` interface over a `ModelRunner`,
so the harness's tasks (its own, or local YAML tasks) score a flan_jax
checkpoint of either model family. `scripts/lm_eval_harness.py` builds it
from gin and a checkpoint and runs the harness's own command line; the
harness finds the model by the name `flan_jax` (`register_builder` tells
this module how to build it). Only this module imports `lm_eval`.

    loglikelihood          (context, continuation) -> (log p, is_greedy).
                           Requests are tokenized with the model's
                           vocabulary, split the harness's way
                           (`TemplateLM._encode_pair`), then every request
                           that shares a context becomes one option example:
                           the context is computed once for all of its
                           continuations (`ModelRunner.option_scores`:
                           option trees for decoders, one encoding for
                           encoder-decoders). E.g. a 4-way multiple choice
                           question is one row holding the prompt once.
    loglikelihood_rolling  a document's log p, in windows of `max_length`
                           tokens (the harness's own window helpers), all
                           windows of all documents batched together.
    generate_until         KV-cache decoding (greedy, or sampling when the
                           request asks `do_sample`), at most `max_gen_toks`
                           tokens, cut at the first stop sequence.

Token conventions (what "log p of a continuation" conditions on):

    decoder-only     [0, context..., continuation...]: the model's start
                     token 0 plays BOS; the context has no EOS. The same
                     numbers as the harness's HF backend on the exported
                     model when its tokenizer adds a BOS of id 0.
    encoder-decoder  encoder [context..., EOS], decoder [continuation...]
                     (T5's convention, as the harness's seq2seq HF backend
                     with a T5 tokenizer).

Contexts longer than `max_length` lose their oldest tokens. Token id 0 is
padding in flan_jax, so text that encodes to id 0 is refused.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from typing import Any, Callable, Sequence

import numpy as np
import seqio

import lm_eval.models  # pylint: disable=unused-import  (keeps "hf" & co. known)
from lm_eval import utils as lm_eval_utils
from lm_eval.api import model as lm_eval_model
from lm_eval.api import registry as lm_eval_registry

from flan_jax import errors
from flan_jax.evaluation import examples as examples_lib
from flan_jax.evaluation import runner as runner_lib

log = logging.getLogger("flan_jax")

MODEL_NAME = "flan_jax"
DEFAULT_MAX_LENGTH = 2048
DEFAULT_MAX_GEN_TOKS = 256
_NO_PREFIX = -1  # stands for the model's own start token in rolling windows

Builder = Callable[..., "FlanJaxLM"]
_BUILDER: list[Builder] = []


def register_builder(build: Builder) -> None:
  """How the harness gets a `FlanJaxLM` when a run names `--model flan_jax`:
  `build(**model_args, batch_size=..., max_batch_size=..., device=...)`."""
  _BUILDER[:] = [build]


class BackendError(errors.FlanJaxError, ValueError):
  """A request or setting the flan_jax backend cannot serve."""


@lm_eval_registry.register_model(MODEL_NAME)
class FlanJaxLM(lm_eval_model.TemplateLM):
  """A flan_jax model and its parameters as an lm-evaluation-harness LM.

  Args:
    runner: the model, its parameters and partitioner (`ModelRunner`).
    vocabulary: the vocabulary the model was trained with.
    max_length: longest sequence scored (context + continuation) or
      prompt + generation; contexts are cut from the left to fit.
    max_gen_toks: generated tokens when a request does not say.
  """

  def __init__(self, runner: runner_lib.ModelRunner,
               vocabulary: seqio.Vocabulary, *,
               max_length: int = DEFAULT_MAX_LENGTH,
               max_gen_toks: int = DEFAULT_MAX_GEN_TOKS):
    super().__init__()
    self.runner = runner
    self.vocabulary = vocabulary
    self.max_length = int(max_length)
    self.max_gen_toks = int(max_gen_toks)
    converter = runner.model.feature_converter(False)
    self.backend = ("seq2seq" if isinstance(converter,
                                            seqio.EncDecFeatureConverter)
                    else "causal")
    self._generators: dict[tuple, runner_lib.ModelRunner] = {}

  # ---- the harness's builders: through `register_builder` ------------------

  @classmethod
  def create_from_arg_obj(cls, arg_dict, additional_config=None):
    if not _BUILDER:
      raise BackendError(
          "the flan_jax model is built by scripts/lm_eval_harness.py "
          "(--gin_file=... --checkpoint=...); run the harness through it")
    extra = {k: v for k, v in (additional_config or {}).items()
             if v is not None}
    return _BUILDER[0](**dict(arg_dict), **extra)

  @classmethod
  def create_from_arg_string(cls, arg_string, additional_config=None):
    return cls.create_from_arg_obj(
        lm_eval_utils.simple_parse_args_string(arg_string), additional_config)

  # ---- tokens -------------------------------------------------------------

  @property
  def eot_token_id(self) -> int:
    return self.vocabulary.eos_id

  def tok_encode(self, string: str, add_special_tokens=None, **kwargs
                 ) -> list[int]:
    del add_special_tokens, kwargs  # seqio vocabularies add no BOS/EOS
    return list(self.vocabulary.encode(string))

  def tok_decode(self, tokens) -> str:
    return self.vocabulary.decode(list(tokens))

  def _checked(self, tokens: Sequence[int], text: str) -> list[int]:
    if 0 in tokens:
      raise BackendError(f"{text[:60]!r} encodes to token id 0, which is "
                         "padding in flan_jax; use a vocabulary without id 0 "
                         "in text (e.g. SentencePiece with pad_id 0)")
    return list(tokens)

  def _model_context(self, context: Sequence[int], after: int) -> np.ndarray:
    """The context as the model reads it, its oldest tokens cut so that it
    fits `max_length` with `after` tokens scored or generated after it.

    Decoders hold [0, context, after] in one row; encoders hold
    [context, EOS] and the decoder holds the rest.
    """
    if self.backend == "seq2seq":
      room = self.max_length - 1
    else:
      room = self.max_length - 1 - after
    if room < 0:
      raise BackendError(f"{after} tokens after the context do not fit "
                         f"max_length {self.max_length}")
    context = list(context)[max(len(context) - room, 0):]
    if self.backend == "seq2seq":
      context.append(self.vocabulary.eos_id)
    return np.asarray(context, np.int32)

  # ---- loglikelihood ------------------------------------------------------

  def loglikelihood(self, requests, disable_tqdm: bool = False
                    ) -> list[tuple[float, bool]]:
    pairs = []
    for context, continuation in (r.args for r in requests):
      if context:
        ctx, cont = self._encode_pair(context, continuation)
      else:  # the model's start token (decoders) or a bare EOS is the context
        ctx, cont = [], self.tok_encode(continuation)
      pairs.append(((context, continuation),
                    self._checked(ctx, context),
                    self._checked(cont, continuation)))
    return self._loglikelihood_tokens(pairs, disable_tqdm=disable_tqdm)

  def _loglikelihood_tokens(self, requests, disable_tqdm: bool = False,
                            **kwargs) -> list[tuple[float, bool]]:
    """Scores (strings, context ids, continuation ids), grouped by context."""
    del disable_tqdm, kwargs
    groups: dict[tuple[int, ...], list[int]] = {}
    targets = []
    for i, (_, context, continuation) in enumerate(requests):
      if not continuation:
        raise BackendError(f"request {i}: empty continuation")
      key = tuple(self._model_context(context, len(continuation)).tolist())
      groups.setdefault(key, []).append(i)
      targets.append(np.asarray(continuation, np.int32))
    examples = [examples_lib.OptionExample(
        g, np.asarray(key, np.int32), [targets[i] for i in members], [])
                for g, (key, members) in enumerate(groups.items())]
    scored = self._in_chunks(
        examples, lambda part: self.runner.option_scores(part, greedy=True),
        "loglikelihood")
    results: list[Any] = [None] * len(requests)
    for example, members in zip(examples, groups.values()):
      per = scored[example.idx]
      for k, i in enumerate(members):
        results[i] = (float(per[0, k]), bool(per[1, k] > 0.5))
        strings = requests[i][0]
        if strings[0] is not None:
          self.cache_hook.add_partial("loglikelihood", strings, results[i])
    return results

  def _in_chunks(self, examples, score, what: str) -> list[Any]:
    """`score` over length-sorted chunks, logging progress and an ETA."""
    order = sorted(range(len(examples)), key=lambda i: (
        len(examples[i].inputs), sum(len(o) for o in examples[i].options)))
    chunk = max(self.runner.batch_size * 8, 1)
    out: list[Any] = [None] * len(examples)
    started = time.perf_counter()
    for start in range(0, len(order), chunk):
      part = [examples[i] for i in order[start:start + chunk]]
      for i, result in zip(order[start:start + chunk], score(part)):
        out[i] = result
      done = min(start + chunk, len(order))
      elapsed = time.perf_counter() - started
      if done < len(order) or len(order) > chunk:
        log.info("%s: %d/%d contexts, %.0f s, ETA %.0f s", what, done,
                 len(order), elapsed, elapsed / done * (len(order) - done))
    return out

  def loglikelihood_rolling(self, requests, disable_tqdm: bool = False
                            ) -> list[float]:
    windows, owners = [], []
    for r, (text,) in enumerate(req.args for req in requests):
      tokens = self._checked(self.tok_encode(text), text)
      for context, predicted in map(
          lm_eval_utils.make_disjoint_window,
          lm_eval_utils.get_rolling_token_windows(
              token_list=tokens, prefix_token=_NO_PREFIX,
              max_seq_len=self.max_length - 1, context_len=1)):
        context = [t for t in context if t != _NO_PREFIX]
        windows.append(((None, None), context, predicted))
        owners.append(r)
    totals = [0.0] * len(requests)
    for owner, (score, _) in zip(owners, self._loglikelihood_tokens(
        windows, disable_tqdm=disable_tqdm)):
      totals[owner] += score
    for req, total in zip(requests, totals):
      self.cache_hook.add_partial("loglikelihood_rolling", req.args, total)
    return totals

  # ---- generation -----------------------------------------------------------

  def _generator(self, settings: dict[str, Any]) -> runner_lib.ModelRunner:
    """A runner whose model decodes as `settings` ask (cached per setting)."""
    key = tuple(sorted(settings.items()))
    if key not in self._generators:
      model = dataclasses.replace(self.runner.model, **settings)
      self._generators[key] = runner_lib.ModelRunner(
          model, self.runner.params, self.runner.partitioner,
          self.runner.batch_size)
    return self._generators[key]

  def _decode_settings(self, kwargs: dict[str, Any]) -> dict[str, Any]:
    settings = {"max_decode_length": int(kwargs.pop("max_gen_toks",
                                                    self.max_gen_toks))}
    sample = bool(kwargs.pop("do_sample", False))
    temperature = float(kwargs.pop("temperature", 1.0 if sample else 0.0))
    if sample and temperature > 0:
      settings.update(decode_method="sample", temperature=temperature,
                      top_k=int(kwargs.pop("top_k", 0) or 0),
                      top_p=float(kwargs.pop("top_p", 1.0) or 1.0))
    else:
      settings["decode_method"] = "greedy"
    for name in ("top_k", "top_p"):
      kwargs.pop(name, None)
    if kwargs:
      log.warning("generation settings flan_jax ignores: %s", sorted(kwargs))
    return settings

  def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
    del disable_tqdm
    groups: dict[str, list[int]] = {}
    for i, req in enumerate(requests):
      groups.setdefault(json.dumps(req.args[1], sort_keys=True,
                                   default=str), []).append(i)
    results: list[Any] = [None] * len(requests)
    for key, members in groups.items():
      kwargs = dict(json.loads(key))
      until = kwargs.pop("until", None) or []
      until = [until] if isinstance(until, str) else list(until)
      settings = self._decode_settings(kwargs)
      length = settings["max_decode_length"]
      runner = self._generator(settings)
      rows = []
      for i in members:
        context = requests[i].args[0]
        tokens = self._checked(self.tok_encode(context), context)
        rows.append({"inputs": self._model_context(tokens, length),
                     "targets": np.asarray([self.eot_token_id], np.int32)})
      for i, tokens in zip(members, runner.predict(rows, length)):
        text = self.vocabulary.decode(tokens.tolist())
        for stop in until:
          if stop and stop in text:
            text = text[:text.index(stop)]
        results[i] = text
        self.cache_hook.add_partial("generate_until", requests[i].args, text)
    return results
