"""Every expected mistake, in every script: one line, the right status, nothing lost.

Each case runs a real script (tests/script_runner.py) with one mistake a
user makes and checks, like a user reading the terminal:

- the exit status: 1 for a mistake in a setting, a name or a file, 2 for
  command-line usage (an unknown flag, a missing required flag, stray
  arguments);
- stderr ends with one line, `<script>: ...`, that names the setting or
  file (each case gives the words it must contain), and holds no traceback;
- no file of an existing run (MODEL_DIR) or eval output changed.
"""

import glob
import hashlib
import json
import os
import pathlib
import shutil

import pytest

import script_runner

SETTINGS = ["--gin.TRAIN_STEPS=2", "--gin.BATCH_SIZE=2",
            "--gin.TASK_FEATURE_LENGTHS={'inputs': 32, 'targets': 8}",
            "--gin.train.log_every_steps=1"]
# Mistake cases train into {w}/new_run, which must never be created.
TINY_RUN = ["--gin_file=runs/demo.gin", *SETTINGS,
            "--gin.MODEL_DIR='{w}/new_run'"]
ONE_TASK = "'demo:movie_review:t0:score'"
MMLU_TASK = "'mmlu:anatomy:t0:score'"
BBH_TASK = "'bbh:navigate:t0:gen'"


def _digest(directory) -> dict[str, str]:
  out = {}
  for path in sorted(pathlib.Path(directory).rglob("*")):
    if path.is_file():
      out[str(path.relative_to(directory))] = hashlib.sha256(
          path.read_bytes()).hexdigest()
  return out


@pytest.fixture(scope="module")
def world(tmp_path_factory):
  """An existing run and eval output that no mistake may touch."""
  root = tmp_path_factory.mktemp("world")
  run_dir, eval_dir = root / "run", root / "eval"
  trained = script_runner.run("train.py", "--gin_file=runs/demo.gin",
                              *SETTINGS, f"--gin.MODEL_DIR='{run_dir}'")
  assert trained.status == 0, trained.stderr[-3000:]
  evaluated = script_runner.run(
      "eval.py", "--gin_file=runs/demo.gin", f"--gin.CHECKPOINT='{run_dir}'",
      f"--gin.EVAL_MIXTURE={ONE_TASK}", f"--gin.EVAL_OUTPUT_DIR='{eval_dir}'",
      "--gin.evaluate.max_examples=2", "--gin.evaluate.selection_split=None")
  assert evaluated.status == 0, evaluated.stderr[-3000:]
  (root / "empty").mkdir()
  (root / "a_file").write_text("not a directory\n")
  (root / "not_spm.model").write_text("this is not a SentencePiece model\n")
  (root / "bad.gin").write_text("include 'runs/demo.gin'\ntrain.seed = = 3\n")
  (root / "results.json").write_text("{not json")
  hf = root / "bert"
  hf.mkdir()
  (hf / "config.json").write_text(json.dumps({"model_type": "bert"}))
  (root / "broken_hf").mkdir()
  (root / "broken_hf" / "config.json").write_text('{"model_type": "t5",\n')
  # A copy of the run whose newest step has 300 bytes overwritten.
  shutil.copytree(run_dir, root / "damaged")
  (root / "damaged_file").write_text(damage_newest_step(root / "damaged"))
  # Users' local files, each with one malformed line or key.
  mmlu = root / "mmlu" / "test"
  mmlu.mkdir(parents=True)
  (mmlu / "anatomy_test.csv").write_text(
      "What is bone?,a,b,c,d,A\nShort row,a,b\n")
  (root / "bbh" / "bbh").mkdir(parents=True)
  (root / "bbh" / "bbh" / "navigate.json").write_text('{"examples": [\n{')
  (root / "yaml_tasks").mkdir()
  (root / "yaml_tasks" / "mine.yaml").write_text(
      "task: mine\ndataset_path: [unclosed\noutput_type: loglikelihood\n")
  # A valid harness task over local JSON lines (nothing is downloaded).
  (root / "yaml_ok").mkdir()
  (root / "yaml_ok" / "docs.jsonl").write_text(json.dumps(
      {"question": "Sky?", "choices": ["blue", "red"], "label": 0}) + "\n")
  (root / "yaml_ok" / "sky.yaml").write_text(
      "task: sky\ndataset_path: json\ndataset_kwargs:\n  data_files:\n"
      f"    test: {root / 'yaml_ok' / 'docs.jsonl'}\ntest_split: test\n"
      "output_type: multiple_choice\ndoc_to_text: '{{question}}'\n"
      "doc_to_choice: '{{choices}}'\ndoc_to_target: label\n"
      "metric_list:\n  - metric: acc\n")
  (root / "flan2022" / "t0_submix").mkdir(parents=True)
  (root / "flan2022" / "t0_submix" / "train.jsonl").write_text(
      json.dumps({"inputs": "a", "targets": "b", "task_name": "t",
                  "template_type": "zsopt"}) + "\n{broken\n")
  return root


