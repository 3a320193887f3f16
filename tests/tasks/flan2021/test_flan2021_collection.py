"""The whole FLAN 2021 collection against FLAN_FACTS: datasets per cluster."""

import pathlib

import pytest

import tasks.flan2021  # noqa: F401  (registers every cluster and mixture)
from tasks.flan2021 import catalogue
from tasks.flan2021 import common
from tasks.flan2021 import mixtures

# FLAN_FACTS.md, "Clusters and datasets" (wsc273 is evaluation-only).
FLAN_FACTS = {
    "summarization": (
        "aeslc", "cnn_dailymail", "gigaword", "multi_news", "newsroom",
        "samsum", "xsum", "ag_news_subset",
        "opinion_abstracts_rotten_tomatoes", "opinion_abstracts_idebate",
        "wiki_lingua_english_en"),
    "structure_to_text": ("web_nlg_en", "common_gen", "e2e_nlg", "dart"),
    "reading_comprehension": ("squad_v1", "squad_v2", "drop", "multirc",
                              "openbookqa", "bool_q"),
    "open_domain_qa": ("trivia_qa", "natural_questions", "arc_challenge",
                       "arc_easy"),
    "paraphrase": ("glue_mrpc", "glue_qqp", "paws_wiki", "stsb"),
    "sentiment": ("imdb_reviews", "sentiment140", "yelp_polarity_reviews",
                  "sst2"),
    "text_formatting": ("true_case", "fix_punct", "word_segment"),
    "common_sense": ("copa", "hellaswag", "story_cloze", "piqa"),
    "translation": ("para_crawl_enes", "wmt14_enfr", "wmt16_translate_deen",
                    "wmt16_translate_tren", "wmt16_translate_csen",
                    "wmt16_translate_fien", "wmt16_translate_roen",
                    "wmt16_translate_ruen"),
    "coreference": ("definite_pronoun_resolution", "winogrande", "wsc",
                    "wsc273"),
    "nli": ("anli_r1", "anli_r2", "anli_r3", "cb", "rte", "mnli_matched",
            "mnli_mismatched", "qnli", "wnli", "snli"),
    "math": ("math_dataset",),
    "conversational_qa": ("quac", "coqa"),
    "word_disambiguation": ("wic",),
    "linguistic_acceptability": ("cola",),
    "question_classification": ("trec",),
    "read_comp_and_common_sense": ("record", "cosmos_qa"),
}


def test_facts_list_every_cluster_module():
  assert tuple(FLAN_FACTS) == common.CLUSTER_NAMES


def test_every_cluster_is_registered():
  assert common.missing_clusters() == []


@pytest.mark.parametrize("cluster", common.CLUSTER_NAMES)
def test_dataset_counts_per_cluster(cluster):
  registered = common.clusters().get(cluster, ())
  if not registered:
    pytest.fail(f"cluster '{cluster}' registered no dataset "
                f"(module tasks/flan2021/{cluster}.py missing)")
  # Translation registers each language pair; its directions are templates
  # or datasets depending on the module, so count pairs by prefix.
  expected = FLAN_FACTS[cluster]
  if cluster == "translation":
    for pair in expected:
      assert any(name.startswith(pair) for name in registered), pair
  else:
    assert sorted(registered) == sorted(expected)


def test_templates_and_options():
  for dataset in common.registered_datasets():
    spec = dataset.spec
    assert len(spec.templates) == 10, dataset.name
    assert sum(t.inverted for t in spec.templates) <= 3, dataset.name
    assert any(not t.inverted for t in spec.templates), dataset.name
  assert [d.name for d in common.registered_datasets() if d.eval_only] == [
      "wsc273"]


def test_catalogue_lists_every_dataset_and_mixture():
  text = (pathlib.Path(__file__).resolve().parents[3] / "docs" /
          "flan2021_catalogue.md").read_text()
  for dataset in common.registered_datasets():
    assert f"### {dataset.name}\n" in text, dataset.name
  for name in mixtures.MIXTURES:
    assert f"`{name}`" in text, name


def test_catalogue_entries_render_examples():
  entries = catalogue.entries()
  assert len(entries) == len(common.registered_datasets())
  for entry in entries:
    assert entry.example_inputs.strip(), entry.name
    assert entry.num_templates == 10


@pytest.mark.slow  # ~19 pipelines per dataset; one dataset per cluster
@pytest.mark.parametrize("cluster", common.CLUSTER_NAMES)
def test_every_task_variant_of_a_dataset_per_cluster(cluster):
  import mock_helpers  # pylint: disable=g-import-not-at-top
  name = common.clusters()[cluster][0]
  entry = common.get_flan_dataset(name).registered
  count = mock_helpers.check_dataset(name, every_variant=True)
  assert count == len(mock_helpers.task_names(name)) == (
      1 + len(entry.generation_tasks) + len(entry.scoring_tasks))
