"""Our models equal transformers' on the same Hugging Face weights.

Logits within 1e-4 (float32), 20+ greedy tokens identical, export ->
`from_pretrained` gives identical logits, import -> export gives identical
tensors. Tiny random models are built in the test (no downloads).
"""

import numpy as np
import pytest
import torch

import hf_fixtures
from flan_jax.models import hf

LOGIT_TOLERANCE = 1e-4
GREEDY_TOKENS = 24


# ---- T5 v1.1 -----------------------------------------------------------------


@pytest.fixture(scope="module", params=["untied", "tied"])
def t5_dir(request, tmp_path_factory):
  directory = str(tmp_path_factory.mktemp(f"t5_{request.param}"))
  hf_fixtures.write_model(directory, "t5", hf_fixtures.T5_CONFIG,
                          untie_t5=request.param == "untied")
  return request.param, directory


def test_t5_logits_and_greedy_match_transformers(t5_dir):
  name, directory = t5_dir
  reference = hf_fixtures.load_reference(directory, "t5")
  config, params, _ = hf_fixtures.check_logits(directory, "t5", f"t5_{name}",
                                               LOGIT_TOLERANCE)
  assert config.tie_word_embeddings == (name == "tied")

  enc, _ = hf_fixtures.t5_tokens()
  tokens, generated = hf_fixtures.t5_greedy(reference, config, params, enc,
                                            GREEDY_TOKENS)
  assert generated.shape == (2, GREEDY_TOKENS)
  np.testing.assert_array_equal(tokens, generated)


def test_t5_export_round_trip(t5_dir, tmp_path):
  _, directory = t5_dir
  config, params = hf_fixtures.check_exported_tensors(directory)
  out = hf.save_hf(config, params, str(tmp_path / "export"))
  reloaded = hf_fixtures.load_reference(out, "t5")
  reference = hf_fixtures.load_reference(directory, "t5")
  enc = torch.tensor(hf_fixtures.tokens((2, 7), 2))
  dec = torch.tensor(hf_fixtures.tokens((2, 5), 3))
  with torch.no_grad():
    a = reloaded(input_ids=enc, decoder_input_ids=dec).logits
    b = reference(input_ids=enc, decoder_input_ids=dec).logits
  np.testing.assert_array_equal(a.numpy(), b.numpy())


# ---- Llama family ------------------------------------------------------------


@pytest.fixture(scope="module", params=sorted(hf_fixtures.DECODER_CONFIGS))
def decoder_dir(request, tmp_path_factory):
  model_type, kwargs = hf_fixtures.DECODER_CONFIGS[request.param]
  directory = str(tmp_path_factory.mktemp(request.param))
  hf_fixtures.write_model(directory, model_type, kwargs, seed=3)
  return request.param, model_type, directory


def test_decoder_logits_and_greedy_match_transformers(decoder_dir):
  name, model_type, directory = decoder_dir
  reference = hf_fixtures.load_reference(directory, model_type)
  config, params, _ = hf_fixtures.check_logits(directory, model_type, name,
                                               LOGIT_TOLERANCE)

  tokens = hf_fixtures.tokens((2, 13), 4)
  ours, generated = hf_fixtures.decoder_greedy(reference, config, params,
                                               tokens[:, :5], GREEDY_TOKENS)
  assert generated.shape == (2, GREEDY_TOKENS)
  np.testing.assert_array_equal(ours, generated)


def test_decoder_export_round_trip(decoder_dir, tmp_path):
  _, model_type, directory = decoder_dir
  config, params = hf_fixtures.check_exported_tensors(directory)
  out = hf.save_hf(config, params, str(tmp_path / "export"))
  reloaded = hf_fixtures.load_reference(out, model_type)
  reference = hf_fixtures.load_reference(directory, model_type)
  tokens = torch.tensor(hf_fixtures.tokens((2, 9), 5))
  with torch.no_grad():
    np.testing.assert_array_equal(reloaded(input_ids=tokens).logits.numpy(),
                                  reference(input_ids=tokens).logits.numpy())