def damage_newest_step(model_dir) -> str:
  """Overwrites 300 bytes inside the largest array file of the newest
  step (bit rot, a half-synced copy); returns that file."""
  steps = sorted(int(p.name) for p in (model_dir / "checkpoints").iterdir()
                 if p.name.isdigit())
  files = glob.glob(str(model_dir / "checkpoints" / str(steps[-1]) /
                        "params" / "**" / "d" / "*"), recursive=True)
  target = max(files, key=os.path.getsize)
  with open(target, "r+b") as f:
    f.seek(os.path.getsize(target) // 2)
    f.write(bytes(range(256)) + bytes(44))
  return target


# (case id, script, arguments, environment, status, words the line names)
# "{w}" in an argument is the world fixture's folder.
CASES = [
    # --- train: gin files and bindings
    ("gin file missing", "train.py", ["--gin_file=runs/nope.gin"], {}, 1,
     ["gin file runs/nope.gin not found"]),
    ("gin file syntax", "train.py", ["--gin_file={w}/bad.gin"], {}, 1,
     ["bad.gin line 2", "does not parse"]),
    ("binding syntax", "train.py", [*TINY_RUN, "--gin.train.seed==3"], {}, 1,
     ["gin binding 'train.seed = =3'", "does not parse"]),
    ("unquoted string", "train.py", [*TINY_RUN, "--gin.MODEL_DIR=/tmp/x"],
     {}, 1, ["'MODEL_DIR = /tmp/x'", "inner quotes"]),
    ("misspelt configurable", "train.py", [*TINY_RUN, "--gin.trian.seed=1"],
     {}, 1, ["No configurable matching 'trian'"]),
    ("misspelt parameter", "train.py",
     [*TINY_RUN, "--gin.train.num_train_step=5"], {}, 1,
     ["doesn't have a parameter named 'num_train_step'"]),
    ("misspelt macro", "train.py", [*TINY_RUN, "--gin.TRAIN_STEP=5"], {}, 1,
     ["sets the macro TRAIN_STEP", "TRAIN_STEPS"]),
    ("gin flag without value", "train.py", [*TINY_RUN, "--gin.TRAIN_STEPS"],
     {}, 2, ["--gin.TRAIN_STEPS", "need a value"]),
    # --- train: settings
    ("steps not a number", "train.py", [*TINY_RUN, "--gin.TRAIN_STEPS='abc'"],
     {}, 1, ["is 'abc'", "whole number", "--gin.TRAIN_STEPS"]),
    ("negative steps", "train.py", [*TINY_RUN, "--gin.TRAIN_STEPS=-5"], {}, 1,
     ["is -5", "above 0", "--gin.TRAIN_STEPS"]),
    ("batch size 0", "train.py", [*TINY_RUN, "--gin.BATCH_SIZE=0"], {}, 1,
     ["train.batch_size is 0"]),
    ("batch does not split", "train.py",
     [*TINY_RUN, "--gin.train.num_microbatches=3"], {}, 1,
     ["train.batch_size is 2", "3 microbatch"]),
    ("lengths without targets", "train.py",
     [*TINY_RUN, "--gin.TASK_FEATURE_LENGTHS={'inputs': 32}"], {}, 1,
     ["train.task_feature_lengths", "lacks ['targets']"]),
    ("length not a number", "train.py",
     [*TINY_RUN, "--gin.TASK_FEATURE_LENGTHS={'inputs': 32, 'targets': 'x'}"],
     {}, 1, ["train.task_feature_lengths['targets'] is 'x'"]),
    ("negative learning rate", "train.py",
     [*TINY_RUN, "--gin.LEARNING_RATE=-0.001"], {}, 1,
     ["base_learning_rate is -0.001", "above 0", "--gin.LEARNING_RATE"]),
    ("negative warmup", "train.py",
     [*TINY_RUN, "--gin.learning_rate_schedule.warmup_steps=-10"], {}, 1,
     ["learning_rate_schedule.warmup_steps is -10", "whole number"]),
    ("learning rate not a number", "train.py",
     [*TINY_RUN, "--gin.LEARNING_RATE='fast'"], {}, 1,
     ["base_learning_rate is 'fast'"]),
    ("unknown optimizer", "train.py",
     [*TINY_RUN, "--gin.make_optimizer.name='sgd'"], {}, 1,
     ["make_optimizer.name is 'sgd'"]),
    ("unknown decay", "train.py",
     [*TINY_RUN, "--gin.learning_rate_schedule.decay='linear'"], {}, 1,
     ["learning_rate_schedule.decay is 'linear'"]),
    ("mesh larger than the machine", "train.py",
     [*TINY_RUN, "--gin.Partitioner.mesh_shape={'data': 4, 'model': 2}"], {},
     1, ["Partitioner.mesh_shape", "needs 8 devices"]),
    ("module that does not import", "train.py",
     [*TINY_RUN, "--module=no_such_tasks"], {}, 1,
     ["--module=no_such_tasks", "no module named"]),
    ("model dir is a file", "train.py",
     [*TINY_RUN, "--gin.MODEL_DIR='{w}/a_file'"], {}, 1,
     ["train.model_dir", "a_file, which is a file"]),
    ("misspelt mixture", "train.py",
     [*TINY_RUN, "--gin.MIXTURE='demo:train:no_nil'"], {}, 1,
     ["unknown task or mixture 'demo:train:no_nil'", "demo:train:no_nli"]),
    ("vocabulary missing", "train.py", TINY_RUN,
     {"FLAN_JAX_SPM_PATH": "/nonexistent/spiece.model"}, 1,
     ["FLAN_JAX_SPM_PATH=/nonexistent/spiece.model", "does not exist"]),
    ("vocabulary not sentencepiece", "train.py", TINY_RUN,
     {"FLAN_JAX_SPM_PATH": "{w}/not_spm.model"}, 1,
     ["not_spm.model is not a SentencePiece model"]),
    ("resume with another model", "train.py",
     [*TINY_RUN, "--gin_file=models/t5_1_1_tiny.gin",
      "--gin.MODEL_DIR='{w}/run'"], {}, 1,
     ["{w}/run/checkpoints/2 does not fit", "another model"]),
    ("resume a full run as LoRA", "train.py",
     [*TINY_RUN, "--gin_file=runs/lora.gin", "--gin.MODEL_DIR='{w}/run'"],
     {}, 1, ["{w}/run/checkpoints/2 does not fit", "LoRA rank"]),
    ("initial checkpoint not a step", "train.py",
     [*TINY_RUN, "--gin.MODEL_DIR='{w}/fresh'",
      "--gin.train.initial_checkpoint='{w}/run'"], {}, 1,
     ["not a checkpoint step directory"]),
    ("unknown flag", "train.py", [*TINY_RUN, "--gin_fil=runs/demo.gin"], {},
     2, ["gin_fil"]),
    ("stray argument", "train.py", [*TINY_RUN, "runs/demo.gin"], {}, 2,
     ["unexpected arguments: runs/demo.gin"]),
    # --- eval
    ("eval checkpoint missing", "eval.py",
     ["--gin_file=runs/demo.gin", "--gin.CHECKPOINT='{w}/nowhere'",
      "--gin.EVAL_OUTPUT_DIR='{w}/out1'"], {}, 1,
     ["{w}/nowhere does not exist"]),
    ("eval dir without checkpoints", "eval.py",
     ["--gin_file=runs/demo.gin", "--gin.CHECKPOINT='{w}/empty'",
      "--gin.EVAL_OUTPUT_DIR='{w}/out2'"], {}, 1,
     ["no checkpoints under {w}/empty"]),
    ("eval with another model", "eval.py",
     ["--gin_file=runs/demo.gin", "--gin_file=models/t5_1_1_tiny.gin",
      "--gin.CHECKPOINT='{w}/run'", f"--gin.EVAL_MIXTURE={ONE_TASK}",
      "--gin.EVAL_OUTPUT_DIR='{w}/out3'"], {}, 1,
     ["does not fit", "params"]),
    ("misspelt training mixture", "eval.py",
     ["--gin_file=runs/demo.gin", "--gin.CHECKPOINT='{w}/run'",
      f"--gin.EVAL_MIXTURE={ONE_TASK}", "--gin.EVAL_OUTPUT_DIR='{w}/out4'",
      "--gin.TRAINING_MIXTURE='demo:train:no_sentimnt'"], {}, 1,
     ["evaluate.training_mixture 'demo:train:no_sentimnt' is not registered",
      "demo:train:no_sentiment"]),
    ("misspelt split", "eval.py",
     ["--gin_file=runs/demo.gin", "--gin.CHECKPOINT='{w}/run'",
      f"--gin.EVAL_MIXTURE={ONE_TASK}", "--gin.EVAL_OUTPUT_DIR='{w}/out5'",
      "--gin.evaluate.split='tset'"], {}, 1,
     ["evaluate.split 'tset'"]),
    ("misspelt eval mixture", "eval.py",
     ["--gin_file=runs/demo.gin", "--gin.CHECKPOINT='{w}/run'",
      "--gin.EVAL_MIXTURE='demo:eval:nil'", "--gin.EVAL_OUTPUT_DIR='{w}/o6'"],
     {}, 1, ["unknown task or mixture 'demo:eval:nil'"]),
    ("eval output of another job", "eval.py",
     ["--gin_file=runs/demo.gin", "--gin.CHECKPOINT='{w}/run'",
      "--gin.EVAL_MIXTURE='demo:movie_review:t1:score'",
      "--gin.EVAL_OUTPUT_DIR='{w}/eval'", "--gin.evaluate.max_examples=2",
      "--gin.evaluate.selection_split=None"], {}, 1,
     ["{w}/eval holds results of a different eval job"]),
    ("eval batch size 0", "eval.py",
     ["--gin_file=runs/demo.gin", "--gin.CHECKPOINT='{w}/run'",
      f"--gin.EVAL_MIXTURE={ONE_TASK}", "--gin.EVAL_OUTPUT_DIR='{w}/out7'",
      "--gin.evaluate.batch_size=0"], {}, 1, ["evaluate.batch_size is 0"]),
    ("negative few-shot", "eval.py",
     ["--gin_file=runs/demo.gin", "--gin.CHECKPOINT='{w}/run'",
      f"--gin.EVAL_MIXTURE={ONE_TASK}", "--gin.EVAL_OUTPUT_DIR='{w}/out8'",
      "--gin.evaluate.few_shot=-1"], {}, 1,
     ["evaluate.few_shot is -1", "whole number"]),
    ("top-p above 1", "eval.py",
     ["--gin_file=runs/demo.gin", "--gin.CHECKPOINT='{w}/run'",
      f"--gin.EVAL_MIXTURE={ONE_TASK}", "--gin.EVAL_OUTPUT_DIR='{w}/out9'",
      "--gin.EncoderDecoderModel.top_p=1.5"], {}, 1,
     ["EncoderDecoderModel.top_p is 1.5", "at most 1"]),
    ("eval a training mixture", "eval.py",
     ["--gin_file=runs/demo.gin", "--gin.CHECKPOINT='{w}/run'",
      "--gin.EVAL_MIXTURE='demo:train:no_nli'",
      "--gin.EVAL_OUTPUT_DIR='{w}/out10'"], {}, 1,
     ["'demo:train:no_nli' cannot be evaluated", "no metrics",
      "demo:eval:"]),
    ("eval a damaged checkpoint", "eval.py",
     ["--gin_file=runs/demo.gin", "--gin.CHECKPOINT='{w}/damaged'",
      f"--gin.EVAL_MIXTURE={ONE_TASK}", "--gin.EVAL_OUTPUT_DIR='{w}/out11'"],
     {}, 1, ["{w}/damaged/checkpoints/2 is damaged", "{damaged_file}",
             "SHA-256 differs"]),
    ("MMLU short row", "eval.py",
     ["--gin_file=runs/demo.gin", "--gin.CHECKPOINT='{w}/run'",
      f"--gin.EVAL_MIXTURE={MMLU_TASK}", "--module=tasks.benchmarks",
      "--gin.EVAL_OUTPUT_DIR='{w}/out12'", "--gin.evaluate.selection_split=None"],
     {"FLAN_JAX_MMLU_DIR": "{w}/mmlu"}, 1,
     ["{w}/mmlu/test/anatomy_test.csv:2: expected 6 fields", "found 3"]),
    ("BBH broken JSON", "eval.py",
     ["--gin_file=runs/demo.gin", "--gin.CHECKPOINT='{w}/run'",
      f"--gin.EVAL_MIXTURE={BBH_TASK}", "--module=tasks.benchmarks",
      "--gin.EVAL_OUTPUT_DIR='{w}/out13'", "--gin.evaluate.selection_split=None"],
     {"FLAN_JAX_BBH_DIR": "{w}/bbh"}, 1,
     ["{w}/bbh/bbh/navigate.json:2: expected JSON"]),
    ("pre-rendered broken line", "train.py",
     [*TINY_RUN, "--module=tasks.flan2022",
      "--gin.FLAN2022_DIR='{w}/flan2022'",
      "--gin.MIXTURE='flan2022:prerendered:t0_submix'"], {}, 1,
     ["{w}/flan2022/t0_submix/train.jsonl:2: expected one JSON object per "
      "line"]),
    # --- infer
    ("infer a mixture", "infer.py",
     ["--gin_file=models/t5_demo.gin", "--gin_file=runs/infer.gin",
      "--module=tasks.demo", "--gin.CHECKPOINT='{w}/run'",
      "--gin.INFER_TASK='demo:eval:all'", "--gin.INFER_OUTPUT='{w}/p.jsonl'"],
     {}, 1, ["infer.task_name 'demo:eval:all' is a mixture"]),
    ("infer unknown mode", "infer.py",
     ["--gin_file=models/t5_demo.gin", "--gin_file=runs/infer.gin",
      "--module=tasks.demo", "--gin.CHECKPOINT='{w}/run'",
      f"--gin.INFER_TASK={ONE_TASK}", "--gin.INFER_OUTPUT='{w}/p.jsonl'",
      "--gin.infer.mode='guess'"], {}, 1, ["infer.mode is 'guess'"]),
    ("infer output is a folder", "infer.py",
     ["--gin_file=models/t5_demo.gin", "--gin_file=runs/infer.gin",
      "--module=tasks.demo", "--gin.CHECKPOINT='{w}/run'",
      f"--gin.INFER_TASK={ONE_TASK}", "--gin.INFER_OUTPUT='{w}/empty'"], {},
     1, ["infer.output_path is {w}/empty, which is a directory"]),
    ("infer a damaged checkpoint", "infer.py",
     ["--gin_file=models/t5_demo.gin", "--gin_file=runs/infer.gin",
      "--module=tasks.demo", "--gin.CHECKPOINT='{w}/damaged'",
      f"--gin.INFER_TASK={ONE_TASK}", "--gin.INFER_OUTPUT='{w}/p2.jsonl'"],
     {}, 1, ["checkpoints/2 is damaged", "{damaged_file}"]),
    ("harness task that does not exist", "lm_eval_harness.py",
     ["--gin_file=models/t5_demo.gin", "--checkpoint={w}/run",
      "--tasks=arc_eazy"], {}, 1,
     ["--tasks arc_eazy: lm-evaluation-harness has no such task",
      "arc_easy"]),
    ("harness on a damaged checkpoint", "lm_eval_harness.py",
     ["--gin_file=models/t5_demo.gin", "--checkpoint={w}/damaged",
      "--tasks=sky", "--include_path={w}/yaml_ok", "--limit=1"], {}, 1,
     ["checkpoints/2 is damaged", "{damaged_file}"]),
    ("harness task file broken", "lm_eval_harness.py",
     ["--gin_file=models/t5_demo.gin", "--checkpoint={w}/run",
      "--tasks=mine", "--include_path={w}/yaml_tasks"], {}, 1,
     ["{w}/yaml_tasks/mine.yaml:", "expected a YAML task config"]),
    # --- report
    ("report results missing", "report.py",
     ["--results={w}/nowhere", "--output_dir={w}/report1"], {}, 1,
     ["--results: {w}/nowhere does not exist"]),
    ("report results not json", "report.py",
     ["--results={w}/results.json", "--output_dir={w}/report2"], {}, 1,
     ["results.json is not a results.json"]),
    ("report labels mismatch", "report.py",
     ["--results={w}/eval", "--labels=a,b", "--output_dir={w}/report3"], {},
     1, ["1 results but 2 labels"]),
    ("report output missing", "report.py", ["--results={w}/eval"], {}, 2,
     ["--output_dir"]),
    # --- plan, convert, export, demo, catalogue
    ("plan -1 axis", "plan.py",
     ["--gin_file=plan/flan_t5_xxl.gin", "--gin_file=hardware/cpu.gin"], {}, 2,
     ["pass --num_devices"]),
    ("convert dir missing", "convert_hf.py",
     ["--hf_dir={w}/nowhere", "--output_dir={w}/converted"], {}, 1,
     ["{w}/nowhere"]),
    ("convert unsupported", "convert_hf.py",
     ["--hf_dir={w}/bert", "--output_dir={w}/converted"], {}, 1,
     ["model_type 'bert' is not supported"]),
    ("export not a step dir", "export_hf.py",
     ["--gin_file=models/t5_demo.gin", "--checkpoint={w}/run",
      "--output_dir={w}/exported"], {}, 1,
     ["not a checkpoint step directory"]),
    ("export a damaged checkpoint", "export_hf.py",
     ["--gin_file=models/t5_demo.gin",
      "--checkpoint={w}/damaged/checkpoints/2", "--output_dir={w}/exported"],
     {}, 1, ["checkpoints/2 is damaged", "{damaged_file}"]),
    ("convert a broken config", "convert_hf.py",
     ["--hf_dir={w}/broken_hf", "--output_dir={w}/converted"], {}, 1,
     ["{w}/broken_hf/config.json:2: expected JSON"]),
    ("export with another model", "export_hf.py",
     ["--gin_file=models/t5_1_1_tiny.gin", "--checkpoint={w}/run/checkpoints/2",
      "--output_dir={w}/exported"], {}, 1, ["does not fit", "another model"]),
    ("export --peft on a full run", "export_hf.py",
     ["--gin_file=models/t5_demo.gin", "--checkpoint={w}/run/checkpoints/2",
      "--output_dir={w}/exported", "--peft"], {}, 1,
     ["--peft exports LoRA adapters", "without --peft"]),
    ("lora pattern matches no layer", "train.py",
     [*TINY_RUN, "--gin.T5Config.lora=@LoraConfig()",
      "--gin.LoraConfig.target_pattern='SelfAttention/q'"], {}, 1,
     ["LoraConfig.target_pattern 'SelfAttention/q' matches no dense layer"]),
    ("demo misspelt macro", "demo.py",
     ["--model_dir={w}/demo", "--gin.TRAIN_STEP=5"], {}, 1,
     ["sets the macro TRAIN_STEP"]),
    ("demo model dir is a file", "demo.py", ["--model_dir={w}/a_file"], {}, 1,
     ["a_file, which is a file"]),
    ("catalogue output unwritable", "catalogue.py",
     ["--output={w}/a_file/catalogue.md"], {}, 1,
     ["--output is {w}/a_file/catalogue.md, which cannot be written"]),
    ("catalogue stray argument", "catalogue.py", ["all"], {}, 2,
     ["unexpected arguments"]),
]


def test_the_table_covers_every_script_with_at_least_30_mistakes():
  scripts = {script for _, script, *_ in CASES}
  assert scripts >= {"train.py", "eval.py", "infer.py", "report.py",
                     "plan.py", "convert_hf.py", "export_hf.py", "demo.py",
                     "catalogue.py"}
  assert len({case[0] for case in CASES}) == len(CASES) >= 30


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_a_mistake_is_one_line_and_loses_nothing(world, case):
  _, script, args, env, status, words = case
  damaged_file = (world / "damaged_file").read_text()
  fill = lambda text: text.replace("{w}", str(world)).replace(
      "{damaged_file}", damaged_file)
  before = {d: _digest(world / d) for d in ("run", "eval", "damaged")}
  # A vocabulary setting acts when tasks are imported: a fresh process.
  result = script_runner.run(script, *map(fill, args),
                             env={k: fill(v) for k, v in env.items()},
                             fresh="FLAN_JAX_SPM_PATH" in env)
  lines = [l for l in result.stderr.splitlines() if l.strip()]
  assert "Traceback" not in result.stderr, result.stderr[-3000:]
  assert lines, f"no message; stdout: {result.stdout[-2000:]}"
  name = script[:-len(".py")]
  assert lines[-1].startswith(f"{name}: "), result.stderr[-3000:]
  assert sum(l.startswith(f"{name}: ") for l in lines) == 1, result.stderr
  for word in words:
    assert fill(word) in lines[-1], lines[-1]
  assert result.status == status, (result.status, lines[-1])
  assert {d: _digest(world / d) for d in ("run", "eval", "damaged")} == before
  assert not (world / "new_run").exists()  # not even an empty folder


def test_the_troubleshooting_guide_example_is_the_real_message(world):
  del world  # only for the shared fork server's warm start
  readme = (script_runner.REPO / "docs" / "guides" /
            "troubleshooting.md").read_text()
  command = "python scripts/train.py --gin_file=runs/demo.gin --gin.TRAIN_STEPS=-5"
  shown = readme.split(f"$ {command}\n", 1)[1].splitlines()[0]
  result = script_runner.run("train.py", *command.split()[2:])
  assert result.status == 1
  assert result.stderr.strip().splitlines()[-1] == shown


def test_a_damaged_newest_checkpoint_is_set_aside_and_the_previous_resumed(
    world, tmp_path):
  """The fault: bytes overwritten inside an array file of the newest step.
  Resuming restores the step before it, with a warning naming the file."""
  run_dir = tmp_path / "run"
  shutil.copytree(world / "run", run_dir)
  damaged = damage_newest_step(run_dir)
  result = script_runner.run(
      "train.py", "--gin_file=runs/demo.gin",
      *[a for a in SETTINGS if "TRAIN_STEPS" not in a],
      "--gin.TRAIN_STEPS=3", f"--gin.MODEL_DIR='{run_dir}'")
  assert result.status == 0, result.stderr[-3000:]
  output = result.stdout + result.stderr
  warning = next(l for l in output.splitlines() if "cannot be restored" in l)
  assert "checkpoint 2" in warning and damaged in warning
  assert "SHA-256 differs" in warning
  assert "resumed from step 0" in output
  steps = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
  assert any(name.startswith("2.corrupt-") for name in steps), steps
  assert "3" in steps
