"""BIG-Bench Hard (Suzgun et al., 2022) from the user's copy: 27 tasks, 3-shot.

Set ``FLAN_JAX_BBH_DIR`` to your copy of the release, laid out as the public
one is::

    bbh/<task>.json           {"examples": [{"input": ..., "target": ...}]}
    cot-prompts/<task>.txt    (optional) the release's three exemplars per
                              task with their reasoning: "Q: ...", then
                              "A: Let's think step by step. ... So the answer
                              is X."

Two collections, each task a dataset with one template written here:

    bbh:<task>:t0:gen        direct answer, 3-shot
    bbh_cot:<task>:t0:gen    chain of thought, 3-shot (needs cot-prompts/)
    bbh:eval:all, bbh_cot:eval:all

Exemplars: the three of ``cot-prompts/<task>.txt`` when the file is there
(direct prompts keep their question and final answer only), rendered in our
own wording (`render_exemplars`); without it, direct prompts take the first
three examples of the task file as exemplars and are scored on the rest.
Metric: exact match of the final answer; chain-of-thought predictions are
read after their last "Answer:" (`final_answer`). Chain of thought needs
room to reason: ``--gin.evaluate.task_feature_lengths="{'targets': 256}"``
lets the model generate up to 256 tokens.
"""

from __future__ import annotations

import json
import os
import re

from flan_jax import errors
from flan_jax.data import local_files
from flan_jax.data import metrics
from flan_jax.data import mixtures
from flan_jax.data import registry
from flan_jax.data.templates import Template

DIRECT, COT = "bbh", "bbh_cot"
DIR_ENV = "FLAN_JAX_BBH_DIR"
NUM_EXEMPLARS = 3
FIELDS = ("input", "target", "exemplars")

TASKS = (
    "boolean_expressions", "causal_judgement", "date_understanding",
    "disambiguation_qa", "dyck_languages", "formal_fallacies",
    "geometric_shapes", "hyperbaton", "logical_deduction_five_objects",
    "logical_deduction_seven_objects", "logical_deduction_three_objects",
    "movie_recommendation", "multistep_arithmetic_two", "navigate",
    "object_counting", "penguins_in_a_table",
    "reasoning_about_colored_objects", "ruin_names",
    "salient_translation_error_detection", "snarks", "sports_understanding",
    "temporal_sequences", "tracking_shuffled_objects_five_objects",
    "tracking_shuffled_objects_seven_objects",
    "tracking_shuffled_objects_three_objects", "web_of_lies", "word_sorting")

TEMPLATES = {
    DIRECT: Template("{exemplars}Question: {input}\nAnswer:", "{target}"),
    COT: Template("{exemplars}Question: {input}\nWork it out step by step, "
                  "then give the answer.\nReasoning:", "{target}"),
}


def root_dir() -> str:
  return local_files.folder_from_env(
      DIR_ENV, "BIG-Bench Hard",
      "your copy of the release (the folder holding bbh/<task>.json)")


def _examples(task: str) -> list[dict[str, str]]:
  path = os.path.join(root_dir(), "bbh", f"{task}.json")
  if not os.path.isfile(path):
    raise local_files.LocalDataMissingError(
        f"BIG-Bench Hard: {path} does not exist; set {DIR_ENV} to the folder "
        "holding bbh/<task>.json")
  with open(path, encoding="utf-8") as f:
    try:
      data = json.load(f)
    except json.JSONDecodeError as e:
      raise errors.MalformedFileError(path, e.lineno, "JSON (the release's "
                                      '{"examples": [...]})', e.msg) from None
  examples = data.get("examples") if isinstance(data, dict) else None
  if not isinstance(examples, list):
    raise errors.MalformedFileError(path, "examples", "a list of examples",
                                    type(examples).__name__)
  for i, e in enumerate(examples):
    if not isinstance(e, dict) or not {"input", "target"} <= e.keys():
      raise errors.MalformedFileError(
          path, f"examples[{i}]", 'an object with "input" and "target"',
          repr(e))
  return [{"input": str(e["input"]), "target": str(e["target"])}
          for e in examples]


