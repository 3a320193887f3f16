"""The eval job: restarts, host sharding, checkpoint lists, few-shot, inference."""

import json
import os

import flax.linen as nn
import jax
import numpy as np
import pytest
import seqio
import tensorflow as tf

import toy_training
from flan_jax.checkpoints import checkpointer
from flan_jax.data import lookup
from flan_jax.evaluation import examples as examples_lib
from flan_jax.evaluation import inference
from flan_jax.evaluation import job

MIXTURE = "toy:eval:mood"  # four rank-classification tasks
SMALL = dict(mixture_or_task_name=MIXTURE, training_mixture="toy:train:no_copy",
             batch_size=16, max_examples=4)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
  """A run with two checkpoints (steps 0 and 5) of random parameters."""
  directory = str(tmp_path_factory.mktemp("run"))
  model = toy_training.tiny_model()
  shapes = {"encoder_input_tokens": (1, 8), "decoder_input_tokens": (1, 8)}
  init = jax.jit(lambda r: nn.unbox(model.init_variables(r, shapes)["params"]))
  saver = checkpointer.Checkpointer(os.path.join(directory, "checkpoints"))
  for step in (0, 5):
    saver.save(step, init(jax.random.key(step)), {"count": np.zeros(1)},
               force=True)
  saver.wait()
  saver.close()
  return directory


def _evaluate(model_dir, output_dir, **kwargs):
  return job.evaluate(model=toy_training.tiny_model(),
                             checkpoint=model_dir, output_dir=str(output_dir),
                             **{**SMALL, **kwargs})


def _read(path):
  with open(path) as f:
    return f.read()


@pytest.fixture(scope="module")
def reference(model_dir, tmp_path_factory):
  """An uninterrupted run of the job, to compare restarted runs against."""
  out = tmp_path_factory.mktemp("reference")
  results = _evaluate(model_dir, out)
  return results, _read(out / "results.json")


def test_results_hold_config_tasks_and_best_dev_numbers(reference):
  results, _ = reference
  assert results["config"]["split"] == "test"
  assert results["config"]["normalisations"]["char"] == "accuracy_char_norm"
  assert len(results["tasks"]) == 4
  polarity = results["datasets"]["toy:polarity"]
  assert polarity["best_dev_template"] in {"0", "1"}
  assert set(polarity["mean_over_templates"]) == {
      "accuracy", "accuracy_char_norm", "accuracy_token_norm"}
  assert results["clusters"]["mood"]["status"] == "seen"
  for task in results["tasks"].values():
    assert task["selection_metrics"] is not None
    # n and a standard error for every metric, on both splits.
    assert task["n"] == 4 and task["selection_n"] == 4
    assert set(task["stderr"]) == set(task["metrics"])
    accuracy = task["metrics"]["accuracy"]
    assert task["stderr"]["accuracy"] == pytest.approx(
        (accuracy * (100 - accuracy) / 3) ** 0.5)
  assert polarity["n"] == 4 and polarity["score_stderr"] is not None
  assert results["clusters"]["mood"]["n"] == 8
  assert results["clusters"]["mood"]["score_stderr"] is not None
  assert results["summary"]["seen"]["score_stderr"] is not None
  assert results["config"]["stderr"]["bootstrap_seed"] == 0


def test_a_killed_job_restarts_and_writes_the_same_results(model_dir, tmp_path,
                                                           reference):
  _, expected = reference
  done = []

  def killed_after_two(task_name):
    done.append(task_name)
    if len(done) == 2:
      raise KeyboardInterrupt("killed")

  with pytest.raises(KeyboardInterrupt):
    _evaluate(model_dir, tmp_path, on_task_done=killed_after_two)
  assert not (tmp_path / "results.json").exists()
  assert len(os.listdir(tmp_path / "tasks")) == 2
  rerun = []
  _evaluate(model_dir, tmp_path, on_task_done=rerun.append)
  assert sorted(rerun + done) == sorted(json.loads(expected)["tasks"])
  assert not set(rerun) & set(done)  # finished tasks were not redone
  assert _read(tmp_path / "results.json") == expected


