"""Every setting a gin file binds, and what values it may take: one table.

Checked at start-up, right after gin is parsed and before any data is read
or anything compiled (`check_bound`); a value out of range is one line
naming the gin parameter, the rule and (through `startup`) the macro to
set::

    train: learning_rate_schedule.base_learning_rate is -0.001: it must be
    a number above 0 (the peak learning rate) (set through %LEARNING_RATE:
    --gin.LEARNING_RATE=...)

`SETTINGS` maps each configurable parameter (`train.batch_size`) to its
`Rule`. Every parameter bound anywhere in gin/runs/ or gin/models/ must
have an entry (tests/cli/test_settings.py walks the files): a new numeric
setting without a declared range fails that test. Settings whose values are
not numbers or words from a fixed list (paths, task names, references to
other configurables) are declared with `elsewhere`, which says where they
are checked.

New settings (LoRA rank and alpha, prompt length, ... when parameter-
efficient tuning lands) are declared with `declare("lora.rank",
whole(1, what="LoRA rank"))` from the module that adds their configurable,
or as entries below.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

from flan_jax import errors
from flan_jax.data import task_settings
from flan_jax.evaluation import inference
from flan_jax.models import api
from flan_jax.models import decoder
from flan_jax.models import hf_config
from flan_jax.models import layers
from flan_jax.models import prompt_tuning


@dataclasses.dataclass(frozen=True)
class Rule:
  """How one parameter's value is checked.

  problem: the value -> None if valid, else what it must be ("a whole
    number above 0"); None for `elsewhere` rules.
  what: what the setting is, in a few words (for the message).
  """
  problem: Callable[[Any], str | None] | None
  what: str
  per_key: bool = False  # a dict whose every value follows `problem`


def _is_number(value) -> bool:
  return (isinstance(value, (int, float)) and not isinstance(value, bool)
          and math.isfinite(value))


def whole(low: int = 1, high: int | None = None, *, what: str,
          none_ok: bool = False) -> Rule:
  """A whole number in [low, high]."""
  bound = (f"above {low - 1}" if high is None else
           f"from {low} to {high}")
  def problem(value):
    if value is None and none_ok:
      return None
    if (isinstance(value, int) and not isinstance(value, bool) and
        value >= low and (high is None or value <= high)):
      return None
    return f"a whole number {bound}" + (" or None" if none_ok else "")
  return Rule(problem, what)


def number(*, above: float | None = None, at_least: float | None = None,
           at_most: float | None = None, what: str,
           none_ok: bool = False) -> Rule:
  """A finite real number in the given bounds."""
  words = [f"above {above:g}" if above is not None else "",
           f"at least {at_least:g}" if at_least is not None else "",
           f"at most {at_most:g}" if at_most is not None else ""]
  bound = " and ".join(w for w in words if w)
  def problem(value):
    if value is None and none_ok:
      return None
    if (_is_number(value) and (above is None or value > above) and
        (at_least is None or value >= at_least) and
        (at_most is None or value <= at_most)):
      return None
    return (f"a number {bound}".rstrip() +
            (" or None" if none_ok else ""))
  return Rule(problem, what)


def choice(*options, what: str) -> Rule:
  """One of `options` (None among them if it is allowed)."""
  def problem(value):
    if any(value == o and type(value) is type(o) for o in options):
      return None
    return "one of " + ", ".join(repr(o) for o in options)
  return Rule(problem, what)


def boolean(what: str) -> Rule:
  return choice(True, False, what=what)


def lengths(what: str) -> Rule:
  """A dict of feature name -> whole number above 0."""
  rule = whole(1, what=what)
  return Rule(rule.problem, what, per_key=True)


def elsewhere(where: str) -> Rule:
  """Not a number or a fixed word: checked by `where` when it is used."""
  return Rule(None, where)


_DTYPES = choice("float32", "bfloat16", "float16", what="compute dtype")
_REMAT = choice(*layers.REMAT_POLICIES, what="rematerialisation policy")


def _model_fields(name: str) -> dict[str, Rule]:
  """The decoding and loss fields both model families share (api.Model)."""
  return {
      f"{name}.config": elsewhere("the network config (its own rules)"),
      f"{name}.z_loss": number(at_least=0, what="auxiliary z-loss weight"),
      f"{name}.label_smoothing": number(at_least=0, at_most=1,
                                        what="label smoothing"),
      f"{name}.loss_normalizing_factor": number(
          above=0, what="loss normaliser", none_ok=True),
      f"{name}.max_decode_length": whole(1, what="tokens decoded at most"),
      f"{name}.decode_method": choice(*api.DECODE_METHODS,
                                      what="decoding search"),
      f"{name}.num_beams": whole(1, what="beams of beam search"),
      f"{name}.length_penalty_alpha": number(at_least=0,
                                             what="beam length penalty"),
      f"{name}.temperature": number(above=0, what="sampling temperature"),
      f"{name}.top_k": whole(0, what="top-k sampling, 0 for off"),
      f"{name}.top_p": number(above=0, at_most=1, what="nucleus sampling"),
      f"{name}.decode_seed": whole(0, what="sampling seed"),
      f"{name}.eos_id": whole(0, what="end-of-sequence token id"),
  }


def each_of(options, *, what: str) -> Rule:
  """A tuple whose every item is one of `options` (empty allowed)."""
  def problem(value):
    if (isinstance(value, (tuple, list)) and
        all(isinstance(v, str) and v in options for v in value)):
      return None
    return f"a tuple of {', '.join(map(repr, options))}"
  return Rule(problem, what)


def _network(name: str, fields: dict[str, Rule]) -> dict[str, Rule]:
  return {f"{name}.{field}": rule for field, rule in fields.items()}


SETTINGS: dict[str, Rule] = {
    # --- training (gin/runs/finetune.gin)
    "train.model": elsewhere("MODEL: a model configurable (gin/models/)"),
    "train.mixture_or_task_name": elsewhere(
        "the task registry (a misspelt name lists the closest)"),
    "train.initial_checkpoint": elsewhere("checkpoint loading"),
    "train.use_cached_tasks": boolean("read every task from the cache"),
    "train.cache_dir": elsewhere("the example cache"),
    "train.model_dir": elsewhere("the trainer (a writable directory)"),
    "train.num_train_steps": whole(1, what="steps to train"),
    "train.batch_size": whole(1, what="examples per step"),
    "train.task_feature_lengths": lengths("tokens per feature"),
    "train.pack": boolean("pack several examples into a row"),
    "train.seed": whole(0, what="random seed"),
    "train.num_microbatches": whole(1, what="gradient accumulation steps"),
    "train.log_every_steps": whole(1, what="steps between log lines"),
    "train.checkpoint_every_steps": whole(1, what="steps between checkpoints"),
    "train.keep_checkpoints": whole(1, what="newest checkpoints kept",
                                    none_ok=True),
    "train.keep_checkpoint_period": whole(1, what="also keep every K-th step",
                                          none_ok=True),
    "train.async_checkpoints": boolean("save checkpoints in the background"),
    "train.preemption_check_every_steps": whole(
        1, what="steps between multi-host preemption checks"),
    "train.partitioner": elsewhere("Partitioner (mesh and rules)"),
    "train.optimizer": elsewhere("make_optimizer"),
    "training_mixture.name": elsewhere("the task registry"),
    "training_mixture.input_inversion": boolean("add inverted tasks"),
    "training_mixture.inversion_rate": number(
        at_least=0, at_most=1, what="share of inverted examples"),
    "make_optimizer.name": choice("adafactor", "adamw", what="optimizer"),
    "make_optimizer.learning_rate": elsewhere("learning_rate_schedule"),
    "make_optimizer.gradient_clip_norm": number(
        above=0, what="global gradient norm clip", none_ok=True),
    "make_optimizer.weight_decay": number(at_least=0, what="weight decay"),
    "make_optimizer.multiply_by_parameter_scale": boolean(
        "Adafactor's relative step size"),
    "make_optimizer.min_dim_size_to_factor": whole(
        1, what="smallest dimension Adafactor factors"),
    "make_optimizer.decay_rate": number(above=0, at_most=1,
                                        what="Adafactor's decay exponent"),
    "make_optimizer.clipping_threshold": number(
        above=0, what="Adafactor's update clipping", none_ok=True),
    "make_optimizer.beta1": number(at_least=0, at_most=1, none_ok=True,
                                   what="Adafactor's momentum"),
    "make_optimizer.adam_b1": number(at_least=0, at_most=1,
                                     what="AdamW's first-moment decay"),
    "make_optimizer.adam_b2": number(at_least=0, at_most=1,
                                     what="AdamW's second-moment decay"),
    "make_optimizer.adam_eps": number(above=0, what="AdamW's epsilon"),
    "make_optimizer.factor_rules": elsewhere("make_optimizer (axis names)"),
    "learning_rate_schedule.base_learning_rate": number(
        above=0, at_most=10, what="the peak learning rate"),
    "learning_rate_schedule.decay": choice(
        "constant", "rsqrt", "cosine", what="learning-rate decay"),
    "learning_rate_schedule.warmup_steps": whole(
        0, what="linear warm-up steps"),
    "learning_rate_schedule.total_steps": whole(
        1, what="steps the cosine decays over", none_ok=True),
    # --- evaluation and inference (gin/runs/eval.gin, infer.gin)
    "evaluate.model": elsewhere("MODEL"),
    "evaluate.checkpoint": elsewhere("checkpoint loading"),
    "evaluate.mixture_or_task_name": elsewhere("the eval job (task names)"),
    "evaluate.output_dir": elsewhere("the eval job (a writable directory)"),
    "evaluate.training_mixture": elsewhere("the eval job (held-out tasks)"),
    "evaluate.split": elsewhere("the eval job (the tasks' splits)"),
    "evaluate.selection_split": elsewhere("the eval job (the tasks' splits)"),
    "evaluate.batch_size": whole(1, what="examples per eval batch"),
    "evaluate.partitioner": elsewhere("Partitioner"),
    "evaluate.few_shot": whole(0, what="exemplars per prompt, 0 for zero-shot"),
    "evaluate.few_shot_seed": whole(0, what="exemplar draw seed"),
    "evaluate.max_examples": whole(1, what="examples per task", none_ok=True),
    "evaluate.step": whole(0, what="the checkpoint step", none_ok=True),
    "evaluate.task_feature_lengths": lengths("tokens per feature"),
    "evaluate.write_examples": boolean("write every example's output"),
    "evaluate.cache_dir": elsewhere("the example cache"),
    "infer.model": elsewhere("MODEL"),
    "infer.checkpoint": elsewhere("checkpoint loading"),
    "infer.task_name": elsewhere("inference (one task)"),
    "infer.output_path": elsewhere("inference (a writable file)"),
    "infer.mode": choice(*inference.MODES, what="inference mode"),
    "infer.split": elsewhere("inference (the task's splits)"),
    "infer.batch_size": whole(1, what="examples per batch"),
    "infer.few_shot": whole(0, what="exemplars per prompt, 0 for zero-shot"),
    "infer.max_examples": whole(1, what="examples", none_ok=True),
    "infer.few_shot_seed": whole(0, what="exemplar draw seed"),
    "infer.step": whole(0, what="the checkpoint step", none_ok=True),
    "infer.task_feature_lengths": lengths("tokens per feature"),
    "infer.partitioner": elsewhere("Partitioner"),
    "infer.cache_dir": elsewhere("the example cache"),
    # --- task data (gin/runs/task_data.gin)
    "task_data.template_set": choice(*task_settings.TEMPLATE_SETS,
                                     what="template set"),
    "task_data.flan_checkout": elsewhere("the FLAN checkout reader"),
    "task_data.prerendered": elsewhere("the pre-rendered reader"),
    "task_data.cot_dir": elsewhere("the chain-of-thought reader"),
    "task_data.prerendered_template_types": elsewhere(
        "the pre-rendered reader (zsopt, zsnoopt, fsopt, fsnoopt)"),
    # --- models (gin/models/)
    **_model_fields("EncoderDecoderModel"),
    **_model_fields("DecoderOnlyModel"),
    "DecoderOnlyModel.prefix_lm": boolean("bidirectional attention on inputs"),
    **_network("T5Config", {
        "vocab_size": whole(1, what="vocabulary size"),
        "d_model": whole(1, what="model width"),
        "num_heads": whole(1, what="attention heads"),
        "head_dim": whole(1, what="width of a head"),
        "d_ff": whole(1, what="MLP width"),
        "num_encoder_layers": whole(1, what="encoder layers"),
        "num_decoder_layers": whole(1, what="decoder layers"),
        "dropout_rate": number(at_least=0, at_most=0.99, what="dropout"),
        "relative_attention_num_buckets": whole(1, what="position buckets"),
        "relative_attention_max_distance": whole(1, what="bucketed distance"),
        "tie_word_embeddings": boolean("output layer shares the embedding"),
        "scan_layers": boolean("scan the layer stack"),
        "remat_policy": _REMAT,
        "dtype": _DTYPES,
        "mlp_gated": boolean("gated MLP (T5 v1.1) or plain (T5 1.0)"),
        "mlp_activation": choice(*layers.MLP_ACTIVATIONS,
                                 what="MLP activation"),
        "scale_decoder_outputs": boolean(
            "tied output scaled by width^-0.5 (T5 1.0)"),
        "lora": elsewhere("LoraConfig (gin/runs/lora.gin)"),
        "prompt": elsewhere("PromptConfig (gin/runs/prompt_tuning.gin)"),
    }),
    # --- parameter-efficient tuning (gin/runs/lora.gin, prompt_tuning.gin)
    **_network("LoraConfig", {
        "rank": whole(1, what="LoRA rank r"),
        "alpha": number(above=0, what="LoRA alpha (the update is scaled by "
                        "alpha / r)"),
        "dropout_rate": number(at_least=0, at_most=0.99,
                               what="dropout on the adapters' input"),
        "target_pattern": elsewhere(
            "lora.check_targets (a pattern matching no layer is refused)"),
    }),
    **_network("PromptConfig", {
        "length": whole(1, what="prompt vectors"),
        "init": choice(*prompt_tuning.INITS, what="prompt initialisation"),
        "uniform_range": number(above=0, what="uniform init range"),
        "vocab_sample_size": whole(1, what="vocabulary rows sampled"),
        "label_tokens": elsewhere("prompt_tuning (class-label init)"),
        "init_tokens": elsewhere("prompt_tuning (token init)"),
    }),
    **_network("DecoderConfig", {
        "family": choice(*sorted(
            model_type for model_type, family in hf_config.FAMILIES.items()
            if family.model_class == "DecoderOnlyModel"),
                         what="Hugging Face architecture"),
        "mlp_activation": choice(*layers.MLP_ACTIVATIONS,
                                 what="MLP activation"),
        "qk_norm": boolean("RMSNorm on each head's queries and keys (Qwen3)"),
        "norm_plus_one": boolean("RMSNorm scales by 1 + weight (Gemma)"),
        "post_norms": boolean("norms after attention and MLP (Gemma 3)"),
        "scale_embeddings": boolean("embeddings times sqrt(width) (Gemma)"),
        "query_pre_attn_scalar": number(above=0, none_ok=True,
                                        what="queries scaled by its -1/2"),
        "layer_types": each_of(decoder.LAYER_TYPES,
                               what="repeating pattern of layer kinds"),
        "rope_local_theta": number(above=0, none_ok=True,
                                   what="RoPE base of sliding layers"),
        "sliding_window": whole(1, none_ok=True,
                                what="keys a sliding layer sees"),
        "lora": elsewhere("LoraConfig (gin/runs/lora.gin)"),
        "prompt": elsewhere("PromptConfig (gin/runs/prompt_tuning.gin)"),
        "vocab_size": whole(1, what="vocabulary size"),
        "d_model": whole(1, what="model width"),
        "num_layers": whole(1, what="layers"),
        "num_heads": whole(1, what="attention heads"),
        "num_kv_heads": whole(1, what="key/value heads"),
        "head_dim": whole(1, what="width of a head"),
        "d_ff": whole(1, what="MLP width"),
        "rms_norm_eps": number(above=0, at_most=1, what="RMSNorm epsilon"),
        "rope_theta": number(above=0, what="RoPE base"),
        "rope_scaling": choice(*decoder.ROPE_SCALINGS, what="RoPE scaling"),
        "rope_factor": number(above=0, what="RoPE scaling factor"),
        "rope_low_freq_factor": number(above=0, what="llama3 RoPE factor"),
        "rope_high_freq_factor": number(above=0, what="llama3 RoPE factor"),
        "rope_original_max_positions": whole(
            1, what="pre-scaling context length"),
        "tie_word_embeddings": boolean("output layer shares the embedding"),
        "scan_layers": boolean("scan the layer stack"),
        "remat_policy": _REMAT,
        "dtype": _DTYPES,
    }),
}


def declare(name: str, rule: Rule) -> None:
  """Adds a setting's rule (for configurables added outside this table,
  e.g. parameter-efficient tuning's rank, alpha and prompt length)."""
  if name in SETTINGS:
    raise ValueError(f"setting {name} is declared twice")
  SETTINGS[name] = rule


def check(name: str, value: Any) -> None:
  """Raises ConfigError if `value` breaks `name`'s rule."""
  rule = SETTINGS[name]
  if rule.problem is None:
    return
  if rule.per_key:
    if not isinstance(value, dict) or not value:
      raise errors.ConfigError(
          f"{name} is {value!r}: it must be a dict of feature name to "
          f"{rule.what}, e.g. {{'inputs': 512, 'targets': 128}}",
          setting=name)
    entries = [(f"{name}[{k!r}]", v) for k, v in value.items()]
  else:
    entries = [(name, value)]
  for label, item in entries:
    wanted = rule.problem(item)
    if wanted is not None:
      raise errors.ConfigError(
          f"{label} is {item!r}: it must be {wanted} ({rule.what})",
          setting=name)


def check_bound(value_of: Callable[[str], Any]) -> None:
  """Checks every declared setting the gin in force binds.

  `value_of(name)` is the bound value (macros followed), or raises
  LookupError when the parameter is not bound (its default stands) or is
  bound to a reference evaluated later.
  """
  for name, rule in SETTINGS.items():
    if rule.problem is None:
      continue  # checked where it is used; its value is not resolved here
    try:
      value = value_of(name)
    except LookupError:
      continue
    check(name, value)
