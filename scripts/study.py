r"""The paper's studies in one command: train every variant, evaluate, report.

    python scripts/study.py --study=num_clusters            # on the demo, CPU
    python scripts/study.py --study=instructions --seeds=0,1,2
    python scripts/study.py --study=loco --suite=flan2021 --dry_run
    python scripts/study.py --study=prompt_tuning --prompt_tuning_steps=200

--study is loco (every cluster held out in turn), num_clusters (FLAN's
Fig. 6), templates (templates per dataset), instructions (full / dataset
name / no template, Fig. 8) or prompt_tuning (section 4.5, Fig. 10: the
pretrained base and the run that held the cluster out, each prompt-tuned on
32 examples per held-out dataset and on the full training sets;
--prompt_tuning_steps sizes each prompt tuning). --suite names the
collection and its run gin (demo: runs/demo.gin, flan2021:
runs/flan2021_t5.gin); --gin_file replaces that gin and --gin.X=Y applies
to every run (e.g. --gin.TRAIN_STEPS=400; a prompt tuning's steps stay
--prompt_tuning_steps).
Writes STUDY_DIR/report/report.md and the study's figure; a killed study run
again with the same flags resumes where it stopped. --dry_run prints each
run's gin, the memory plan of one step (scripts/plan.py) and the total
budget, and reads no data.
"""

from flan_jax.cli import startup  # sets up TF logging before TensorFlow loads

import importlib
import os
import sys

from absl import app
from absl import flags

from flan_jax.cli import gin_config
from flan_jax.cli import study as study_lib

SUITES = {"demo": ("tasks.demo", "runs/demo.gin"),
          "flan2021": ("tasks.flan2021", "runs/flan2021_t5.gin")}

_STUDY = flags.DEFINE_enum("study", None, study_lib.STUDIES, "Which study.",
                           required=True)
_SUITE = flags.DEFINE_string(
    "suite", "demo", "Collection to study: demo or flan2021 (or any "
    "registered collection with --gin_file and --module).")
_STUDY_DIR = flags.DEFINE_string(
    "study_dir", None, "Where the runs and the report go (default "
    "/tmp/flan_jax_study/<suite>_<study>).")
_SEEDS = flags.DEFINE_list("seeds", ["0"], "train.seed of each repeat.")
_DRY_RUN = flags.DEFINE_bool("dry_run", False, "Print the runs' gin, the "
                             "plan and the budget; train nothing.")
_PROMPT_TUNING_STEPS = flags.DEFINE_integer(
    "prompt_tuning_steps", study_lib.PROMPT_TUNING_STEPS, "Steps of each "
    "prompt-tuning run of --study=prompt_tuning (the leave-one-out run "
    "takes the suite's TRAIN_STEPS).")
_NUM_DEVICES = flags.DEFINE_integer(
    "num_devices", None, "Devices the dry run plans for when the mesh has "
    "a -1 axis (default: 1).")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  startup.setup_logging()
  startup.import_modules()
  module, gin_file = SUITES.get(_SUITE.value, (None, None))
  if module:
    importlib.import_module(module)
  gin_files = flags.FLAGS.gin_file or ([gin_file] if gin_file else [])
  if not gin_files:
    raise app.UsageError(f"suite '{_SUITE.value}' has no run gin; pass "
                         f"--gin_file (known suites: {', '.join(SUITES)})")
  try:
    seeds = [int(s) for s in _SEEDS.value]
  except ValueError as e:
    raise app.UsageError(f"--seeds takes integers: {e}") from e
  study_dir = _STUDY_DIR.value or os.path.join(
      "/tmp/flan_jax_study", f"{_SUITE.value}_{_STUDY.value}")
  bindings = list(flags.FLAGS.gin_bindings)
  paths = list(flags.FLAGS.gin_search_paths)
  try:
    study = study_lib.plan_study(
        _STUDY.value, _SUITE.value, seeds,
        prompt_tuning_steps=_PROMPT_TUNING_STEPS.value)
    if _DRY_RUN.value:
      sys.stdout.write(study_lib.dry_run_text(
          study, gin_files, bindings, paths, study_dir, _NUM_DEVICES.value))
      return
    files = study_lib.run_study(study, gin_files=gin_files,
                                user_bindings=bindings, search_paths=paths,
                                study_dir=study_dir)
  except study_lib.StudyError as e:
    raise app.UsageError(str(e).splitlines()[0]) from e
  with open(files["markdown"]) as f:
    sys.stdout.write(f.read())
  sys.stdout.write(f"\nReport: {files['markdown']}\n")


if __name__ == "__main__":
  startup.run_gin_script(main)