def test_a_restart_with_another_config_is_refused(model_dir, tmp_path):
  def stop(_):
    raise KeyboardInterrupt

  with pytest.raises(KeyboardInterrupt):
    _evaluate(model_dir, tmp_path, on_task_done=stop)
  with pytest.raises(job.EvalJobError,
                     match="different eval job .*differs in: few_shot"):
    _evaluate(model_dir, tmp_path, few_shot=1)


def test_hosts_share_the_tasks_and_the_last_writes_results(model_dir, tmp_path,
                                                           reference):
  _, expected = reference
  first, second = [], []
  assert _evaluate(model_dir, tmp_path, host_index=0, host_count=2,
                   on_task_done=first.append) is None
  assert not (tmp_path / "results.json").exists()
  assert _evaluate(model_dir, tmp_path, host_index=1, host_count=2,
                   on_task_done=second.append) is not None
  assert len(first) == len(second) == 2 and not set(first) & set(second)
  assert _read(tmp_path / "results.json") == expected


def test_every_checkpoint_of_a_run_and_done_ones_are_skipped(model_dir,
                                                             tmp_path):
  kwargs = dict(model=toy_training.tiny_model(), checkpoints=model_dir,
                output_dir=str(tmp_path), all_steps=True,
                **{**SMALL, "mixture_or_task_name": "toy:polarity:t0:score"},
                selection_split=None)
  ran = []
  results = job.evaluate_checkpoints(on_task_done=ran.append, **kwargs)
  assert [r["step"] for r in results] == [0, 5]
  assert sorted(os.listdir(tmp_path)) == ["step_0", "step_5", "tensorboard"]
  steps = set()  # one TensorBoard folder for the run: a curve over steps
  for name in os.listdir(tmp_path / "tensorboard"):
    steps |= {e.step for e in tf.compat.v1.train.summary_iterator(
        str(tmp_path / "tensorboard" / name)) if e.summary.value}
  assert steps == {0, 5}
  assert len(ran) == 2
  again = job.evaluate_checkpoints(on_task_done=ran.append, **kwargs)
  assert len(ran) == 2 and again == results


def test_checkpoint_lists_get_one_folder_per_run(model_dir, tmp_path):
  step_dir = os.path.join(model_dir, "checkpoints", "0")
  plan = job.checkpoints_to_evaluate([model_dir, step_dir],
                                            str(tmp_path))
  assert [(s, os.path.basename(o)) for _, s, o in plan] == [(5, "step_5"),
                                                            (0, "step_0")]
  with pytest.raises(FileNotFoundError, match="does not exist"):
    job.checkpoints_to_evaluate([str(tmp_path / "nowhere")],
                                       str(tmp_path))


def test_few_shot_prompts_use_fixed_train_exemplars():
  task = seqio.get_mixture_or_task("toy:polarity:t0:score")
  shots = examples_lib.FewShot(k=2, seed=7)
  prefix = examples_lib.few_shot_prefix(task, shots)
  assert prefix == examples_lib.few_shot_prefix(task, shots)
  assert prefix != examples_lib.few_shot_prefix(task, examples_lib.FewShot(2, 8))
  parts = prefix.split(examples_lib.EXEMPLAR_SEPARATOR)
  assert len(parts) == 3 and parts[2] == ""
  for part in parts[:2]:  # each exemplar: its input, then its correct answer
    assert "Good or bad?" in part and part.split("\n")[-1] in {"good", "bad"}
  zero = examples_lib.load_examples(task, "test", max_examples=2)
  two = examples_lib.load_examples(task, "test", few_shot=shots, max_examples=2)
  for z, t in zip(zero, two):
    assert t["inputs_pretokenized"] == (prefix.encode() +
                                        z["inputs_pretokenized"])
    assert len(t["inputs"]) > len(z["inputs"])
    np.testing.assert_array_equal(t["inputs"][-3:], z["inputs"][-3:])


