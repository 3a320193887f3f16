"""`score_options` equals scoring each option on its own with `score_batch`."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from flan_jax.models import api
from flan_jax.models import encoder_decoder
from flan_jax.models import t5

CONFIG = t5.T5Config(vocab_size=64, d_model=32, num_heads=4, head_dim=8,
                     d_ff=48, num_encoder_layers=2, num_decoder_layers=2)


def _option_batch(vocab_size: int, seed: int = 0):
  """B=3 examples, K=4 options; ragged lengths and one all-padding option."""
  rng = np.random.RandomState(seed)
  inputs = rng.randint(2, vocab_size, (3, 9)).astype(np.int32)
  inputs[1, 5:] = 0
  inputs[2, 2:] = 0
  options = rng.randint(2, vocab_size, (3, 4, 6)).astype(np.int32)
  lengths = [[6, 3, 1, 4], [2, 2, 5, 6], [1, 3, 0, 2]]  # 0: padding row
  for b, row in enumerate(lengths):
    for k, n in enumerate(row):
      options[b, k, n:] = 0
      if n:
        options[b, k, n - 1] = 1  # EOS
  return {"inputs": jnp.asarray(inputs), "option_targets": jnp.asarray(options)}


def naive_option_scores(model, params, batch) -> np.ndarray:
  """One score_batch call per option, the way unbatched rank scoring works."""
  score = jax.jit(model.score_batch)
  inputs, options = batch["inputs"], np.asarray(batch["option_targets"])
  out = np.zeros(options.shape[:2], np.float32)
  for k in range(options.shape[1]):
    targets = jnp.asarray(options[:, k])
    out[:, k] = score(params, {
        "encoder_input_tokens": inputs,
        "decoder_input_tokens": api.shift_right(targets),
        "decoder_target_tokens": targets,
        "decoder_loss_weights": (targets > 0).astype(jnp.int32),
    })
  return out


def test_encoder_decoder_score_options_equals_per_option_scoring():
  model = encoder_decoder.EncoderDecoderModel(CONFIG)
  shapes = {"encoder_input_tokens": (2, 9), "decoder_input_tokens": (2, 6)}
  params = nn.unbox(jax.jit(lambda r: model.init_variables(r, shapes))(
      jax.random.key(1))["params"])
  batch = _option_batch(CONFIG.vocab_size)
  scores = jax.jit(model.score_options)(params, batch)
  assert scores.shape == (3, 4) and scores.dtype == jnp.float32
  np.testing.assert_allclose(scores, naive_option_scores(model, params, batch),
                             atol=1e-5, rtol=1e-5)
  assert scores[2, 2] == 0.0  # the all-padding option
  assert np.all(np.asarray(scores)[np.asarray(batch["option_targets"])[..., 0] > 0] < 0)


def test_decoder_score_options_says_which_options_are_greedy():
  from flan_jax.models import decoder  # pylint: disable=g-import-not-at-top
  from flan_jax.models import decoder_only  # pylint: disable=g-import-not-at-top
  config = decoder.DecoderConfig(vocab_size=64, d_model=32, num_layers=2,
                                 num_heads=4, num_kv_heads=2, head_dim=8,
                                 d_ff=48)
  model = decoder_only.DecoderOnlyModel(config, prefix_lm=False)
  params = nn.unbox(jax.jit(lambda r: model.init_variables(
      r, {"decoder_input_tokens": (1, 8)}))(jax.random.key(3))["params"])
  prompt = [0, 5, 9, 17]  # the start token, then the inputs
  for _ in range(3):  # greedy continuation of three tokens
    logits = model.logits(params, jnp.asarray([prompt]))
    prompt.append(int(jnp.argmax(logits[0, -1])))
  greedy = prompt[4:]
  other = greedy[:2] + [greedy[2] % 60 + 2]
  batch = {"inputs": jnp.asarray([[5, 9, 17]], jnp.int32),
           "option_targets": jnp.asarray([[greedy, other, greedy[:1] + [0, 0]]],
                                         jnp.int32)}
  both = jax.jit(lambda p, b: model.score_options(p, b, greedy=True))(
      params, batch)
  assert both.shape == (2, 1, 3)
  np.testing.assert_allclose(both[0], model.score_options(params, batch),
                             atol=1e-6)
  assert np.asarray(both[1]).tolist() == [[1.0, 0.0, 1.0]]
