"""Flan 2022 data pieces on the toy collection: template types, few-shot
prompts in the pipeline, CoT files and answers, pre-rendered directories."""

import json

import numpy as np
import pandas as pd
import pytest
import seqio

import toy_tasks
from flan_jax.data import chain_of_thought as cot
from flan_jax.data import few_shot
from flan_jax.data import prerendered
from flan_jax.data import registry
from flan_jax.data import template_types
from flan_jax.data.templates import Template

C = "toy2022"
K = 3


@pytest.fixture(scope="module")
def types():
  """Every toy dataset in the four types (3 exemplars from 16 train rows)."""
  result = {}
  for entry in toy_tasks.REGISTERED:
    for removed in template_types.TEMPLATE_TYPES:
      registry.unregister_dataset(f"{C}:{entry.spec.name}:{removed}")
    result[entry.spec.name] = template_types.register_template_types(
        entry.spec, collection=C, fields=registry.prepared_fields_of(entry.key),
        few_shot=few_shot.FewShotConfig(k=K, pool_size=16))
  return result


def _rows(task, split="test", lengths=None, count=None):
  ds = seqio.get_mixture_or_task(task).get_dataset(
      sequence_length=lengths, split=split, shuffle=False, num_epochs=1,
      use_cached=False, seed=0)
  if count:
    ds = ds.take(count)
  return list(ds.as_numpy_iterator())


def _text(row, feature="inputs"):
  return row[f"{feature}_pretokenized"].decode()


def test_options_removed_with_the_space_before_them():
  assert template_types.without_options(
      Template("Is \"{text}\" good? {options_}", "{answer}")).inputs == (
          "Is \"{text}\" good?")
  assert template_types.without_options(
      Template("{text}\nGood or bad?\n\n{options_}\nAnswer:", "{answer}")
  ).inputs == "{text}\nGood or bad?\nAnswer:"


def test_each_type_is_a_dataset_with_the_registry_names(types):
  polarity = types["polarity"]
  assert sorted(polarity) == sorted(template_types.TEMPLATE_TYPES)
  for template_type, entry in polarity.items():
    assert entry.train_task == f"{C}:polarity:{template_type}:train"
    assert entry.scoring_tasks == (f"{C}:polarity:{template_type}:t0:score",
                                   f"{C}:polarity:{template_type}:t1:score")
    assert entry.key == f"{C}:polarity:{template_type}"
  # Generation datasets get no scoring tasks, with or without options.
  assert not types["echo"]["zsnoopt"].scoring_tasks
  # Types train on the non-inverted templates only ("Write two ... words.").
  train = _rows(polarity["zsopt"].train_task, "train")
  assert train and not any(_text(r).startswith("Write two") for r in train)


def test_no_options_types_still_score_the_options(types):
  shown = _rows(f"{C}:polarity:zsopt:t0:score")
  hidden = _rows(f"{C}:polarity:zsnoopt:t0:score")
  assert all("OPTIONS:" in _text(r) for r in shown)
  assert hidden and not any("OPTIONS" in _text(r) for r in hidden)
  assert len(hidden) == 2 * len({int(r["idx"]) for r in hidden})
  assert {_text(r, "targets") for r in hidden} == {"bad", "good"}
  assert sum(bool(r["is_correct"]) for r in hidden) == len(hidden) // 2


def test_few_shot_prompts_hold_k_train_exemplars_then_the_query(types):
  zero = [_text(r) for r in _rows(f"{C}:polarity:zsopt:t0:gen")]
  train_inputs = {_text(r): _text(r, "targets")
                  for r in _rows(f"{C}:polarity:zsopt:t0:gen", "train")}
  prompts = [_text(r) for r in _rows(f"{C}:polarity:fsopt:t0:gen")]
  assert prompts == [_text(r) for r in _rows(f"{C}:polarity:fsopt:t0:gen")]
  assert len(prompts) == len(zero)
  shots = set()
  for prompt, query in zip(prompts, zero):
    blocks = prompt.split("\n\n")
    assert len(blocks) == K + 1 and blocks[-1] == query
    for block in blocks[:-1]:  # exemplar input, newline, its target
      inputs, target = block.rsplit("\n", 1)
      assert train_inputs.get(inputs) == target, block
    shots.add(tuple(blocks[:-1]))
  assert len(shots) > 1  # exemplars are drawn per query
  noopt = [_text(r) for r in _rows(f"{C}:polarity:fsnoopt:t0:score")]
  assert noopt and not any("OPTIONS" in p for p in noopt)
  assert all(p.count("Good or bad?") == K + 1 for p in noopt)


def test_training_prompts_are_packed_to_the_input_length(types):
  task = f"{C}:polarity:fsopt:train"
  vocabulary = seqio.get_mixture_or_task(task).output_features[
      "inputs"].vocabulary
  rows = _rows(task, "train", {"inputs": 80, "targets": 8})
  counts = []
  for row in rows:
    prompt = _text(row)
    tokens = vocabulary.encode(prompt)
    assert len(row["inputs"]) == len(tokens) + 1 <= 80  # fitted, not cut
    blocks = prompt.split("\n\n")
    assert blocks[-1].endswith(("OPTIONS:\n- bad\n- good", "- good"))
    query = blocks[-1]
    assert all(b.rsplit("\n", 1)[0] != query for b in blocks[:-1])
    counts.append(len(blocks) - 1)
  assert min(counts) < K and max(counts) >= 1
  full = _rows(task, "train", {"inputs": 1024, "targets": 8}, count=8)
  assert all(len(_text(r).split("\n\n")) == K + 1 for r in full)
  assert {("Good or bad?" in _text(r)) for r in full} == {True, False}


# --- chain of thought ------------------------------------------------------


