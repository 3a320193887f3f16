"""FLAN 2021 summarization cluster: mock-data pipelines and preparation."""

import pytest
import seqio
import tensorflow as tf

import mock_helpers
from flan_jax.data import metrics
from tasks.flan2021 import common
from tasks.flan2021 import summarization  # noqa: F401  (registers)

DATASETS = ("aeslc", "cnn_dailymail", "gigaword", "multi_news", "newsroom",
            "samsum", "xsum", "ag_news_subset",
            "opinion_abstracts_rotten_tomatoes", "opinion_abstracts_idebate",
            "wiki_lingua_english_en")


def _prepare(name, raw):
  """Runs a dataset's own preparation on one hand-written raw example."""
  ds = tf.data.Dataset.from_tensors(raw)
  for fn in common.get_flan_dataset(name).spec.prepare:
    ds = fn(ds)
  return [{k: v.decode() if isinstance(v, bytes) else v
           for k, v in ex.items()} for ex in ds.as_numpy_iterator()]


def test_cluster_holds_the_eleven_flan_datasets():
  assert tuple(mock_helpers.dataset_names("summarization")) == DATASETS


@pytest.mark.parametrize("name", DATASETS)
def test_tasks_run_on_mock_data(name):
  # Training task + first generation task (+ first scoring task for AG News).
  expected = 3 if name == "ag_news_subset" else 2
  assert mock_helpers.check_dataset(name) == expected


def test_summaries_are_scored_by_rouge_and_ag_news_by_accuracy():
  for name in DATASETS:
    entry = common.get_flan_dataset(name).registered
    task = seqio.get_mixture_or_task(entry.generation_tasks[0])
    want = (metrics.exact_match_accuracy if name == "ag_news_subset"
            else metrics.rouge)
    assert want in task.metric_fns, name
  assert common.get_flan_dataset("ag_news_subset").spec.is_classification
  assert not common.get_flan_dataset("xsum").spec.is_classification


def test_ag_news_label_names():
  rows = [_prepare("ag_news_subset",
                   {"title": "T", "description": "D",
                    "label": tf.constant(i, tf.int64)})[0]
          for i in range(4)]
  assert [r["answer"] for r in rows] == ["World", "Sports", "Business",
                                         "Science/Tech"]
  assert rows[0]["title"] == "T" and rows[0]["text"] == "D"


def test_multi_news_separates_source_articles():
  [row] = _prepare("multi_news", {"document": "First story. ||||| Second "
                                              "story.|||||Third.",
                                  "summary": "S"})
  assert row["text"] == "First story.\n\nSecond story.\n\nThird."
  assert row["answer"] == "S"


def test_rotten_tomatoes_lists_critics_and_targets_the_consensus():
  [row] = _prepare("opinion_abstracts_rotten_tomatoes", {
      "_critic_consensus": "Fun but thin.",
      "_critics": {"key": ["c1", "c2"], "value": ["Great fun.", "Too thin."]},
      "_movie_id": "m1", "_movie_name": "Film"})
  assert row["text"] == "- Great fun.\n- Too thin."
  assert row["answer"] == "Fun but thin." and row["movie"] == "Film"


def test_idebate_joins_argument_sentences_and_targets_the_claim():
  [row] = _prepare("opinion_abstracts_idebate", {
      "_argument_sentences": {"key": ["0", "1"], "value": ["A.", "B."]},
      "_claim": "Claim.", "_claim_id": "x", "_debate_name": "Debate"})
  assert row["text"] == "A. B."
  assert row["answer"] == "Claim." and row["debate"] == "Debate"


def test_every_dataset_has_inverted_and_plain_templates():
  for name in DATASETS:
    templates = common.get_flan_dataset(name).spec.templates
    inverted = sum(t.inverted for t in templates)
    assert 1 <= inverted <= 3, name
    texts = [t.inputs for t in templates]
    assert len(set(texts)) == len(texts), name
