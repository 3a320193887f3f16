"""The study runner: a two-run study end to end, interrupted and resumed;
study plans; the flan2021 dry runs; the prompt-tuning study end to end."""

import json
import os

import gin
import pytest

import toy_tasks
from flan_jax.cli import study
from flan_jax.data import ablations

# The templates study on the toy collection: two runs (1 and 2 templates per
# dataset of the copy cluster), evaluated on mood (rank classification, the
# cheaper kind of eval task).
ablations.register_ablation_mixtures(
    "toy", toy_tasks.CLUSTERS, ablations.AblationPlan(
        held_out=("mood",), cluster_order=("copy",), template_counts=(1, 2),
        instruction_held_out=("mood",)))

TOY_GIN = """
include 'runs/finetune.gin'
include 'runs/eval.gin'
include 'hardware/cpu.gin'
MODEL = @EncoderDecoderModel()
EncoderDecoderModel.config = @T5Config()
EncoderDecoderModel.max_decode_length = 8
T5Config.vocab_size = 1024
T5Config.d_model = 32
T5Config.num_heads = 4
T5Config.head_dim = 8
T5Config.d_ff = 64
T5Config.num_encoder_layers = 2
T5Config.num_decoder_layers = 2
MIXTURE = 'toy:train:all'
TRAINING_MIXTURE = %MIXTURE
EVAL_MIXTURE = 'toy:eval:all'
MODEL_DIR = '/tmp/unused'
CHECKPOINT = %MODEL_DIR
EVAL_OUTPUT_DIR = '/tmp/unused/eval'
TRAIN_STEPS = 3
BATCH_SIZE = 4
TASK_FEATURE_LENGTHS = {'inputs': 24, 'targets': 8}
LEARNING_RATE = 0.003
make_optimizer.min_dim_size_to_factor = 8
train.checkpoint_every_steps = 3
evaluate.selection_split = None
evaluate.max_examples = 2
evaluate.batch_size = 16
"""


@pytest.fixture(autouse=True)
def clean_gin():
  gin.clear_config()
  yield
  gin.clear_config()


class Interrupted(Exception):
  pass


@pytest.fixture(scope="module")
def finished_study(tmp_path_factory):
  """The toy templates study (two runs), stopped once after the first run's
  training and the base's evaluation, then started again."""
  root = tmp_path_factory.mktemp("study")
  gin_file = root / "toy.gin"
  gin_file.write_text(TOY_GIN)
  plan = study.plan_study("templates", "toy")
  done = []

  def stop_after_base(key):
    done.append(key)
    if key.startswith("base:"):
      raise Interrupted(key)

  kwargs = dict(gin_files=[str(gin_file)], study_dir=str(root / "out"))
  with pytest.raises(Interrupted):
    study.run_study(plan, on_step_done=stop_after_base, **kwargs)
  first = list(done)
  files = study.run_study(plan, on_step_done=done.append, **kwargs)
  return root / "out", plan, first, done[len(first):], files


def test_a_resumed_study_skips_what_was_finished(finished_study):
  out, plan, first, second, _ = finished_study
  assert [r.name for r in plan.runs] == ["templates_1_seed0",
                                         "templates_2_seed0"]
  assert first == ["train:templates_1_seed0",
                   "base:toy:ablation:held_out:eval"]
  assert second == ["eval:templates_1_seed0", "train:templates_2_seed0",
                    "eval:templates_2_seed0"]  # nothing done twice
  progress = json.loads((out / "progress.json").read_text())
  assert {"run:templates_1_seed0", "run:templates_2_seed0"} <= set(progress)


def test_each_run_is_reproducible_from_its_gin(finished_study):
  out, _, _, _, _ = finished_study
  run_dir = out / "runs" / "templates_1_seed0"
  run_gin = (run_dir / "study_run.gin").read_text()
  assert "MIXTURE = 'toy:ablation:templates:1:train'" in run_gin
  assert "EVAL_MIXTURE = 'toy:ablation:held_out:eval'" in run_gin
  assert "toy:ablation:templates:1:train" in (run_dir / "config.gin").read_text()
  results = json.loads((run_dir / "eval" / "results.json").read_text())
  assert results["clusters"]["mood"]["status"] == "held_out"
  assert results["step"] == 3