_QUESTION = re.compile(r"^Q: ", re.MULTILINE)
_ANSWER_IS = re.compile(r"So the answer is (.*?)\.?\s*$", re.DOTALL)


def parse_cot_prompt(text: str) -> list[dict[str, str]]:
  """The release's cot-prompts file -> [{"input", "reasoning", "target"}].

  Each exemplar is "Q: <question>\\nA: Let's think step by step.\\n
  <reasoning> So the answer is <answer>."; text before the first "Q: "
  (the task description) is dropped.
  """
  exemplars = []
  for block in _QUESTION.split(text)[1:]:
    question, _, answer = block.partition("\nA: ")
    answer = answer.strip()
    answer = re.sub(r"^Let's think step by step\.\s*", "", answer)
    found = _ANSWER_IS.search(answer)
    if not question.strip() or found is None:
      continue
    exemplars.append({"input": question.strip(),
                      "reasoning": answer[:found.start()].strip(),
                      "target": found.group(1).strip()})
  return exemplars


def _prompt_exemplars(task: str) -> list[dict[str, str]] | None:
  path = os.path.join(root_dir(), "cot-prompts", f"{task}.txt")
  if not os.path.isfile(path):
    return None
  with open(path, encoding="utf-8") as f:
    exemplars = parse_cot_prompt(f.read())
  if len(exemplars) < NUM_EXEMPLARS:
    raise errors.MalformedFileError(
        path, 1, f"{NUM_EXEMPLARS} exemplars (\"Q: ...\" ending \"So the "
        f"answer is ...\")", f"{len(exemplars)}")
  return exemplars[:NUM_EXEMPLARS]


def render_exemplars(exemplars, *, reasoning: bool) -> str:
  """Exemplars in our wording, each followed by a blank line."""
  parts = []
  for e in exemplars:
    steps = (f"Work it out step by step, then give the answer.\nReasoning: "
             f"{e['reasoning']}\n" if reasoning else "")
    parts.append(f"Question: {e['input']}\n{steps}Answer: {e['target']}\n\n")
  return "".join(parts)


def read_split(task: str, collection: str) -> list[dict[str, str]]:
  """A task's scored examples, each with the rendered exemplars."""
  examples = _examples(task)
  exemplars = _prompt_exemplars(task)
  if exemplars is None:
    if collection == COT:
      raise local_files.LocalDataMissingError(
          f"BIG-Bench Hard chain of thought: {root_dir()}/cot-prompts/"
          f"{task}.txt does not exist (the release's prompts give the "
          "exemplars' reasoning); add it or use the direct-answer tasks")
    exemplars, examples = (examples[:NUM_EXEMPLARS],
                           examples[NUM_EXEMPLARS:])
  prefix = render_exemplars(exemplars, reasoning=collection == COT)
  return [{**e, "exemplars": prefix} for e in examples]


def final_answer(text, example=None, is_target: bool = False) -> str:
  """postprocess_fn: the text after the last "Answer:", up to its line end
  (a prediction without one is read from its first line)."""
  del example
  text = text.decode("utf-8") if isinstance(text, bytes) else str(text)
  if is_target:
    return text.strip()
  if "Answer:" in text:
    text = text.rsplit("Answer:", 1)[1]
  return text.strip().split("\n", 1)[0].strip()


def _register(collection: str) -> None:
  for task in TASKS:
    registry.register_dataset(registry.DatasetSpec(
        name=task, collection=collection,
        source=local_files.LocalFileSource(
            lambda split, task=task: read_split(task, collection),
            splits=("test",), fields=FIELDS),
        templates=[TEMPLATES[collection]], train_split=None,
        metric_fns=[metrics.exact_match_accuracy],
        postprocess_fn=final_answer))
  mixtures.register_cluster_mixtures(collection, {collection: TASKS},
                                     eval_only=TASKS)


_register(DIRECT)
_register(COT)
