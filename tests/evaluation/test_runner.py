"""Fast rank classification: batching, grouping, known answers, naive agreement."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import seqio

import toy_tasks  # pylint: disable=unused-import
from flan_jax.evaluation import examples as examples_lib
from flan_jax.evaluation import runner as runner_lib
from flan_jax.evaluation import task_eval
from flan_jax.models import option_tree
from flan_jax.parallel import partitioning

VOCAB = 1024
WORD_POSITION = 2  # "Pick apple." -> [P, ick, apple, .]


@dataclasses.dataclass(frozen=True)
class KnownAnswersModel:
  """A hand-built model: its scores are a formula we can work out by hand.

  log P(target | input) = sum of table[token] over the target's tokens, plus
  `bonus` when the target's first token equals the input's token at
  WORD_POSITION (for "Pick <word>." that is the word: the right answer).
  params = table. Both API entry points compute the same formula, so the
  fast path must equal the naive one exactly.
  """
  bonus: float = 10.0

  option_scoring = "grouped"

  def feature_converter(self, pack):
    return seqio.EncDecFeatureConverter(pack=pack)

  def abstract_params(self):
    return jax.ShapeDtypeStruct((VOCAB,), jnp.float32)  # the table, replicated

  def score_options(self, params, batch):
    inputs, options = batch["inputs"], batch["option_targets"]
    per_token = jnp.where(options > 0, params[options], 0.0).sum(-1)
    hit = options[:, :, 0] == inputs[:, WORD_POSITION, None]
    return per_token + self.bonus * hit

  def score_batch(self, params, batch):
    targets = batch["decoder_target_tokens"]
    per_token = (params[targets] * batch["decoder_loss_weights"]).sum(-1)
    hit = targets[:, 0] == batch["encoder_input_tokens"][:, WORD_POSITION]
    return per_token + self.bonus * hit

  def predict_batch(self, params, batch):
    del params
    return jnp.zeros_like(batch["decoder_input_tokens"])


class NaiveOnly(KnownAnswersModel):
  """The same model scored option by option (the runner's fallback path)."""
  option_scoring = "per_option"


def _table(seed=0):
  return jnp.asarray(np.random.RandomState(seed).uniform(-3, -0.1, VOCAB),
                     jnp.float32)


def _runner(model, batch_size=8, bonus_table=None):
  return runner_lib.ModelRunner(model, _table() if bonus_table is None else
                             bonus_table, partitioning.Partitioner(),
                             batch_size)


def _option_examples():
  rng = np.random.RandomState(3)
  examples = []
  for idx in range(11):  # more examples than one batch; 1-4 options each
    inputs = rng.randint(2, VOCAB, rng.randint(3, 20)).astype(np.int32)
    options = [np.append(rng.randint(2, VOCAB, rng.randint(1, 12)), 1)
               .astype(np.int32) for _ in range(rng.randint(1, 5))]
    examples.append(examples_lib.OptionExample(idx, inputs, options, []))
  return examples


def test_fast_scores_equal_the_formula_whatever_the_batching():
  table = np.asarray(_table())
  examples = _option_examples()
  for batch_size in (4, 8, 64):
    scores = _runner(KnownAnswersModel(bonus=0.0), batch_size).option_scores(
        examples)
    for example, got in zip(examples, scores):
      expected = [table[o[o > 0]].sum() for o in example.options]
      np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_fine_bucket_keeps_padding_under_a_quarter():
  assert [runner_lib.fine_bucket(n) for n in (1, 8, 9, 11, 17, 37, 64, 65)] == [
      8, 8, 10, 12, 20, 40, 64, 80]
  for n in range(9, 2000):
    assert n <= runner_lib.fine_bucket(n) < 1.25 * n


def test_option_tree_lays_out_prompt_then_options():
  """Inputs [5, 6], options [7, 1] and [8, 9, 1]: the prompt [0, 5, 6] once,
  then each option but its last token, at positions continuing the prompt;
  slot 2 (the prompt's last) predicts both first tokens."""
  example = examples_lib.OptionExample(
      0, np.array([5, 6]), [np.array([7, 1]), np.array([8, 9, 1])], [])
  tree = {k: v.tolist() for k, v in option_tree.layout_one(
      example.inputs, example.options).items()}
  assert tree == {
      "tokens": [0, 5, 6, 7, 8, 9],
      "positions": [0, 1, 2, 3, 3, 4],
      "branches": [1, 1, 1, 2, 3, 3],
      "gather_slots": [2, 3, 2, 4, 5],
      "gather_tokens": [7, 1, 8, 9, 1],
      "gather_options": [0, 0, 1, 1, 1],
  }


def test_options_batch_shares_one_input_row_per_example():
  examples = _option_examples()[:3]
  batch = runner_lib.ModelRunner.options_batch(examples, 4, 4)
  longest_input = max(len(e.inputs) for e in examples)
  assert batch["inputs"].shape == (4, runner_lib.bucket(longest_input))
  assert batch["option_targets"].shape[:2] == (4, 4)
  for row, example in enumerate(examples):
    np.testing.assert_array_equal(batch["inputs"][row, :len(example.inputs)],
                                  example.inputs)
    for k in range(example.num_options, 4):  # missing options stay empty
      assert not batch["option_targets"][row, k].any()
  assert not batch["inputs"][3].any()  # padding example


def test_shared_input_scoring_equals_naive_per_option_scoring_on_a_task():
  task = seqio.get_mixture_or_task("toy:choice:t1:score")
  rows = examples_lib.load_examples(task, "test")
  examples = examples_lib.group_options(rows)
  fast = _runner(KnownAnswersModel(), 8).option_scores(examples)
  naive = _runner(NaiveOnly(), 8).option_scores(examples)
  assert len(fast) == len(naive) == toy_tasks.SIZES["test"]
  for a, b in zip(fast, naive):
    np.testing.assert_allclose(a, b, rtol=1e-6)


def test_a_model_that_knows_the_answers_scores_100_through_the_job():
  task = seqio.get_mixture_or_task("toy:choice:t0:score")
  rows = examples_lib.load_examples(task, "test")
  result = task_eval.evaluate_rows(task, _runner(KnownAnswersModel()), rows)
  assert result.metrics == {"accuracy": 100.0, "accuracy_char_norm": 100.0,
                            "accuracy_token_norm": 100.0}
  assert result.num_examples == toy_tasks.SIZES["test"]
  assert result.stderr == {name: 0.0 for name in result.metrics}
  assert all(o["predicted"]["accuracy"] in o["correct"]
             for o in result.outputs)


def _assert_fast_scores_equal_naive(runner, task_name: str,
                                    max_examples: int) -> None:
  """Shared-input option scores equal scoring every option on its own."""
  task = seqio.get_mixture_or_task(task_name)
  examples = examples_lib.group_options(
      examples_lib.load_examples(task, "test", max_examples=max_examples))
  fast = runner.option_scores(examples)
  naive = runner.naive_option_scores(examples)
  assert len(fast) == len(naive) == len(examples)
  for a, b in zip(fast, naive):
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_a_model_preferring_one_option_scores_its_share():
  # Without the bonus, "good" (one token, table value t) beats "bad" (two
  # tokens) exactly when t > the sum of b+ad: worked out from the table.
  task = seqio.get_mixture_or_task("toy:polarity:t0:score")
  rows = examples_lib.load_examples(task, "test")
  vocabulary = task.output_features["targets"].vocabulary
  good, bad = vocabulary.encode("good"), vocabulary.encode("bad")
  assert len(good) == 1 and len(bad) == 2  # the arithmetic below needs it
  table = np.zeros(VOCAB, np.float32)
  table[good] = -2.0           # "good"
  table[bad] = -0.5            # "b", "ad": summed -1.0 beats -2.0
  table[1] = -0.1              # EOS
  runner = _runner(KnownAnswersModel(bonus=0.0), bonus_table=jnp.asarray(table))
  result = task_eval.evaluate_rows(task, runner, rows)
  metrics = result.metrics
  share_bad = 100.0 * np.mean([bool(r["is_correct"]) for r in rows
                               if r["targets_pretokenized"] == b"bad"])
  # Summed: "bad" (-1.1) wins. Per token: good -2.1/2=-1.05, bad -1.1/3=-0.37
  # -> "bad" too. Per character: good -2.1/4=-0.525, bad -1.1/3=-0.367 -> bad.
  assert metrics["accuracy"] == pytest.approx(share_bad)
  assert metrics["accuracy_token_norm"] == pytest.approx(share_bad)
  assert 0 < share_bad < 100
  # A mean of right/wrong over the examples: the binomial standard error.
  n = toy_tasks.SIZES["test"]
  assert result.stderr["accuracy"] == pytest.approx(
      (share_bad * (100 - share_bad) / (n - 1)) ** 0.5)
  table[bad] = -1.5            # summed -3.1: "good" wins when summed ...
  runner = _runner(KnownAnswersModel(bonus=0.0), bonus_table=jnp.asarray(table))
  metrics = task_eval.evaluate_rows(task, runner, rows).metrics
  # ... but per token bad = -3.1/3 = -1.03 beats good = -1.05.
  assert metrics["accuracy"] == pytest.approx(100 - share_bad)
  assert metrics["accuracy_token_norm"] == pytest.approx(share_bad)
  # per character: good -2.1/4 = -0.525 beats bad -3.1/3 = -1.03.
  assert metrics["accuracy_char_norm"] == pytest.approx(100 - share_bad)


def test_real_model_fast_path_equals_naive_scoring():
  import toy_training  # pylint: disable=g-import-not-at-top
  model = toy_training.tiny_model()
  shapes = {"encoder_input_tokens": (1, 8), "decoder_input_tokens": (1, 8)}
  params = jax.jit(lambda r: model.init_variables(r, shapes)["params"])(
      jax.random.key(1))
  import flax.linen as nn  # pylint: disable=g-import-not-at-top
  params = nn.unbox(params)
  partitioner = partitioning.Partitioner()
  runner = runner_lib.ModelRunner(model, params, partitioner, 8)
  assert runner.has_fast_scoring
  _assert_fast_scores_equal_naive(runner, "toy:choice:t0:score", 6)


@pytest.mark.parametrize("prefix_lm", [True, False])
def test_decoder_only_fast_path_equals_naive_and_generates(prefix_lm):
  from flan_jax.models import decoder_only  # pylint: disable=g-import-not-at-top
  from flan_jax.models import decoder  # pylint: disable=g-import-not-at-top
  import flax.linen as nn  # pylint: disable=g-import-not-at-top
  config = decoder.DecoderConfig(vocab_size=VOCAB, d_model=32, num_layers=2,
                                 num_heads=4, num_kv_heads=2, head_dim=8,
                                 d_ff=48)
  model = decoder_only.DecoderOnlyModel(config, prefix_lm=prefix_lm)
  params = nn.unbox(jax.jit(lambda r: model.init_variables(
      r, {"decoder_input_tokens": (1, 8)})["params"])(jax.random.key(2)))
  runner = runner_lib.ModelRunner(model, params, partitioning.Partitioner(), 8)
  _assert_fast_scores_equal_naive(runner, "toy:polarity:t1:score", 5)
  gen = seqio.get_mixture_or_task("toy:echo:t0:gen")
  result = task_eval.evaluate_rows(
      gen, runner, examples_lib.load_examples(gen, "test", max_examples=3))
  assert set(result.metrics) == {"accuracy"} and len(result.outputs) == 3
  assert set(result.stderr) == {"accuracy"} and result.num_examples == 3


def test_length_sorted_batches_trim_padding_and_keep_indices():
  lengths = [3, 20, 5, 17, 1]
  encoder = np.zeros((5, 32), np.int32)
  targets = np.zeros((5, 16), np.int32)
  for row, n in enumerate(lengths):
    encoder[row, :n] = row + 2
    targets[row, :2] = 7
  features = {
      "encoder_input_tokens": encoder, "decoder_target_tokens": targets,
      "decoder_input_tokens": targets, "decoder_loss_weights": targets > 0,
  }
  scored = list(runner_lib.length_sorted_batches(features, 2, trim_targets=True))
  assert [b[0].tolist() for b in scored] == [[4, 0], [2, 3], [1]]
  assert [b[1]["encoder_input_tokens"].shape for b in scored] == [
      (2, 8), (2, 32), (2, 32)]
  assert scored[0][1]["decoder_target_tokens"].shape == (2, 8)
  assert scored[2][2] == 1 and not scored[2][1]["encoder_input_tokens"][1].any()
  np.testing.assert_array_equal(scored[1][1]["encoder_input_tokens"][1, :17],
                                encoder[3, :17])
  generated = list(runner_lib.length_sorted_batches(features, 2,
                                                     trim_targets=False))
  assert generated[0][1]["decoder_target_tokens"].shape == (2, 16)
