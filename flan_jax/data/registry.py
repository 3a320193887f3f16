"""One call registers every seqio task variant of one dataset.

Naming convention (``<collection>`` groups datasets, e.g. ``demo``)::

    <collection>:<dataset>:train          all templates spread over the examples
    <collection>:<dataset>:t<i>:gen       template i, greedy generation + metrics
    <collection>:<dataset>:t<i>:score     template i, rank classification
                                          (datasets with answer options only)

Templates are numbered from 0 in the order given. Inverted templates ("turn
the task around") appear only in the training task: their targets are free
text that the dataset's metric does not measure, so they get no eval tasks.

A dataset name may have several ``:``-separated parts; Flan 2022's template
types use the second for the type (``flan2022:rte:zsnoopt:train``,
``flan2022:rte:zsnoopt:t0:score``), and the whole name is the dataset that
results are grouped by.

Example::

    spec = DatasetSpec(
        name="movie_mood", collection="mine",
        source=seqio.FunctionDataSource(make_split, splits=("train", "test")),
        templates=[Template("{text}\\nHappy or sad?\\n{options_}", "{answer}")],
        options=("happy", "sad"))
    register_dataset(spec)   # -> mine:movie_mood:train, :t0:gen, :t0:score
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Mapping, Sequence

import seqio
import tensorflow as tf

from flan_jax.data import few_shot as few_shot_lib
from flan_jax.data import local_files
from flan_jax.data import metrics as metrics_lib
from flan_jax.data import rank_classification
from flan_jax.data import templates as templates_lib
from flan_jax.data import vocab as vocab_lib

Preprocessor = Callable[[tf.data.Dataset], tf.data.Dataset]

TRAIN, GENERATION, SCORING = "train", "gen", "score"


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
  """Everything needed to register one dataset.

  Attributes:
    name: dataset key, unique within its collection (letters, digits, _;
      ``:`` separates the parts of a two-level name such as "rte:zsopt").
    source: a seqio DataSource yielding raw examples.
    templates: instruction templates over the prepared example's fields.
    collection: prefix of every task name.
    prepare: dataset-specific preparation, run in order before templating
      (each maps a tf.data.Dataset of raw examples to prepared examples).
    options: constant answer classes; when None and a template uses
      ``{options_}``, examples must carry their own ``options`` field.
    answer_field: the field holding the correct option (classification).
    metric_fns: seqio metric functions for generation tasks.
    postprocess_fn: seqio postprocess_fn for generation tasks.
    train_split: split the training task reads; None registers no training
      task (an evaluation-only dataset, e.g. FLAN's wsc273).
    rank_classification: score the options of every non-inverted template
      whose target is the answer, even where the prompt does not show them
      (Flan 2022's "no options" types); None: templates that list options.
    train_inverted: the training task also uses the inverted templates (FLAN
      2021 does); False keeps them for `train_inverted` variant tasks only.
    few_shot: k-shot prompts for every task (`flan_jax.data.few_shot`).
    template_groups: named groups of template indices that eval results
      also score on their own (e.g. a translation direction's templates:
      {"from_english": (0, 2), "to_english": (1, 3)}).
  """

  name: str
  source: seqio.DataSource
  templates: Sequence[templates_lib.Template]
  collection: str = "user"
  prepare: Sequence[Preprocessor] = ()
  options: Sequence[str] | None = None
  answer_field: str = "answer"
  metric_fns: Sequence[Callable] = (metrics_lib.exact_match_accuracy,)
  postprocess_fn: Callable | None = metrics_lib.strip_postprocessor
  train_split: str | None = "train"
  rank_classification: bool | None = None
  train_inverted: bool = True
  few_shot: few_shot_lib.FewShotConfig | None = None
  template_groups: Mapping[str, Sequence[int]] = dataclasses.field(
      default_factory=dict)

  @property
  def is_classification(self) -> bool:
    if self.rank_classification is not None:
      return self.rank_classification
    return any(t.has_options for t in self.templates)

  def scores(self, template: templates_lib.Template) -> bool:
    """Whether `template` gets a rank-classification task."""
    shows = (self.rank_classification if self.rank_classification is not None
             else template.has_options)
    return (shows and not template.inverted and
            template.targets_use(self.answer_field))

  @property
  def training_templates(self) -> tuple[templates_lib.Template, ...]:
    return tuple(t for t in self.templates
                 if self.train_inverted or not t.inverted)


@dataclasses.dataclass(frozen=True)
class TaskInfo:
  """What a registered task name stands for."""
  collection: str
  dataset: str
  variant: str  # TRAIN, GENERATION or SCORING
  template: int | None  # None for the training task


@dataclasses.dataclass(frozen=True)
class RegisteredDataset:
  spec: DatasetSpec
  train_task: str | None  # None for evaluation-only datasets
  generation_tasks: tuple[str, ...]
  scoring_tasks: tuple[str, ...]

  @property
  def eval_tasks(self) -> tuple[str, ...]:
    """The FLAN protocol's eval tasks: rank classification where options exist."""
    return self.scoring_tasks or self.generation_tasks

  @property
  def key(self) -> str:
    return f"{self.spec.collection}:{self.spec.name}"


_DATASETS: dict[str, RegisteredDataset] = {}
_TASKS: dict[str, TaskInfo] = {}
_FIELDS: dict[str, frozenset[str]] = {}  # dataset key -> prepared fields


def task_name(collection: str, dataset: str, variant: str,
              template: int | None = None) -> str:
  if variant == TRAIN:
    return f"{collection}:{dataset}:{TRAIN}"
  return f"{collection}:{dataset}:t{template}:{variant}"


def describe_task(name: str) -> TaskInfo:
  """Looks up a task registered through `register_dataset`."""
  try:
    return _TASKS[name]
  except KeyError:
    raise KeyError(f"'{name}' was not registered by flan_jax.register_dataset")


def get_dataset(key: str) -> RegisteredDataset:
  """Looks up a registered dataset by '<collection>:<dataset>'."""
  try:
    return _DATASETS[key]
  except KeyError:
    raise KeyError(f"no dataset '{key}' is registered; registered: "
                   f"{', '.join(sorted(_DATASETS)) or 'none'}") from None


def registered_datasets(collection: str | None = None) -> list[RegisteredDataset]:
  return [d for d in _DATASETS.values()
          if collection is None or d.spec.collection == collection]


def output_features(vocabulary: seqio.Vocabulary | None = None
                    ) -> dict[str, seqio.Feature]:
  vocabulary = vocabulary or vocab_lib.default_vocabulary()
  return {
      "inputs": seqio.Feature(vocabulary, add_eos=True, required=False),
      "targets": seqio.Feature(vocabulary, add_eos=True),
  }


def _source_element_spec(source: seqio.DataSource):
  if isinstance(source, local_files.LocalFileSource):
    return source.element_spec  # the user's files may not be there yet
  split = list(source.splits)[0]
  try:
    return source.get_dataset(split=split, shuffle=False).element_spec
  except Exception as first_error:  # data not on disk: use the builder's schema
    if isinstance(source, seqio.TfdsDataSource):
      return source.tfds_dataset.builder.info.features.get_tensor_spec()
    raise first_error


def prepare_fns(spec: DatasetSpec) -> list[Preprocessor]:
  """The dataset's own preparation, then its constant options (if any)."""
  fns = list(spec.prepare)
  if spec.options is not None:
    fns.append(_add_constant_options(spec.options))
  return fns


def prepared_dataset(spec: DatasetSpec, split: str) -> tf.data.Dataset:
  """A split's prepared examples: the fields templates render, untokenized."""
  ds = spec.source.get_dataset(split=split, shuffle=False)
  for fn in prepare_fns(spec):
    ds = fn(ds)
  return ds


def _empty_dataset(element_spec) -> tf.data.Dataset:
  """A dataset with `element_spec` and no elements, cheap to build.

  (`from_generator` does the same but traces a py_function; with dozens of
  datasets registered at import that dominates start-up time.)
  """

  def placeholder(spec):
    default = tf.zeros([0 if d is None else d for d in spec.shape.as_list()],
                       spec.dtype) if spec.dtype != tf.string else tf.fill(
                           [0 if d is None else d
                            for d in spec.shape.as_list()], "")
    return tf.compat.v1.placeholder_with_default(default, spec.shape)

  return tf.data.Dataset.range(0).map(
      lambda _: tf.nest.map_structure(placeholder, element_spec))


def prepared_fields(spec: DatasetSpec) -> frozenset[str]:
  """Fields of a prepared example, found by tracing `prepare` on no data."""
  element_spec = _source_element_spec(spec.source)
  if all(isinstance(s, tf.TensorSpec)
         for s in tf.nest.flatten(element_spec)):
    ds = _empty_dataset(element_spec)
  else:  # ragged or sparse features
    ds = tf.data.Dataset.from_generator(lambda: iter(()),
                                        output_signature=element_spec)
  for fn in prepare_fns(spec):
    ds = fn(ds)
  if not isinstance(ds.element_spec, Mapping):
    raise TypeError(f"dataset '{spec.name}': prepared examples must be dicts "
                    f"of named fields, got {ds.element_spec}")
  return frozenset(ds.element_spec)


def _add_constant_options(options: Sequence[str]) -> Preprocessor:

  @seqio.map_over_dataset
  @tf.autograph.experimental.do_not_convert  # plain tf code: no AutoGraph
  def add(ex):
    ex = dict(ex)
    ex[templates_lib.OPTIONS_FIELD] = tf.constant(list(options), tf.string)
    return ex

  return add


def _render_with(template: templates_lib.Template) -> Preprocessor:
  """Eval preprocessor: renders one template and keeps the example's
  `references` (every acceptable answer, where the dataset has several) so
  that the metrics can score against all of them."""

  @seqio.map_over_dataset
  @tf.autograph.experimental.do_not_convert
  def render(ex):
    rendered = templates_lib.render_example(template, ex)
    if metrics_lib.REFERENCES_FIELD in ex:
      rendered[metrics_lib.REFERENCES_FIELD] = ex[metrics_lib.REFERENCES_FIELD]
    return rendered

  return render


def _render_any_template(templates: Sequence[templates_lib.Template]):
  """Training preprocessor: each example gets one template, drawn per example.

  The draw uses seqio's per-example seeds, so the same seed gives the same
  assignment on every run.
  """

  @seqio.map_over_dataset(num_seeds=1)
  @tf.autograph.experimental.do_not_convert
  def render(ex, seed):
    choice = tf.random.stateless_uniform([], seed, 0, len(templates), tf.int32)
    rendered = [templates_lib.render_example(t, ex) for t in templates]
    return {
        key: tf.gather(tf.stack([r[key] for r in rendered]), choice)
        for key in ("inputs", "targets")
    }

  return render


def _keep_text_fields(ds: tf.data.Dataset) -> tf.data.Dataset:
  """Drops raw fields so tasks only carry what the model pipeline uses."""
  keep = ("inputs", "targets", "idx", "option_idx", "is_correct",
          rank_classification.OPTION_FIELD, metrics_lib.REFERENCES_FIELD)
  keep_fn = tf.autograph.experimental.do_not_convert(
      lambda ex: {k: v for k, v in ex.items() if k in keep})
  return ds.map(keep_fn,
                num_parallel_calls=tf.data.AUTOTUNE)


def _check(spec: DatasetSpec,
           fields: frozenset[str] | None = None) -> frozenset[str]:
  if not all(part.replace("_", "").isalnum()
             for part in spec.name.split(":")):
    raise templates_lib.TemplateError(
        f"dataset name '{spec.name}': use letters, digits and _ (and : "
        f"between parts) only")
  if not spec.templates:
    raise templates_lib.TemplateError(
        f"dataset '{spec.name}' has no templates: give DatasetSpec at least "
        "one Template")
  if all(t.inverted for t in spec.templates):
    raise templates_lib.TemplateError(
        f"dataset '{spec.name}' has only inverted templates, so it cannot be "
        "evaluated: add a template that is not inverted")
  if spec.few_shot and spec.few_shot.formats is not None and len(
      spec.few_shot.formats) != len(spec.templates):
    raise templates_lib.TemplateError(
        f"dataset '{spec.name}': {len(spec.few_shot.formats)} few-shot "
        f"formats for {len(spec.templates)} templates: give one per template")
  for group, indices in spec.template_groups.items():
    wrong = [i for i in indices if not 0 <= i < len(spec.templates) or
             spec.templates[i].inverted]
    if wrong:
      raise templates_lib.TemplateError(
          f"dataset '{spec.name}': template group '{group}' names {wrong}, "
          "which are not evaluated templates: name templates that are not "
          "inverted")
  available = prepared_fields(spec) if fields is None else frozenset(fields)
  for index, template in enumerate(spec.templates):
    templates_lib.check_fields(template, available, dataset=spec.name,
                               index=index)
    if ((template.has_options or spec.scores(template)) and
        spec.answer_field not in available):
      raise templates_lib.TemplateError(
          f"dataset '{spec.name}': template {index} lists options but the "
          f"answer field '{spec.answer_field}' is not among the source's "
          f"fields ({', '.join(sorted(available))}): name the field that "
          f"holds the correct option with DatasetSpec(answer_field=...)")
  return available


def _add_task(spec: DatasetSpec, name: str, info: TaskInfo,
              render: Preprocessor, metric_fns: Sequence[Callable],
              postprocess_fn: Callable | None, *,
              vocabulary: seqio.Vocabulary | None, overwrite: bool) -> None:
  """Registers one seqio task: prepare, render, keep text, tokenize."""
  if overwrite:
    seqio.TaskRegistry.remove(name)
  seqio.TaskRegistry.add(
      name,
      source=spec.source,
      preprocessors=[*prepare_fns(spec), render, _keep_text_fields,
                     seqio.preprocessors.tokenize,
                     seqio.preprocessors.append_eos_after_trim],
      output_features=output_features(vocabulary),
      metric_fns=list(metric_fns),
      postprocess_fn=postprocess_fn)
  _TASKS[name] = info


# --- how each kind of task renders (zero- or few-shot) ---------------------


def _pool(spec: DatasetSpec):
  return lambda: prepared_dataset(spec, spec.few_shot.split)


def _formats(spec: DatasetSpec, templates: Sequence[templates_lib.Template]):
  if spec.few_shot.formats is None:
    return None
  by_template = dict(zip(spec.templates, spec.few_shot.formats))
  return [by_template[t] for t in templates]


def _train_render(spec: DatasetSpec,
                  templates: Sequence[templates_lib.Template]) -> Preprocessor:
  if spec.few_shot is None:
    return _render_any_template(templates)
  return few_shot_lib.render_any_template(
      templates, spec.few_shot, _pool(spec),
      formats=_formats(spec, templates), name=spec.name)


def _then(first: Preprocessor, second: Preprocessor) -> Preprocessor:
  def both(ds, sequence_length=None, output_features=None):
    return second(first(ds, sequence_length=sequence_length,
                        output_features=output_features))
  return both


def _eval_renders(spec: DatasetSpec, template: templates_lib.Template
                  ) -> tuple[Preprocessor, Preprocessor]:
  """(generation, rank-classification) preprocessors of one template."""
  if spec.few_shot is None:
    return (_render_with(template),
            rank_classification.expand_options(template, spec.answer_field))
  index = list(spec.templates).index(template)
  prompt = few_shot_lib.add_prompt(spec.templates, index, spec.few_shot,
                                   _pool(spec), formats=_formats(
                                       spec, spec.templates), name=spec.name)
  query = few_shot_lib.prompt_template(template)
  return (_then(prompt, _render_with(query)),
          _then(prompt, rank_classification.expand_options(
              query, spec.answer_field)))


def register_dataset(spec: DatasetSpec,
                     *,
                     vocabulary: seqio.Vocabulary | None = None,
                     overwrite: bool = False,
                     fields: frozenset[str] | None = None
                     ) -> RegisteredDataset:
  """Registers the training, generation and scoring tasks of one dataset.

  Args:
    spec: the dataset.
    vocabulary: tokenizes inputs and targets (default: the shipped one).
    overwrite: replace tasks of the same names.
    fields: the prepared examples' fields when already known (another
      registration of the same source and preparation); skips tracing
      `prepare`, which dominates registration time.

  Raises:
    TemplateError: a template names a field the (prepared) source lacks.
  """
  available = _check(spec, fields)

  def add_task(name, info, render, metric_fns, postprocess_fn):
    _add_task(spec, name, info, render, metric_fns, postprocess_fn,
              vocabulary=vocabulary, overwrite=overwrite)

  train = None
  if spec.train_split is not None:
    train = task_name(spec.collection, spec.name, TRAIN)
    add_task(train, TaskInfo(spec.collection, spec.name, TRAIN, None),
             _train_render(spec, spec.training_templates), (), None)

  generation, scoring = [], []
  for index, template in enumerate(spec.templates):
    if template.inverted:
      continue
    render, score = _eval_renders(spec, template)
    name = task_name(spec.collection, spec.name, GENERATION, index)
    add_task(name, TaskInfo(spec.collection, spec.name, GENERATION, index),
             render, spec.metric_fns, spec.postprocess_fn)
    generation.append(name)
    if spec.scores(template):
      name = task_name(spec.collection, spec.name, SCORING, index)
      add_task(name, TaskInfo(spec.collection, spec.name, SCORING, index),
               score, [rank_classification.rank_classification_accuracy],
               rank_classification.option_row_postprocessor)
      scoring.append(name)

  registered = RegisteredDataset(spec, train, tuple(generation), tuple(scoring))
  _DATASETS[registered.key] = registered
  _FIELDS[registered.key] = available
  return registered


def unregister_dataset(key: str) -> None:
  """Removes a dataset and every task registered for it (variants too).

  For re-registering a collection with other templates (`task_settings`);
  mixtures that hold its tasks must be registered again afterwards.
  """
  entry = _DATASETS.pop(key, None)
  _FIELDS.pop(key, None)
  if entry is None:
    return
  for name in [n for n, info in _TASKS.items()
               if f"{info.collection}:{info.dataset}" == key]:
    seqio.TaskRegistry.remove(name)
    del _TASKS[name]


def prepared_fields_of(key: str) -> frozenset[str]:
  """The prepared fields recorded when dataset `key` was registered."""
  return _FIELDS[key]


def register_variant_tasks(dataset_key: str,
                           label: str,
                           *,
                           train_templates: Sequence[templates_lib.Template]
                           | None = None,
                           eval_template: templates_lib.Template | None = None,
                           vocabulary: seqio.Vocabulary | None = None,
                           overwrite: bool = False) -> dict[str, str]:
  """Registers extra tasks of a registered dataset with other templates.

  For ablations that change how a dataset is phrased (fewer templates, no
  instructions) without registering it again::

      <collection>:<dataset>:train_<label>     any of `train_templates`
      <collection>:<dataset>:<label>:gen       `eval_template`, generation
      <collection>:<dataset>:<label>:score     `eval_template`, rank
                                               classification (options only)

  Training variants of a few-shot dataset are few-shot too (the templates
  must be among the dataset's own when it has per-template formats).

  Returns:
    variant ("train", "gen", "score") -> registered task name.
  """
  entry = get_dataset(dataset_key)
  spec = entry.spec
  if not label.replace("_", "").isalnum():
    raise ValueError(f"variant label '{label}' must use letters, digits, _")
  available = _FIELDS.get(dataset_key) or prepared_fields(spec)
  checked = [*(train_templates or ()), *([eval_template] if eval_template
                                          else [])]
  for index, template in enumerate(checked):
    templates_lib.check_fields(template, available, dataset=spec.name,
                               index=index)
  names = {}
  add = functools.partial(_add_task, spec, vocabulary=vocabulary,
                          overwrite=overwrite)
  if train_templates:
    if entry.train_task is None:
      raise ValueError(f"dataset '{dataset_key}' is evaluation-only; it has "
                       "no training task to vary")
    name = f"{spec.collection}:{spec.name}:{TRAIN}_{label}"
    add(name, TaskInfo(spec.collection, spec.name, TRAIN, None),
        _train_render(spec, train_templates), (), None)
    names[TRAIN] = name
  if eval_template is not None:
    name = f"{spec.collection}:{spec.name}:{label}:{GENERATION}"
    add(name, TaskInfo(spec.collection, spec.name, GENERATION, None),
        _render_with(eval_template), spec.metric_fns, spec.postprocess_fn)
    names[GENERATION] = name
    if (eval_template.has_options and
        eval_template.targets_use(spec.answer_field)):
      name = f"{spec.collection}:{spec.name}:{label}:{SCORING}"
      add(name, TaskInfo(spec.collection, spec.name, SCORING, None),
          rank_classification.expand_options(eval_template, spec.answer_field),
          [rank_classification.rank_classification_accuracy],
          rank_classification.option_row_postprocessor)
      names[SCORING] = name
  return names


def describe_like(name: str, like: str) -> None:
  """Records task `name`, registered elsewhere, as the same kind as `like`."""
  _TASKS[name] = describe_task(like)
