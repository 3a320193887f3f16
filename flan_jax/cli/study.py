"""The paper's studies in one command: plan, train, evaluate, report.

A study is a list of runs of one suite's run gin file (`runs/demo.gin`,
`runs/flan2021_t5.gin`) that differ only in their training mixture and
seed; every run is evaluated on its held-out clusters, and the base model
once on every eval mixture the runs use. `plan_study` makes the list::

    loco          every cluster held out in turn       <c>:train:no_<h>
    num_clusters  held-out score vs training clusters  <c>:ablation:num_clusters:<k>:train
    templates     held-out score vs templates/dataset  <c>:ablation:templates:<n>:train
    instructions  full / dataset name / no template    <c>:ablation:instructions:<mode>:no_<h>
    prompt_tuning FLAN's section 4.5 (Fig. 10), per held-out cluster h:
                  the leave-one-out run                 <c>:train:no_<h>
                  then prompt tuning of the base and of that run's last
                  checkpoint on h's first 32 examples per dataset and on
                  h's whole training sets               <c>:ablation:
                                                        prompt_tuning:
                                                        {first32,full}:<h>

(the ablation mixtures and what they hold out are the collection's
`flan_jax.data.ablations` plan). Each run is the suite's gin plus a few
bindings, for example::

    include 'runs/demo.gin'
    MODEL_DIR = '/tmp/study/runs/clusters_2_seed0'
    MIXTURE = 'demo:ablation:num_clusters:2:train'
    EVAL_MIXTURE = 'demo:ablation:held_out:eval'
    EVAL_OUTPUT_DIR = '/tmp/study/runs/clusters_2_seed0/eval'
    train.seed = 0

so `scripts/train.py` and `scripts/eval.py` reproduce any one of them
(`runs/<run>/study_run.gin` holds it). The base is the suite's
`train.initial_checkpoint` when it binds one (the demo's pretrained base),
else step 0 of the first run (every run of a seed starts from the same
initialisation).

The prompt-tuning runs add `runs/prompt_tuning.gin` to the suite's files,
start from their checkpoint (`train.initial_checkpoint`: the suite's base,
or the leave-one-out run's last step) and train `prompt_tuning_steps` steps
(`--prompt_tuning_steps`, default 200; `--gin.TRAIN_STEPS` sizes the
leave-one-out run only). The
instruction-tuned checkpoint is a run of the study rather than a flag: the
study then holds out exactly the cluster it prompt-tunes on, and plans,
budgets and resumes the tuning like every other run.

`run_study` is restartable: the study directory holds `study.json` (the
plan; a restart with another plan is refused, one with more seeds reuses
the runs already done), `progress.json` (the runs
finished, with their times), `base/`, `runs/<run>/` and `report/`. A killed
study started again skips what is finished, resumes a run's training from
its newest checkpoint and its evaluation from its finished tasks. Progress
lines give the runs done, running and left, and an ETA from the runs
finished so far.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from typing import Any, Callable, Sequence

import gin

from flan_jax.cli import gin_config
from flan_jax.data import ablations
from flan_jax.data import mixtures
from flan_jax.evaluation import outputs
from flan_jax.evaluation import study_report
from flan_jax.train import planning

log = logging.getLogger("flan_jax")

STUDIES = ("loco", "num_clusters", "templates", "instructions",
           "prompt_tuning")
PROMPT_GIN = "runs/prompt_tuning.gin"
PROMPT_TUNING_STEPS = 200  # default steps of each prompt-tuning run
FROM_BASE = "base"  # StudyRun.init_from: the suite's base
STUDY_FILE, PROGRESS_FILE, RUN_GIN = "study.json", "progress.json", "study_run.gin"


class StudyError(ValueError):
  """A study that cannot run as asked (unknown name, another study's dir)."""


@dataclasses.dataclass(frozen=True)
class StudyRun:
  """One training run of a study and what it is evaluated on.

  Attributes:
    name: directory name under runs/, e.g. "clusters_2_seed0".
    value: what the run varies: a cluster, a count or an instructions mode.
    mixture: the training mixture.
    eval_mixture: the held-out clusters' eval mixture.
    held_out: the clusters it holds out.
    seed: train.seed.
    extra_evals: (label, eval mixture) evaluated besides, e.g. the dataset
      name phrasing of the held-out tasks.
    gin_files: included after the suite's gin (prompt tuning's file).
    init_from: where a prompt-tuning run starts: FROM_BASE, or the name of
      the study run whose last checkpoint it tunes.
    train_steps: a prompt-tuning run's steps (over the suite's TRAIN_STEPS).
  """
  name: str
  value: str | int
  mixture: str
  eval_mixture: str
  held_out: tuple[str, ...]
  seed: int
  extra_evals: tuple[tuple[str, str], ...] = ()
  gin_files: tuple[str, ...] = ()
  init_from: str | None = None
  train_steps: int | None = None


@dataclasses.dataclass(frozen=True)
class Study:
  name: str
  collection: str
  runs: tuple[StudyRun, ...]

  @property
  def base_eval_mixtures(self) -> list[str]:
    return list(dict.fromkeys(r.eval_mixture for r in self.runs))


def _runs_per_seed(seeds, make) -> tuple[StudyRun, ...]:
  return tuple(run for seed in seeds for run in make(seed))


def plan_study(name: str, collection: str, seeds: Sequence[int] = (0,), *,
               prompt_tuning_steps: int = PROMPT_TUNING_STEPS) -> Study:
  """The runs of study `name` on `collection` (its mixtures registered)."""
  if name not in STUDIES:
    raise StudyError(f"unknown study '{name}'; studies: {', '.join(STUDIES)}")
  if not seeds:
    raise StudyError("a study needs at least one seed")
  clusters = mixtures.registered_clusters(collection)
  if not clusters:
    raise StudyError(f"collection '{collection}' has no registered clusters "
                     "(is the module that registers it imported?)")
  if name == "prompt_tuning":
    if prompt_tuning_steps < 1:
      raise StudyError("--prompt_tuning_steps must be at least 1, not "
                       f"{prompt_tuning_steps}")
    return Study(name, collection, _runs_per_seed(
        seeds, lambda seed: _prompt_tuning_runs(collection, seed,
                                                prompt_tuning_steps)))
  if name == "loco":
    held = [c for c in clusters if mixtures.train_mixture_name(collection, c)
            in _mixture_names()]
    make = lambda seed: [StudyRun(
        f"no_{c}_seed{seed}", c, mixtures.train_mixture_name(collection, c),
        mixtures.eval_mixture_name(collection, c), (c,), seed) for c in held]
    return Study(name, collection, _runs_per_seed(seeds, make))
  try:
    plan = ablations.registered_plan(collection)
  except KeyError as e:
    raise StudyError(str(e)) from None
  held_eval = ablations.held_out_eval_mixture(collection)
  if name == "num_clusters":
    make = lambda seed: [StudyRun(
        f"clusters_{k}_seed{seed}", k,
        ablations.num_clusters_mixture(collection, k), held_eval,
        plan.held_out, seed) for k in range(1, len(plan.cluster_order) + 1)]
  elif name == "templates":
    make = lambda seed: [StudyRun(
        f"templates_{n}_seed{seed}", n,
        ablations.templates_mixture(collection, n), held_eval, plan.held_out,
        seed) for n in plan.template_counts]
  else:
    make = lambda seed: [StudyRun(
        f"{mode}_no_{h}_seed{seed}", mode,
        ablations.instructions_mixture(collection, mode, h),
        mixtures.eval_mixture_name(collection, h), (h,), seed,
        ((study_report.NAME_AT_EVAL,
          ablations.dataset_name_eval_mixture(collection, h)),)
        if mode == ablations.DATASET_NAME else ())
                         for h in plan.instruction_held_out
                         for mode in ablations.INSTRUCTION_MODES]
  runs = _runs_per_seed(seeds, make)
  if not runs:
    raise StudyError(f"collection '{collection}' has no runs for study "
                     f"'{name}' (its ablation plan holds out nothing)")
  return Study(name, collection, runs)


def _prompt_tuning_runs(collection: str, seed: int,
                        steps: int = PROMPT_TUNING_STEPS) -> list[StudyRun]:
  """Per held-out cluster: its leave-one-out run, then four prompt tunings."""
  try:
    held = ablations.registered_plan(collection).instruction_held_out
  except KeyError as e:
    raise StudyError(str(e)) from None
  known = _mixture_names()
  held = [h for h in held if mixtures.train_mixture_name(collection, h)
          in known and ablations.prompt_tuning_mixture(collection, h) in known]
  if not held:
    raise StudyError(f"collection '{collection}' has no held-out cluster to "
                     "prompt-tune on (its ablation plan's instruction_held_out "
                     "names none with training data)")
  runs = []
  for h in held:
    tuned = StudyRun(f"no_{h}_seed{seed}", "tuned:zero_shot",
                     mixtures.train_mixture_name(collection, h),
                     mixtures.eval_mixture_name(collection, h), (h,), seed)
    runs.append(tuned)
    for model, start in (("base", FROM_BASE), ("tuned", tuned.name)):
      for examples in (ablations.PROMPT_TUNING_EXAMPLES, None):
        size = "full" if examples is None else f"first{examples}"
        runs.append(StudyRun(
            f"prompt_{model}_{size}_{h}_seed{seed}", f"{model}:{size}",
            ablations.prompt_tuning_mixture(collection, h, examples),
            mixtures.eval_mixture_name(collection, h), (h,), seed,
            gin_files=(PROMPT_GIN,), init_from=start, train_steps=steps))
  return runs


def _mixture_names() -> set[str]:
  import seqio  # pylint: disable=g-import-not-at-top
  return set(seqio.MixtureRegistry.names())


# --- gin of a run -------------------------------------------------------------


def _quote(value: str) -> str:
  return repr(str(value))


def run_bindings(run: StudyRun, study_dir: str) -> list[str]:
  """The bindings that make the suite's gin into this run (before the
  user's, who may change any of them)."""
  model_dir = os.path.join(study_dir, "runs", run.name)
  return [f"MODEL_DIR = {_quote(model_dir)}",
          f"MIXTURE = {_quote(run.mixture)}",
          f"EVAL_MIXTURE = {_quote(run.eval_mixture)}",
          f"EVAL_OUTPUT_DIR = {_quote(os.path.join(model_dir, 'eval'))}",
          f"train.seed = {run.seed}"]


def final_bindings(run: StudyRun, init_checkpoint: str | None = None
                   ) -> list[str]:
  """Bindings after the user's: a prompt-tuning run trains its
  `train_steps` whatever TRAIN_STEPS the user gave, from
  `init_checkpoint` (None: the suite's or the user's base) even when the
  user binds train.initial_checkpoint for the base."""
  if run.init_from is None:
    return []
  bindings = [f"TRAIN_STEPS = {run.train_steps}"]
  if init_checkpoint is not None:
    bindings.append(f"train.initial_checkpoint = {_quote(init_checkpoint)}")
  return bindings


def _run_gin(study: Study, run: StudyRun, gin_files, user_bindings,
             search_paths, study_dir: str) -> tuple[list[str], list[str]]:
  """(gin files, bindings) of one run, its start checkpoint resolved."""
  init = _init_checkpoint(study, run, gin_files, user_bindings, search_paths,
                          study_dir)
  return ([*gin_files, *run.gin_files],
          [*run_bindings(run, study_dir), *user_bindings,
           *final_bindings(run, init)])


def _init_checkpoint(study: Study, run: StudyRun, gin_files, user_bindings,
                     search_paths, study_dir: str) -> str | None:
  """Where a prompt-tuning run starts (None: the suite's own base binding).

  The base is the suite's `train.initial_checkpoint`, else step 0 of the
  study's first run; a tuned start is the named run's last step, read from
  that run's gin (so `--gin.TRAIN_STEPS` moves it too).
  """
  if run.init_from is None:
    return None
  first = study.runs[0]
  source = first if run.init_from == FROM_BASE else next(
      r for r in study.runs if r.name == run.init_from)
  _parse(gin_files, [*run_bindings(source, study_dir), *user_bindings],
         search_paths)
  if run.init_from == FROM_BASE:
    if gin_config.binding_or("train.initial_checkpoint", None):
      return None
    return _base_checkpoint(study_dir, first)
  steps = gin_config.binding_or("train.num_train_steps", 0)
  return os.path.join(study_dir, "runs", source.name, "checkpoints",
                      str(steps))


def run_gin_text(gin_files: Sequence[str], bindings: Sequence[str]) -> str:
  """A gin file holding the suite's files and a run's bindings."""
  return "\n".join([*(f"include {_quote(f)}" for f in gin_files),
                    *bindings]) + "\n"


def _parse(gin_files, bindings, search_paths) -> None:
  gin.clear_config()
  try:
    gin_config.parse_gin(gin_files, bindings, search_paths)
  except ValueError as e:  # a bad file or binding: say it in one line
    raise StudyError(str(e).splitlines()[0]) from e


def _base_checkpoint(study_dir: str, first_run: StudyRun) -> str:
  initial = gin_config.binding_or("train.initial_checkpoint", None)
  return initial or os.path.join(study_dir, "runs", first_run.name,
                                 "checkpoints", "0")


def _mixture_dir(name: str) -> str:
  return name.replace(":", "_").replace("/", "_")


# --- dry run --------------------------------------------------------------------


def dry_run_text(study: Study, gin_files: Sequence[str],
                 user_bindings: Sequence[str], search_paths: Sequence[str],
                 study_dir: str, num_devices: int | None = None) -> str:
  """Each run's gin, the memory plan of one train step and the budget.

  Reads no data: the plan comes from shapes (`scripts/plan.py`), the
  budget from the gin's steps, batch and lengths and the model's FLOPs.
  """
  parts = [f"# Study '{study.name}' on '{study.collection}': "
           f"{len(study.runs)} runs, base evaluated on "
           f"{', '.join(study.base_eval_mixtures)}", ""]
  run_gin = {}
  for index, run in enumerate(study.runs):
    run_gin[run.name] = _run_gin(study, run, gin_files, user_bindings,
                                 search_paths, study_dir)
    evals = ", ".join([run.eval_mixture, *(m for _, m in run.extra_evals)])
    parts += [f"## run {index + 1}/{len(study.runs)}: {run.name} "
              f"(evaluated on {evals})", "", "```",
              run_gin_text(*run_gin[run.name]).rstrip(), "```", ""]
  # Runs with the same gin files differ only in data, seed and start: one
  # parse per kind (instruction tuning, prompt tuning) gives their steps,
  # batch, lengths, model and mesh.
  kinds: dict[tuple[str, ...], list[StudyRun]] = {}
  for run in study.runs:
    kinds.setdefault(run.gin_files, []).append(run)
  steps_total = tokens_total = 0
  flops_total = 0.0
  for extra, runs in kinds.items():
    _parse(*run_gin[runs[0].name], search_paths)
    steps = gin_config.binding_or("train.num_train_steps", 0)
    batch = gin_config.binding_or("train.batch_size", 0)
    lengths = gin_config.binding_or("train.task_feature_lengths", {})
    model = gin_config.binding_or("MODEL", None)
    flops = 0.0
    if model is not None:
      converter = model.feature_converter(
          pack=gin_config.binding_or("train.pack", True))
      shapes = {k: (batch, v) for k, v in
                converter.get_model_feature_lengths(lengths).items()}
      flops = model.train_flops(shapes)
    mesh = gin_config.binding_or("Partitioner.mesh_shape", {})
    devices = num_devices or (1 if -1 in mesh.values() else None)
    plan_text = planning.format_plan(gin_config.memory_plan(devices))
    steps_total += len(runs) * steps
    tokens_total += len(runs) * steps * batch * sum(lengths.values())
    flops_total += len(runs) * steps * flops
    count = f"{len(runs)} run{'s' if len(runs) > 1 else ''}"
    what = (f"{count} with {', '.join(extra)}, {steps:,} steps each"
            if extra else
            "the same for every run, which differ only in data and seed"
            if len(kinds) == 1 else
            f"{count} of the suite's gin alone, {steps:,} steps each")
    parts += [f"## Plan of one train step (`scripts/plan.py`; {what})", "",
              "```", plan_text, "```", ""]
  parts += ["## Budget", "",
            f"- training: {len(study.runs)} runs, {steps_total:,} steps, "
            f"{tokens_total:,} token slots (steps x batch x lengths), "
            f"{flops_total:.3g} model FLOPs",
            f"- evaluation: the base on {len(study.base_eval_mixtures)} eval "
            f"mixture(s), each run on its held-out clusters "
            f"({sum(1 + len(r.extra_evals) for r in study.runs)} jobs)", ""]
  return "\n".join(parts)


# --- running --------------------------------------------------------------------


def _study_record(study: Study, gin_files, user_bindings) -> dict[str, Any]:
  return {"study": study.name, "collection": study.collection,
          "gin_files": list(gin_files), "bindings": list(user_bindings),
          "runs": [dataclasses.asdict(r) for r in study.runs]}


def _claim(study_dir: str, record: dict[str, Any]) -> None:
  """Writes study.json, or checks that the directory holds this study.

  The same study with other seeds (more runs, or fewer) is this study: runs
  of the same name must agree, and finished ones are reused.
  """
  path = os.path.join(study_dir, STUDY_FILE)
  if os.path.exists(path):
    before = json.loads(json.dumps(outputs.read_json(path)))
    now = json.loads(json.dumps(record))
    changed = sorted(k for k in set(before) | set(now)
                     if k != "runs" and before.get(k) != now.get(k))
    # Fields added since a study.json was written read as their defaults.
    defaults = json.loads(json.dumps({
        f.name: f.default for f in dataclasses.fields(StudyRun)
        if f.default is not dataclasses.MISSING}))
    old_runs = {r["name"]: {**defaults, **r} for r in before.get("runs", [])}
    changed += sorted(f"run {r['name']}" for r in now["runs"]
                      if r["name"] in old_runs and old_runs[r["name"]] != r)
    if changed:
      raise StudyError(f"{study_dir} holds another study (differs in: "
                       f"{', '.join(changed)}); use another --study_dir or "
                       "delete it")
  outputs.write_json(path, record)


class _Progress:
  """progress.json: finished steps of the study and how long each took."""

  def __init__(self, study_dir: str, total_runs: int):
    self._path = os.path.join(study_dir, PROGRESS_FILE)
    self._done = (outputs.read_json(self._path)
                  if os.path.exists(self._path) else {})
    self._total = total_runs

  def done(self, key: str) -> bool:
    return key in self._done

  def finish(self, key: str, seconds: float) -> None:
    self._done[key] = round(seconds, 1)
    outputs.write_json(self._path, self._done)

  def report(self, study: str, running: str) -> None:
    runs = {k: v for k, v in self._done.items() if k.startswith("run:")}
    done = len(runs)
    left = self._total - done - 1
    if runs:
      eta = f"ETA {sum(runs.values()) / done * (left + 1) / 60:.1f} min"
    else:
      eta = "ETA after the first run"
    log.info("study %s: %d of %d runs done, running %s, %d left; %s", study,
             done, self._total, running, max(left, 0), eta)


def run_study(study: Study, *, gin_files: Sequence[str],
              user_bindings: Sequence[str] = (),
              search_paths: Sequence[str] = (), study_dir: str,
              on_step_done: Callable[[str], None] | None = None
              ) -> dict[str, str]:
  """Trains and evaluates every run, then writes the study's report.

  Args:
    study: from `plan_study`.
    gin_files: the suite's gin files; user_bindings apply to every run.
    search_paths: extra gin search paths.
    study_dir: where everything goes (see the module docstring).
    on_step_done: called with "train:<run>", "eval:<run>" or
      "base:<mixture>" after each finished step (tests stop a study there).

  Returns:
    name -> path of each report file (`study_report.write_study_report`).
  """
  study_dir = os.path.abspath(study_dir)
  os.makedirs(study_dir, exist_ok=True)
  _claim(study_dir, _study_record(study, gin_files, user_bindings))
  progress = _Progress(study_dir, len(study.runs))

  def step(key: str, work: Callable[[], Any]) -> None:
    if progress.done(key):
      return
    started = time.perf_counter()
    work()
    progress.finish(key, time.perf_counter() - started)
    if on_step_done is not None:
      on_step_done(key)

  base_dirs = {m: os.path.join(study_dir, "base", _mixture_dir(m))
               for m in study.base_eval_mixtures}
  for index, run in enumerate(study.runs):
    files, bindings = _run_gin(study, run, gin_files, user_bindings,
                               search_paths, study_dir)
    model_dir = os.path.join(study_dir, "runs", run.name)
    run_started = time.perf_counter()
    if not progress.done(f"run:{run.name}"):
      progress.report(study.name, f"{run.name} ({index + 1}/"
                      f"{len(study.runs)})")
    _parse(files, bindings, search_paths)
    os.makedirs(model_dir, exist_ok=True)
    outputs.write_atomic(os.path.join(model_dir, RUN_GIN),
                         run_gin_text(files, bindings))

    def train():
      gin_config.train(config_text=gin_config.config_text())

    def evaluate():
      gin_config.evaluate()
      for label, mixture in run.extra_evals:
        gin_config.evaluate(mixture_or_task_name=mixture,
                            output_dir=os.path.join(model_dir,
                                                    f"eval_{label}"))

    step(f"train:{run.name}", train)
    if index == 0:  # the base exists once the first run has its step 0
      base = _base_checkpoint(study_dir, run)
      for mixture, out in base_dirs.items():
        step(f"base:{mixture}", lambda m=mixture, o=out: gin_config.evaluate(
            checkpoint=base, step=None, mixture_or_task_name=m, output_dir=o,
            training_mixture=None))
    step(f"eval:{run.name}", evaluate)
    if not progress.done(f"run:{run.name}"):
      progress.finish(f"run:{run.name}", time.perf_counter() - run_started)
  log.info("study %s: all %d runs done; writing the report", study.name,
           len(study.runs))
  return write_report(study, study_dir)


def write_report(study: Study, study_dir: str) -> dict[str, str]:
  """The report of a finished study, from its results.json files."""
  read = lambda d: outputs.read_json(os.path.join(d, outputs.RESULTS_FILE))
  base = {m: read(os.path.join(study_dir, "base", _mixture_dir(m)))
          for m in study.base_eval_mixtures}
  points = []
  for run in study.runs:
    model_dir = os.path.join(study_dir, "runs", run.name)
    extra = {label: read(os.path.join(model_dir, f"eval_{label}"))
             for label, _ in run.extra_evals}
    points.append(study_report.StudyPoint(
        value=run.value, seed=run.seed, held_out=run.held_out,
        results=read(os.path.join(model_dir, "eval")), extra=extra))
  return study_report.write_study_report(
      study.name, points, list(base.values()),
      os.path.join(study_dir, "report"), collection=study.collection)
