"""MMLU and BIG-Bench Hard from fixture files in their public layouts."""

import csv
import json
import os

import flax.linen as nn
import jax
import numpy as np
import pytest
import seqio

import toy_training
from flan_jax.checkpoints import checkpointer
from flan_jax.data import local_files
from flan_jax.data import mixtures
from flan_jax.evaluation import examples as examples_lib
from flan_jax.evaluation import job
from tasks.benchmarks import bbh
from tasks.benchmarks import mmlu

SUBJECTS = ("abstract_algebra", "philosophy")  # STEM, humanities
SIZES = {"dev": 5, "val": 2, "test": 3}


def _question(subject, split, i):
  return [f"{subject} {split} question {i}: which is {i % 4}?",
          "zero", "one", "two", "three", "ABCD"[i % 4]]


@pytest.fixture(name="mmlu_dir")
def _mmlu_dir(tmp_path, monkeypatch):
  """data/{dev,val,test}/<subject>_<split>.csv, as the release ships them."""
  for split, size in SIZES.items():
    (tmp_path / "data" / split).mkdir(parents=True)
    for subject in SUBJECTS:
      with open(tmp_path / "data" / split / f"{subject}_{split}.csv", "w",
                newline="") as f:
        csv.writer(f).writerows(_question(subject, split, i)
                                for i in range(size))
  monkeypatch.setenv(mmlu.DIR_ENV, str(tmp_path))
  return tmp_path


COT_PROMPT = """Evaluate the truth value of a random Boolean expression.

Q: not ( True ) and ( True ) is
A: Let's think step by step.
not ( True ) is False. False and True is False. So the answer is False.

Q: True and not not ( not False ) is
A: Let's think step by step.
not False is True, twice negated it stays True. So the answer is True.

Q: not True or ( False and True ) is
A: Let's think step by step.
not True is False; False and True is False. So the answer is False.
"""


@pytest.fixture(name="bbh_dir")
def _bbh_dir(tmp_path, monkeypatch):
  """bbh/<task>.json and, for one task, cot-prompts/<task>.txt."""
  (tmp_path / "bbh").mkdir()
  (tmp_path / "cot-prompts").mkdir()
  booleans = [{"input": f"True and {v} is", "target": v}
              for v in ("True", "False", "True", "False")]
  words = [{"input": f"Sort the words: pear apple {w}", "target":
            " ".join(sorted(["pear", "apple", w]))}
           for w in ("fig", "kiwi", "date", "lime", "plum")]
  for task, examples in (("boolean_expressions", booleans),
                         ("word_sorting", words)):
    (tmp_path / "bbh" / f"{task}.json").write_text(
        json.dumps({"examples": examples}))
  (tmp_path / "cot-prompts" / "boolean_expressions.txt").write_text(COT_PROMPT)
  monkeypatch.setenv(bbh.DIR_ENV, str(tmp_path))
  return tmp_path


def _rows(task_name, split="test", **kwargs):
  task = seqio.get_mixture_or_task(task_name)
  return examples_lib.load_examples(task, split, **kwargs)


def test_missing_copies_name_the_variable_or_the_file(tmp_path, monkeypatch):
  monkeypatch.delenv(mmlu.DIR_ENV, raising=False)
  with pytest.raises(local_files.LocalDataMissingError,
                     match="set FLAN_JAX_MMLU_DIR"):
    _rows("mmlu:anatomy:t0:score")
  monkeypatch.setenv(mmlu.DIR_ENV, str(tmp_path))
  with pytest.raises(local_files.LocalDataMissingError,
                     match="test/anatomy_test.csv does not exist"):
    _rows("mmlu:anatomy:t0:score")
  monkeypatch.setenv(bbh.DIR_ENV, str(tmp_path))
  with pytest.raises(local_files.LocalDataMissingError,
                     match="bbh/navigate.json does not exist"):
    _rows("bbh:navigate:t0:gen")


def test_mmlu_registers_57_subjects_in_4_categories():
  assert len(mmlu.SUBJECTS) == 57
  assert {c: len(s) for c, s in mmlu.CATEGORIES.items()} == {
      "stem": 19, "humanities": 13, "social_sciences": 12, "other": 13}
  assert mixtures.clusters_of("mmlu:philosophy") == ["humanities"]
  tasks = seqio.get_subtasks(seqio.get_mixture_or_task("mmlu:eval:all"))
  assert len(tasks) == 57 * len(mmlu.TEMPLATES)
  assert all(t.name.endswith(":score") for t in tasks)
  assert "mmlu:train:all" not in seqio.MixtureRegistry.names()


def test_mmlu_five_shot_uses_the_dev_questions_in_order(mmlu_dir):
  del mmlu_dir
  rows = _rows("mmlu:abstract_algebra:t1:score",
               few_shot=examples_lib.FewShot(k=5))
  assert len(rows) == SIZES["test"] * 4  # one row per letter
  query = rows[0]["inputs_pretokenized"].decode()
  shots = query.split(examples_lib.EXEMPLAR_SEPARATOR)
  assert len(shots) == 6  # five dev exemplars, then the question
  for i, shot in enumerate(shots[:5]):
    assert shot.startswith(f"abstract_algebra dev question {i}:")
    assert shot.endswith("\n" + "ABCD"[i % 4])  # its answer letter
  assert shots[5].startswith("abstract_algebra test question 0:")
  assert "(D) three" in shots[5] and "(Subject: abstract algebra)" in shots[5]
  assert [r["targets_pretokenized"] for r in rows[:4]] == [b"A", b"B", b"C",
                                                           b"D"]
  assert [bool(r["is_correct"]) for r in rows[:4]] == [True, False, False,
                                                       False]
  assert len(_rows("mmlu:philosophy:t0:score", "validation")) == 2 * 4