def test_few_shot_job_writes_per_example_outputs(model_dir, tmp_path):
  results = _evaluate(model_dir, tmp_path, few_shot=2, write_examples=True,
                      mixture_or_task_name="toy:polarity:t1:score",
                      selection_split=None)
  assert results["few_shot"] == 2
  lines = _read(tmp_path / "examples" / "toy:polarity:t1:score.test.jsonl")
  rows = [json.loads(line) for line in lines.splitlines()]
  assert len(rows) == 4
  assert rows[0]["inputs"].count("Is the mood of") == 3  # 2 shots + query
  assert len(rows[0]["log_likelihoods"]) == len(rows[0]["options"]) == 2
  assert "Few-shot" not in _read(tmp_path / "results.md")
  assert "2-shot results" in _read(tmp_path / "results.md")
  harness = json.loads(_read(tmp_path / "results_lm_eval.json"))
  task = results["tasks"]["toy:polarity:t1:score"]
  assert harness["n-shot"]["toy:polarity:t1:score"] == 2
  assert harness["results"]["toy:polarity:t1:score"]["acc,none"] == (
      pytest.approx(task["metrics"]["accuracy"] / 100))


def test_infer_writes_predictions_and_scores(model_dir, tmp_path):
  common = dict(model=toy_training.tiny_model(), checkpoint=model_dir,
                max_examples=3, batch_size=8)
  path = str(tmp_path / "echo.jsonl")
  assert inference.infer(task_name="toy:echo:t0:gen", output_path=path,
                         mode="predict", **common) == 3
  rows = [json.loads(line) for line in _read(path).splitlines()]
  assert {"inputs", "target", "prediction", "task", "step"} <= set(rows[0])
  assert rows[0]["inputs"].startswith("Repeat: ")
  assert inference.infer(task_name="toy:echo:t0:gen", output_path=path,
                         mode="score", **common) == 3
  rows = [json.loads(line) for line in _read(path).splitlines()]
  assert all(r["log_likelihood"] < 0 for r in rows)
  with pytest.raises(job.EvalJobError, match="is a mixture"):
    inference.infer(task_name="toy:eval:copy", output_path=path, **common)


def test_default_selection_split_may_be_missing_a_typed_one_may_not():
  """BIG-Bench Hard has only a test split: the default selection split
  gives no best-dev numbers there; a misspelt one stops the job."""
  test_only = [seqio.Task("toy:test_only", seqio.FunctionDataSource(
      lambda split, shuffle_files=False: None, splits=("test",)),
      output_features={})]
  job._check_splits(test_only, "test", job.DEFAULT_SELECTION_SPLIT)
  with pytest.raises(job.EvalJobError, match="'valdation' is a split of none"):
    job._check_splits(test_only, "test", "valdation")


def test_a_misspelt_eval_mixture_is_offered_only_names_it_can_score():
  # The plain lookup's suggestions include training mixtures, which an eval
  # job would refuse next (no metrics).
  with pytest.raises(lookup.UnknownTaskOrMixtureError) as plain:
    lookup.get_task_or_mixture("toy:eval:moood")
  assert "toy:train:" in str(plain.value)
  with pytest.raises(lookup.UnknownTaskOrMixtureError) as for_eval:
    job.eval_tasks("toy:eval:moood")
  message = str(for_eval.value)
  assert "toy:eval:mood" in message and "toy:train:" not in message
  # A misspelling within a registered collection is not asked about modules;
  # a collection nothing registered is.
  assert "--module" not in message
  with pytest.raises(lookup.UnknownTaskOrMixtureError, match="--module="):
    lookup.get_task_or_mixture("elsewhere:eval:mood")