def test_the_report_has_the_base_and_each_run(finished_study):
  out, _, _, _, files = finished_study
  assert os.path.getsize(files["figure"]) > 1000
  report = (out / "report" / "report.md").read_text()
  assert "![templates](templates.png)" in report
  for row in ("| base (untuned) |", "| 1 templates |", "| 2 templates |"):
    assert row in report
  assert "| templates |" in report  # one seed: error bars over templates


def test_a_directory_holding_another_study_is_refused(finished_study):
  out, _, _, _, _ = finished_study
  other = study.plan_study("templates", "toy")
  with pytest.raises(study.StudyError, match="differs in: bindings"):
    study.run_study(other, gin_files=[str(out.parent / "toy.gin")],
                    user_bindings=["TRAIN_STEPS = 4"], study_dir=str(out))
  with pytest.raises(study.StudyError, match="differs in: study"):
    study.run_study(study.plan_study("num_clusters", "toy"),
                    gin_files=[str(out.parent / "toy.gin")],
                    study_dir=str(out))


def test_plans_of_the_demo_studies():
  import tasks.demo  # noqa: F401
  names = lambda s, **kw: [(r.name, r.mixture) for r in
                           study.plan_study(s, "demo", **kw).runs]
  assert names("num_clusters")[0] == (
      "clusters_1_seed0", "demo:ablation:num_clusters:1:train")
  assert len(names("num_clusters")) == 5
  assert [r.value for r in study.plan_study("templates", "demo").runs] == [
      1, 2, 4, 6]
  runs = study.plan_study("instructions", "demo", seeds=(0, 1)).runs
  assert [r.value for r in runs[:3]] == ["full", "dataset_name",
                                         "no_template"]
  assert len(runs) == 6 and runs[3].seed == 1
  assert runs[1].extra_evals[0][1] == (
      "demo:ablation:instructions:dataset_name:eval:sentiment")
  with pytest.raises(study.StudyError, match="unknown study 'clusters'"):
    study.plan_study("clusters", "demo")


@pytest.mark.parametrize("name", ["num_clusters", "instructions"])
def test_the_flan2021_dry_run_prints_every_gin_the_plan_and_the_budget(
    name, tmp_path):
  import tasks.flan2021  # noqa: F401
  plan = study.plan_study(name, "flan2021")
  text = study.dry_run_text(plan, ["runs/flan2021_t5.gin"], [], [],
                            str(tmp_path))
  assert text.count("include 'runs/flan2021_t5.gin'") == len(plan.runs)
  for run in plan.runs:
    assert f"MIXTURE = '{run.mixture}'" in text
  assert "parameters" in text and "per device:" in text  # plan.py's plan
  assert f"training: {len(plan.runs)} runs, {30000 * len(plan.runs):,} steps" \
      in text
  assert not os.listdir(tmp_path)  # nothing trained or written


