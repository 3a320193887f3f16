"""Few-shot prompts built inside the seqio pipeline (Flan 2022's fs types).

A few-shot example puts k solved exemplars of the same dataset, phrased by
the same template, before the query::

    <input_prefix><exemplar input><between><target_prefix><target><separator>
    ...
    <input_prefix><query input><between><target_prefix>   (trailing space cut)
    <final_suffix>

with the parts of a `FewShotFormat` (this project's default: exemplar input,
a newline, its target, a blank line; the FLAN release's FewShotPatterns give
their own). Worked example, k = 2, the default format::

    "Is 'fine day' good?\\ngood\\n\\nIs 'bleak' good?\\nbad\\n\\n"
    "Is 'nice' good?"

Exemplars come from a pool: the first `pool_size` prepared examples of the
train split, rendered by every template when the pipeline is built. Each
query draws k distinct pool entries with a stateless seed made of the
config's seed and the example's position, so the same split gives the same
prompts on every run; a pool entry whose rendered input equals the query's
is never drawn (a training example is not its own exemplar). During
training the template is drawn per example as well.

Packing to the input length: when the pipeline has a length for "inputs"
(training), the prompt keeps the first j of its k exemplars for the largest j
whose tokens (with EOS) fit, so the query is never cut. Without a length
(evaluation), all k are kept.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Mapping, Sequence

import numpy as np
import seqio
import tensorflow as tf

from flan_jax.data import templates as templates_lib
from flan_jax.data.upstream_templates import FewShotFormat

PROMPT_FIELD = "few_shot_prompt"
DEFAULT_FORMAT = FewShotFormat()

PoolFn = Callable[[], tf.data.Dataset]
# The map functions here are plain tf code (no Python control flow on
# tensors), so they are traced without AutoGraph's source conversion,
# which would otherwise cost more than the tracing itself.


class FewShotError(ValueError):
  """A few-shot task cannot build its prompts (e.g. no train examples)."""


@dataclasses.dataclass(frozen=True)
class FewShotConfig:
  """How a dataset's few-shot prompts are made.

  Attributes:
    k: exemplars per prompt (Flan 2022's five-shot templates use 5).
    pool_size: train examples the exemplars are drawn from.
    seed: changes which exemplars each query gets.
    split: the split exemplars come from.
    formats: one FewShotFormat per template (in the dataset's template
      order), or None for `DEFAULT_FORMAT` everywhere.
  """
  k: int = 5
  pool_size: int = 64
  seed: int = 0
  split: str = "train"
  formats: tuple[FewShotFormat, ...] | None = None

  def format_of(self, index: int) -> FewShotFormat:
    return DEFAULT_FORMAT if self.formats is None else self.formats[index]


def _rstrip(text: tf.Tensor) -> tf.Tensor:
  return tf.strings.regex_replace(text, r"\s+$", "")


class _Prompts:
  """The pool and the format parts of a list of templates, as tensors."""

  def __init__(self, templates: Sequence[templates_lib.Template],
               formats: Sequence[FewShotFormat], config: FewShotConfig,
               pool_fn: PoolFn, name: str):
    self.templates = list(templates)
    self.config = config
    pool = self._read_pool(pool_fn, name)
    self.pool_inputs = tf.constant(pool[0])    # [templates, pool]
    self.pool_targets = tf.constant(pool[1])
    self.k = min(config.k, pool[0].shape[1])

    def parts(attr):
      return tf.constant([getattr(f, attr) for f in formats])

    self.input_prefix = parts("input_prefix")
    self.target_prefix = parts("target_prefix")
    self.between = parts("between")
    self.separator = parts("separator")
    self.final_suffix = parts("final_suffix")

  def _read_pool(self, pool_fn: PoolFn, name: str):
    templates = self.templates

    @tf.autograph.experimental.do_not_convert
    def render_all(ex):
      rendered = [templates_lib.render_example(t, ex) for t in templates]
      return (tf.stack([r["inputs"] for r in rendered]),
              tf.stack([r["targets"] for r in rendered]))

    rows = list(pool_fn().take(self.config.pool_size).map(
        render_all).as_numpy_iterator())
    if not rows:
      raise FewShotError(
          f"{name}: few-shot prompts need exemplars, but its "
          f"'{self.config.split}' split has no examples")
    inputs = np.stack([r[0] for r in rows], axis=1)
    targets = np.stack([r[1] for r in rows], axis=1)
    return inputs, targets

  def query(self, template: tf.Tensor, inputs: tf.Tensor) -> tf.Tensor:
    at = lambda parts: tf.gather(parts, template)
    query = _rstrip(tf.strings.join([
        at(self.input_prefix), inputs, at(self.between),
        _rstrip(at(self.target_prefix))]))
    return tf.strings.join([query, at(self.final_suffix)])

  def exemplars(self, template: tf.Tensor, query_inputs: tf.Tensor,
                seed: tf.Tensor) -> tf.Tensor:
    """The k chosen exemplars of one query, each fully formatted: [k]."""
    pool_inputs = tf.gather(self.pool_inputs, template)
    pool_targets = tf.gather(self.pool_targets, template)
    scores = tf.random.stateless_uniform(tf.shape(pool_inputs), seed)
    scores = tf.where(tf.equal(pool_inputs, query_inputs), -1.0, scores)
    chosen = tf.math.top_k(scores, self.k).indices
    at = lambda parts: tf.gather(parts, template)
    return tf.strings.join([
        at(self.input_prefix), tf.gather(pool_inputs, chosen),
        at(self.between), at(self.target_prefix),
        tf.gather(pool_targets, chosen), at(self.separator)])

  def prompt(self, template: tf.Tensor, query_inputs: tf.Tensor,
             seed: tf.Tensor, max_tokens: int | None = None,
             vocabulary: seqio.Vocabulary | None = None) -> tf.Tensor:
    """Exemplars then the query; with `max_tokens`, as many as fit."""
    shots = self.exemplars(template, query_inputs, seed)
    query = self.query(template, query_inputs)
    if max_tokens is None:
      return tf.strings.join([tf.strings.reduce_join(shots), query])
    # Candidate prompts with the first j exemplars, j = 0..k; keep the
    # longest that fits (EOS included), or the bare query if none does.
    candidates = tf.stack([
        tf.strings.join([tf.strings.reduce_join(shots[:j]), query])
        for j in range(self.k + 1)])
    lengths = tf.stack([tf.size(vocabulary.encode_tf(candidates[j]))
                        for j in range(self.k + 1)])
    fits = tf.cast(lengths + 1 <= max_tokens, tf.int32)
    # fits is non-increasing in j; the number of leading ones is the best j.
    best = tf.maximum(tf.reduce_sum(tf.math.cumprod(fits)) - 1, 0)
    return tf.gather(candidates, best)


def _seed(config: FewShotConfig, index: tf.Tensor, salt: int) -> tf.Tensor:
  return tf.stack([tf.constant(config.seed + 7919 * salt, tf.int64),
                   tf.cast(index, tf.int64)])


def _inputs_budget(sequence_length: Mapping[str, int] | None):
  if not sequence_length or not sequence_length.get("inputs"):
    return None
  return int(sequence_length["inputs"])


def _prompt_parts(templates, formats, config: FewShotConfig, pool_fn: PoolFn,
                  name: str, sequence_length, output_features):
  """(prompt builder, inputs token budget or None, the vocabulary that
  counts tokens against the budget or None): what both preprocessors set up
  per dataset."""
  budget = _inputs_budget(sequence_length)
  vocabulary = (output_features["inputs"].vocabulary
                if budget is not None else None)
  return (_Prompts(templates, formats, config, pool_fn, name), budget,
          vocabulary)


def render_any_template(templates: Sequence[templates_lib.Template],
                        config: FewShotConfig, pool_fn: PoolFn, *,
                        formats: Sequence[FewShotFormat] | None = None,
                        name: str = "task"):
  """Training preprocessor: a template per example, then its k-shot prompt."""
  formats = list(formats or [DEFAULT_FORMAT] * len(templates))

  def preprocess(ds: tf.data.Dataset, sequence_length=None,
                 output_features=None) -> tf.data.Dataset:
    prompts, budget, vocabulary = _prompt_parts(
        templates, formats, config, pool_fn, name, sequence_length,
        output_features)

    @tf.autograph.experimental.do_not_convert
    def render(index, ex):
      rendered = [templates_lib.render_example(t, ex) for t in templates]
      template = tf.random.stateless_uniform(
          [], _seed(config, index, 1), 0, len(templates), tf.int32)
      inputs = tf.gather(tf.stack([r["inputs"] for r in rendered]), template)
      targets = tf.gather(tf.stack([r["targets"] for r in rendered]),
                          template)
      return {"inputs": prompts.prompt(template, inputs,
                                       _seed(config, index, 2), budget,
                                       vocabulary),
              "targets": targets}

    return ds.enumerate().map(render, num_parallel_calls=tf.data.AUTOTUNE)

  return preprocess


def add_prompt(templates: Sequence[templates_lib.Template], index: int,
               config: FewShotConfig, pool_fn: PoolFn, *,
               formats: Sequence[FewShotFormat] | None = None,
               name: str = "task"):
  """Eval preprocessor: adds `few_shot_prompt` (template `index`, k shots).

  Render the query afterwards with `prompt_template(template)`, whose input
  is that field; rank classification expands its options as usual.
  """
  formats = list(formats or [DEFAULT_FORMAT] * len(templates))
  template = templates[index]

  def preprocess(ds: tf.data.Dataset, sequence_length=None,
                 output_features=None) -> tf.data.Dataset:
    prompts, budget, vocabulary = _prompt_parts(
        templates, formats, config, pool_fn, name, sequence_length,
        output_features)
    position = tf.constant(index, tf.int32)

    @tf.autograph.experimental.do_not_convert
    def add(i, ex):
      ex = dict(ex)
      inputs = templates_lib.render(template.inputs, ex)
      ex[PROMPT_FIELD] = prompts.prompt(position, inputs,
                                        _seed(config, i, 2), budget,
                                        vocabulary)
      return ex

    return ds.enumerate().map(add, num_parallel_calls=tf.data.AUTOTUNE)

  return preprocess


def prompt_template(template: templates_lib.Template) -> templates_lib.Template:
  """`template` with its input replaced by the few-shot prompt field."""
  return templates_lib.Template("{" + PROMPT_FIELD + "}", template.targets,
                                inverted=template.inverted)