def test_cot_files_rows_splits_and_errors(tmp_path):
  path = tmp_path / "sums_train.tsv"
  lines = [f"What is {i} + 1?\t{i + 1}\tStart at {i}.\\nOne more is {i + 1}."
           for i in range(30)]
  path.write_text("\n".join(lines) + "\n")
  rows = cot.read_cot_file(str(path))
  assert rows[2] == {"question": "What is 2 + 1?", "answer": "3",
                     "chain_of_thought": "Start at 2.\nOne more is 3."}
  splits = cot.split_rows(rows)
  assert [len(splits[s]) for s in ("train", "validation", "test")] == [24, 3, 3]
  assert splits["test"][-1] == rows[-1]
  assert cot.cot_files(str(tmp_path)) == {"sums": str(path)}
  (tmp_path / "bad_train.tsv").write_text("q\ta\tr\nonly two\tcolumns\n")
  with pytest.raises(cot.CotDataError, match=r"bad_train.tsv:2: expected 3 "
                     r"tab-separated columns .* found 2"):
    cot.read_cot_file(str(tmp_path / "bad_train.tsv"))


@pytest.mark.parametrize("text, answer", [
    ("4 and 7 make 11.\nAnswer: 11.", "11"),
    ("It rains, so the ground is wet. So the final answer is yes.", "yes"),
    ("Twice 6 is 12.\nThe answer: (C)", "(C)"),
    ("The answer is $1,200. It was cheap.", "$1,200"),
    ("no marker here\nlast line", "last line"),
])
def test_final_answer_is_read_after_the_rationale(text, answer):
  assert cot.final_answer(text) == answer


def test_cot_metrics_exact_and_numeric():
  targets = ["r\nAnswer: 1,200", "r\nAnswer: yes", "r\nAnswer: (C)"]
  predictions = ["so the answer is 1200.0.", "Answer: Yes.", "Answer: (B)"]
  post = [cot.cot_postprocessor(t) for t in targets]
  got = cot.cot_metrics(post, [cot.cot_postprocessor(p) for p in predictions])
  # 1200 matches as a number only; "yes" exactly; (C) vs (B) not at all.
  assert got == {"exact_match": pytest.approx(100 / 3),
                 "numeric_match": pytest.approx(200 / 3)}


# --- pre-rendered directories -------------------------------------------------


def _published(rows):
  return pd.DataFrame(rows, columns=list(prerendered.COLUMNS))


def test_prerendered_parquet_json_and_saved_directories(tmp_path):
  rows = [(f"q{i}", f"a{i}", "glue/cola:2.0.0" if i % 3 else "task7_x",
           ("zsopt", "fsnoopt")[i % 2]) for i in range(30)]
  parquet = tmp_path / "parquet"
  (parquet / "data").mkdir(parents=True)
  _published(rows[:20]).to_parquet(parquet / "data" / "train-0.parquet")
  _published(rows[20:]).to_parquet(parquet / "data" / "test-0.parquet")
  jsonl = tmp_path / "jsonl"
  jsonl.mkdir()
  with open(jsonl / "part.jsonl", "w") as f:
    for r in rows:
      f.write(json.dumps(dict(zip(prerendered.COLUMNS, r))) + "\n")
  import datasets  # pylint: disable=g-import-not-at-top
  datasets.Dataset.from_pandas(_published(rows)).save_to_disk(
      str(tmp_path / "saved"))
  cache = str(tmp_path / "cache")
  assert sorted(prerendered.load_splits(str(parquet), cache)) == [
      "test", "train"]
  for directory in (jsonl, tmp_path / "saved"):
    (split, ds), = prerendered.load_splits(str(directory), cache).items()
    assert split == "train" and len(ds) == 30
    groups = prerendered.task_rows(ds, ["zsopt"])
    assert sorted(groups) == ["glue/cola:2.0.0", "task7_x"]
    assert list(groups["task7_x"]) == [0, 6, 12, 18, 24]

  tasks = prerendered.register_prerendered(
      str(parquet), collection="toy2022", prefix="pre:", max_examples=5,
      mixture="toy2022:pre", overwrite=True, cache_dir=cache)
  cola = tasks.datasets["glue/cola:2.0.0"]
  assert cola.train_task == "toy2022:pre:glue_cola_2_0_0:train"
  assert cola.generation_tasks == ("toy2022:pre:glue_cola_2_0_0:t0:gen",)
  train = _rows(cola.train_task, "train")
  assert [(_text(r), _text(r, "targets")) for r in train][:2] == [
      ("q1", "a1"), ("q2", "a2")]
  mixture = seqio.get_mixture_or_task("toy2022:pre")
  rates = {t.name: mixture.get_rate(t) for t in mixture.tasks}
  assert rates == {"toy2022:pre:glue_cola_2_0_0:train": 5.0,   # 13, capped
                   "toy2022:pre:task7_x:train": 5.0}           # 7, capped
  only = prerendered.register_prerendered(
      str(jsonl), collection="toy2022", prefix="pre_fsnoopt:",
      max_examples=None, template_types=["fsnoopt"], overwrite=True,
      cache_dir=cache)
  assert [len(_rows(e.train_task, "train")) for e in only.datasets.values()
          ] == [10, 5]  # odd rows of each task only
  with pytest.raises(prerendered.PrerenderedDataError,
                     match="missing column.*template_type"):
    bad = tmp_path / "bad"
    bad.mkdir()
    pd.DataFrame({"inputs": ["x"], "targets": ["y"], "task_name": ["t"]}
                 ).to_parquet(bad / "train.parquet")
    prerendered.load_splits(str(bad), cache)
  assert np.all(np.diff(prerendered.task_rows(
      prerendered.load_splits(str(jsonl), cache)["train"])["task7_x"]) > 0)
