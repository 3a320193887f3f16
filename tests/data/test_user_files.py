"""A malformed file the user pointed at is one line:
`<file>:<line or key>: expected ..., found ...` (errors.MalformedFileError,
or the reader's own FlanJaxError in that form)."""

import json
import os

import pytest

from flan_jax import errors
from flan_jax.data import chain_of_thought
from flan_jax.data import prerendered
from flan_jax.data import vocab
from flan_jax.models import hf


def _one_line(error: Exception, prefix: str, *words: str) -> None:
  text = str(error)
  assert isinstance(error, errors.FlanJaxError), type(error)
  assert len(text.splitlines()) == 1 and text.startswith(prefix), text
  assert "expected" in text and "found" in text, text
  for word in words:
    assert word in text, text


def test_mmlu_and_bbh_files(tmp_path, monkeypatch):
  from tasks.benchmarks import bbh, mmlu  # pylint: disable=g-import-not-at-top
  (tmp_path / "test").mkdir()
  csv = tmp_path / "test" / "anatomy_test.csv"
  csv.write_text("Q,a,b,c,d,A\nQ2,a,b,c,d,E\n")
  monkeypatch.setenv(mmlu.DIR_ENV, str(tmp_path))
  with pytest.raises(errors.FlanJaxError) as e:
    mmlu.read_split("anatomy", "test")
  _one_line(e.value, f"{csv}:2:", "answer 'E'")
  (tmp_path / "bbh").mkdir()
  task = tmp_path / "bbh" / "navigate.json"
  monkeypatch.setenv(bbh.DIR_ENV, str(tmp_path))
  for text, where in [('{"examples": [{"input": "x"}]}', "examples[0]"),
                      ('{"examples": 3}', "examples"),
                      ('{"examples": [\n{', "2")]:
    task.write_text(text)
    with pytest.raises(errors.FlanJaxError) as e:
      bbh._examples("navigate")  # pylint: disable=protected-access
    _one_line(e.value, f"{task}:{where}:")


def test_chain_of_thought_tsv(tmp_path):
  path = tmp_path / "gsm8k_train.tsv"
  path.write_text("q\ta\tr\nonly\ttwo\n")
  with pytest.raises(errors.FlanJaxError) as e:
    chain_of_thought.read_cot_file(str(path))
  _one_line(e.value, f"{path}:2:", "3 tab-separated columns")


def test_prerendered_jsonl_and_parquet(tmp_path):
  good = json.dumps({"inputs": "a", "targets": "b", "task_name": "t",
                     "template_type": "zsopt"})
  jsonl = tmp_path / "jsonl" / "train.jsonl"
  jsonl.parent.mkdir()
  jsonl.write_text(f"{good}\n{good}\n[1, 2]\n")
  with pytest.raises(errors.FlanJaxError) as e:
    prerendered.load_splits(str(jsonl.parent), cache_dir=str(tmp_path / "c"))
  _one_line(e.value, f"{jsonl}:3:", "a JSON object", "list")
  parquet = tmp_path / "parquet" / "train-00000.parquet"
  parquet.parent.mkdir()
  parquet.write_bytes(b"PAR1 not really parquet")
  with pytest.raises(errors.FlanJaxError) as e:
    prerendered.load_splits(str(parquet.parent), cache_dir=str(tmp_path / "c"))
  _one_line(e.value, f"{parquet}:footer:", "a Parquet file")


def test_hugging_face_files(tmp_path):
  (tmp_path / "config.json").write_text('{"model_type": "t5",\n')
  with pytest.raises(errors.FlanJaxError) as e:
    hf.read_config(str(tmp_path))
  _one_line(e.value, f"{tmp_path / 'config.json'}:2:", "JSON")
  (tmp_path / "model.safetensors.index.json").write_text("[]")
  with pytest.raises(errors.FlanJaxError) as e:
    hf.safetensors_files(str(tmp_path))
  _one_line(e.value, str(tmp_path / "model.safetensors.index.json"),
            "weight_map")
  (tmp_path / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00")
  os.remove(tmp_path / "model.safetensors.index.json")
  with pytest.raises(errors.FlanJaxError) as e:
    hf.read_tensors(str(tmp_path))
  _one_line(e.value, f"{tmp_path / 'model.safetensors'}:header:")
  tokenizer = tmp_path / "tokenizer.json"
  tokenizer.write_text('{"model": [1,\n')
  with pytest.raises(errors.FlanJaxError) as e:
    vocab.tokenizers_vocabulary(str(tokenizer))
  _one_line(e.value, f"{tokenizer}:2:", "tokenizer.json")


def test_lm_eval_task_yaml(tmp_path):
  from flan_jax.cli import lm_eval_harness  # pylint: disable=g-import-not-at-top
  (tmp_path / "ok.yaml").write_text("task: ok\ndataset_path: !function x.y\n")
  (tmp_path / "mine.yaml").write_text("task: mine\nfoo: [unclosed\nbar: 1\n")
  # pylint: disable-next=protected-access
  found = lm_eval_harness._broken_task_file([str(tmp_path)])
  _one_line(found, f"{tmp_path / 'mine.yaml'}:", "YAML task config")
