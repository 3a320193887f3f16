"""Examples-proportional rates with a cap, and leave-one-cluster-out splits."""

import pytest
import seqio

import toy_tasks
from flan_jax.data import mixtures

FLAN_LIKE = {
    "nli": ("rte", "anli"),
    "paraphrase": ("mrpc", "qqp"),
    "reading_comprehension": ("squad", "boolq"),
    "commonsense": ("copa", "piqa"),
    "read_comp_and_common_sense": ("record", "cosmos_qa"),
    "sentiment": ("imdb", "sst2", "boolq"),  # boolq listed twice on purpose
}
FLAN_EXCLUSIONS = {
    "nli": ("paraphrase",),
    "paraphrase": ("nli",),
    "reading_comprehension": ("read_comp_and_common_sense",),
    "commonsense": ("read_comp_and_common_sense",),
    "read_comp_and_common_sense": ("reading_comprehension", "commonsense"),
}


def test_holding_out_nli_also_removes_paraphrase():
  split = mixtures.cluster_split(FLAN_LIKE, "nli", FLAN_EXCLUSIONS)
  assert split.removed_clusters == ("nli", "paraphrase")
  assert not {"rte", "anli", "mrpc", "qqp"} & set(split.train_datasets)
  assert "squad" in split.train_datasets


def test_holding_out_commonsense_removes_the_mixed_cluster():
  split = mixtures.cluster_split(FLAN_LIKE, "commonsense", FLAN_EXCLUSIONS)
  assert not {"copa", "piqa", "record", "cosmos_qa"} & set(split.train_datasets)
  assert {"squad", "rte"} <= set(split.train_datasets)


def test_a_held_out_dataset_listed_in_another_cluster_is_never_trained_on():
  split = mixtures.cluster_split(FLAN_LIKE, "reading_comprehension",
                                 FLAN_EXCLUSIONS)
  assert "boolq" not in split.train_datasets  # also listed under sentiment
  assert "imdb" in split.train_datasets


def test_unknown_clusters_are_errors():
  with pytest.raises(KeyError, match="unknown cluster 'nly'"):
    mixtures.cluster_split(FLAN_LIKE, "nly")
  with pytest.raises(KeyError, match="unknown cluster"):
    mixtures.cluster_split(FLAN_LIKE, "nli", {"nli": ("paraphrse",)})


def test_registered_mixtures_and_their_tasks():
  assert set(toy_tasks.MIXTURES) == {
      "toy:train:all", "toy:eval:all", "toy:train:no_mood", "toy:eval:mood",
      "toy:train:no_copy", "toy:eval:copy"}
  no_mood = seqio.get_mixture_or_task("toy:train:no_mood")
  assert sorted(t.name for t in no_mood.tasks) == ["toy:echo:train",
                                                   "toy:shout:train"]
  assert mixtures.datasets_in_mixture("toy:train:no_mood") == {"toy:echo",
                                                               "toy:shout"}
  eval_mood = seqio.get_mixture_or_task("toy:eval:mood")
  assert sorted(t.name for t in eval_mood.tasks) == [
      "toy:choice:t0:score", "toy:choice:t1:score", "toy:polarity:t0:score",
      "toy:polarity:t1:score"]
  assert mixtures.clusters_of("toy:echo") == ["copy"]


def test_rates_are_example_counts_capped():
  mixtures.register_training_mixture("toy:test:capped", ["toy:echo"],
                                     max_examples=10, overwrite=True)
  mixtures.register_training_mixture("toy:test:uncapped", ["toy:echo"],
                                     max_examples=3000, overwrite=True)
  capped = seqio.get_mixture_or_task("toy:test:capped")
  uncapped = seqio.get_mixture_or_task("toy:test:uncapped")
  echo = seqio.get_mixture_or_task("toy:echo:train")
  assert capped.get_rate(echo) == 10
  assert uncapped.get_rate(echo) == toy_tasks.SIZES["train"]