def test_bbh_exemplars_come_from_the_release_prompts_or_the_first_examples(
    bbh_dir):
  del bbh_dir
  parsed = bbh.parse_cot_prompt(COT_PROMPT)
  assert [e["target"] for e in parsed] == ["False", "True", "False"]
  assert parsed[0]["reasoning"] == "not ( True ) is False. False and True is False."
  direct = _rows("bbh:boolean_expressions:t0:gen")
  assert len(direct) == 4  # every example scored: exemplars from the prompt
  prompt = direct[0]["inputs_pretokenized"].decode()
  assert prompt.startswith("Question: not ( True ) and ( True ) is\n"
                           "Answer: False\n\n")
  assert prompt.endswith("Question: True and True is\nAnswer:")
  assert "Reasoning" not in prompt
  cot = _rows("bbh_cot:boolean_expressions:t0:gen")[0]
  text = cot["inputs_pretokenized"].decode()
  assert text.count("Reasoning: ") == 3 and text.endswith("\nReasoning:")
  # No prompt file: the first three examples are the exemplars.
  words = _rows("bbh:word_sorting:t0:gen")
  assert len(words) == 2
  assert words[0]["inputs_pretokenized"].decode().count("Question:") == 4
  with pytest.raises(local_files.LocalDataMissingError,
                     match="cot-prompts/word_sorting.txt does not exist"):
    _rows("bbh_cot:word_sorting:t0:gen")


def test_bbh_reads_the_final_answer():
  assert bbh.final_answer("x is False.\nAnswer: (B)\n\nQuestion: y") == "(B)"
  assert bbh.final_answer(" True\n\nQuestion: next") == "True"
  assert bbh.final_answer(b" (A) ", is_target=True) == "(A)"


@pytest.fixture(name="model_dir")
def _model_dir(tmp_path):
  model = toy_training.tiny_model()
  shapes = {"encoder_input_tokens": (1, 8), "decoder_input_tokens": (1, 8)}
  params = nn.unbox(jax.jit(lambda r: model.init_variables(r, shapes)[
      "params"])(jax.random.key(0)))
  saver = checkpointer.Checkpointer(str(tmp_path / "run" / "checkpoints"),
                                    async_save=False)
  saver.save_params(0, params, {})
  saver.close()
  return str(tmp_path / "run")


def test_mmlu_and_bbh_fixtures_evaluate_end_to_end(mmlu_dir, bbh_dir,
                                                   model_dir, tmp_path):
  del mmlu_dir, bbh_dir
  mixtures.register_eval_task_mixture(
      "test_benchmarks:mmlu", [f"mmlu:{s}:t0:score" for s in SUBJECTS],
      overwrite=True)
  common = dict(model=toy_training.tiny_model(), checkpoint=model_dir,
                batch_size=16)
  five_shot = job.evaluate(mixture_or_task_name="test_benchmarks:mmlu",
                           output_dir=str(tmp_path / "mmlu"), few_shot=5,
                           **common)
  assert five_shot["config"]["few_shot"]["k"] == 5
  for subject in SUBJECTS:
    dataset = five_shot["datasets"][f"mmlu:{subject}"]
    assert dataset["n"] == SIZES["test"]
    assert dataset["best_dev_template"] == "0"  # chosen on val/
    assert 0 <= dataset["score"] <= 100 and dataset["score_stderr"] >= 0
  assert five_shot["clusters"]["stem"]["datasets"] == ["mmlu:abstract_algebra"]
  assert five_shot["clusters"]["humanities"]["n"] == SIZES["test"]
  mixtures.register_eval_task_mixture(
      "test_benchmarks:bbh", ["bbh:word_sorting:t0:gen",
                              "bbh_cot:boolean_expressions:t0:gen"],
      overwrite=True)
  direct = job.evaluate(mixture_or_task_name="test_benchmarks:bbh",
                        output_dir=str(tmp_path / "bbh"), write_examples=True,
                        **common)
  tasks = direct["tasks"]
  assert tasks["bbh_cot:boolean_expressions:t0:gen"]["n"] == 4
  assert tasks["bbh:word_sorting:t0:gen"]["n"] == 2
  assert set(tasks["bbh_cot:boolean_expressions:t0:gen"]["metrics"]) == {
      "accuracy"}
  assert set(direct["clusters"]) == {"bbh", "bbh_cot"}
  lines = (tmp_path / "bbh" / "examples" /
           "bbh:word_sorting:t0:gen.test.jsonl").read_text().splitlines()
  assert [json.loads(line)["target"] for line in lines] == [
      "apple lime pear", "apple pear plum"]
  assert np.isfinite(direct["summary"]["seen"]["score"] or 0.0)