def test_the_prompt_tuning_plan_tunes_base_and_tuned_on_few_and_all(
    monkeypatch):
  import seqio
  import tasks.demo  # noqa: F401
  plan = study.plan_study("prompt_tuning", "demo")
  assert [(r.name, r.value, r.mixture, r.init_from) for r in plan.runs] == [
      ("no_sentiment_seed0", "tuned:zero_shot", "demo:train:no_sentiment",
       None),
      ("prompt_base_first32_sentiment_seed0", "base:first32",
       "demo:ablation:prompt_tuning:first32:sentiment", "base"),
      ("prompt_base_full_sentiment_seed0", "base:full",
       "demo:ablation:prompt_tuning:full:sentiment", "base"),
      ("prompt_tuned_first32_sentiment_seed0", "tuned:first32",
       "demo:ablation:prompt_tuning:first32:sentiment", "no_sentiment_seed0"),
      ("prompt_tuned_full_sentiment_seed0", "tuned:full",
       "demo:ablation:prompt_tuning:full:sentiment", "no_sentiment_seed0")]
  assert {r.eval_mixture for r in plan.runs} == {"demo:eval:sentiment"}
  assert [r.gin_files for r in plan.runs[1:]] == [("runs/prompt_tuning.gin",)
                                                  ] * 4
  few = seqio.get_mixture_or_task(
      "demo:ablation:prompt_tuning:first32:sentiment")
  assert sorted(t.name for t in few.tasks) == [
      f"demo:{d}:train_first32_examples"
      for d in ("movie_review", "product_review", "tweet_mood")]
  examples = few.tasks[0].get_dataset(None, split="train", shuffle=True,
                                      num_epochs=1, use_cached=False)
  assert sum(1 for _ in examples) == 32
  # a suite whose ablation plan holds no cluster out: one line
  monkeypatch.setitem(ablations._PLANS, "toy", ablations.AblationPlan(
      held_out=(), cluster_order=(), template_counts=(),
      instruction_held_out=()))
  with pytest.raises(study.StudyError, match="no held-out cluster to "
                     "prompt-tune on"):
    study.plan_study("prompt_tuning", "toy")


def test_the_prompt_tuning_dry_run_binds_each_start(tmp_path):
  import tasks.flan2021  # noqa: F401
  plan = study.plan_study("prompt_tuning", "flan2021")
  base = "/ckpt/t5_base/checkpoints/0"
  text = study.dry_run_text(
      plan, ["runs/flan2021_t5.gin", "hardware/gpu8.gin"],
      [f"train.initial_checkpoint = '{base}'", "TRAIN_STEPS = 1000"], [],
      str(tmp_path))
  assert len(plan.runs) == 20  # 4 held-out clusters x (1 tuned + 4 prompts)
  assert text.count("include 'runs/prompt_tuning.gin'") == 16
  tuned = os.path.join(str(tmp_path), "runs", "no_nli_seed0", "checkpoints",
                       "1000")
  assert text.count(f"train.initial_checkpoint = '{tuned}'") == 2
  # the base runs keep the user's base, bound before them
  assert text.count("TRAIN_STEPS = 200") == 16
  assert "0.003%)" in text  # the prompt-tuning plan: few parameters trained
  assert ("training: 20 runs, "
          f"{4 * 1000 + 16 * study.PROMPT_TUNING_STEPS:,} steps") in text
  assert not os.listdir(tmp_path)


def test_the_prompt_tuning_study_end_to_end(tmp_path):
  gin_file = tmp_path / "toy.gin"
  gin_file.write_text(TOY_GIN)
  plan = study.plan_study("prompt_tuning", "toy", prompt_tuning_steps=2)
  assert [r.name for r in plan.runs][0] == "no_mood_seed0"
  files = study.run_study(plan, gin_files=[str(gin_file)],
                          study_dir=str(tmp_path / "out"))
  run_dir = tmp_path / "out" / "runs" / "prompt_tuned_first32_mood_seed0"
  run_gin = (run_dir / "study_run.gin").read_text()
  start = tmp_path / "out" / "runs" / "no_mood_seed0" / "checkpoints" / "3"
  assert f"train.initial_checkpoint = '{start}'" in run_gin
  results = json.loads((run_dir / "eval" / "results.json").read_text())
  assert results["step"] == 2
  assert os.path.getsize(files["figure"]) > 1000
  report = (tmp_path / "out" / "report" / "report.md").read_text()
  assert "![prompt_tuning](prompt_tuning.png)" in report
  for row in ("| pretrained base, zero-shot (no prompt tuning) (mood) |",
              "| instruction tuned (cluster held out), prompt tuned, 32 "
              "examples per dataset (mood) |",
              "| pretrained base, prompt tuned, full training sets (mood) |"):
    assert row in report
