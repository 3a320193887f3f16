"""The README's path: convert a HF model -> tune it -> evaluate -> export.

Tiny random FLAN-T5- and Llama-shaped models over the demo vocabulary size
are tuned for a few steps on the toy tasks from the converted checkpoint.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

import hf_fixtures
import toy_training
from flan_jax.checkpoints import hf_conversion
from flan_jax.evaluation import job
from flan_jax.models import decoder_only
from flan_jax.models import encoder_decoder
from flan_jax.models import hf
from flan_jax.train import optimizers
from flan_jax.train import trainer

VOCAB = 1024  # >= the demo SentencePiece vocabulary the toy tasks use


def _tune(model, checkpoint, model_dir, steps=3):
  return trainer.train(
      model=model, mixture_or_task_name="toy:train:all", model_dir=model_dir,
      num_train_steps=steps, batch_size=8,
      task_feature_lengths=toy_training.LENGTHS,
      optimizer=optimizers.make_optimizer(learning_rate=1e-3),
      log_every_steps=1, checkpoint_every_steps=steps,
      initial_checkpoint=checkpoint)


def _assert_tree_equal(a, b):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.slow
@pytest.mark.parametrize("family", ["t5", "llama"])
def test_convert_tune_evaluate_export(family, tmp_path):
  hf_dir = str(tmp_path / "hf")
  if family == "t5":
    hf_fixtures.write_model(hf_dir, "t5", dict(hf_fixtures.T5_CONFIG,
                                               vocab_size=VOCAB))
  else:
    hf_fixtures.write_model(hf_dir, "llama", dict(
        hf_fixtures.DECODER_CONFIGS["llama_gqa_untied"][1], vocab_size=VOCAB))
  checkpoint = hf_conversion.convert_to_checkpoint(hf_dir, str(tmp_path / "converted"))
  config, converted = hf.load_hf(hf_dir)
  model = (encoder_decoder.EncoderDecoderModel(config, max_decode_length=8)
           if family == "t5" else decoder_only.DecoderOnlyModel(config))

  model_dir = str(tmp_path / "tuned")
  result = _tune(model, checkpoint, model_dir)
  assert result.final_step == 3 and np.isfinite(result.final_metrics["loss"])
  # Training started from the converted weights, and then moved them.
  start = hf_conversion.restore_params(model, os.path.join(model_dir, "checkpoints", "0"))
  _assert_tree_equal(start, converted)
  tuned_checkpoint = os.path.join(model_dir, "checkpoints", "3")
  tuned = hf_conversion.restore_params(model, tuned_checkpoint)
  assert not np.array_equal(tuned["token_embedder"]["embedding"],
                            converted["token_embedder"]["embedding"])

  if family == "t5":  # the eval job reads the tuned checkpoint
    results = job.evaluate(
        model=model, checkpoint=model_dir, mixture_or_task_name="toy:eval:all",
        output_dir=os.path.join(model_dir, "eval"), batch_size=16)
    assert results["step"] == 3 and "toy:polarity" in results["datasets"]

  exported = hf_conversion.export_checkpoint(model, tuned_checkpoint,
                                  str(tmp_path / "export"))
  reference = hf_fixtures.load_reference(exported, family)
  tokens = np.random.RandomState(0).randint(2, VOCAB, (2, 9))
  with torch.no_grad():
    if family == "t5":
      theirs = reference(input_ids=torch.tensor(tokens),
                         decoder_input_ids=torch.tensor(tokens[:, :5])).logits
      ours = jax.jit(lambda p, e, d: model.module.apply({"params": p}, e, d))(
          tuned, jnp.asarray(tokens, jnp.int32),
          jnp.asarray(tokens[:, :5], jnp.int32))
    else:
      theirs = reference(input_ids=torch.tensor(tokens)).logits
      ours = jax.jit(model.logits)(tuned, jnp.asarray(tokens, jnp.int32))
  np.testing.assert_allclose(np.asarray(ours), theirs.numpy(), atol=1e-4)
