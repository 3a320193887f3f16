"""FLAN 2021 translation cluster on TFDS mock data and hand-made pairs."""

import pytest
import tensorflow as tf

import mock_helpers
from flan_jax.data import metrics
from flan_jax.data import registry
from flan_jax.data import templates as templates_lib
from tasks.flan2021 import common
from tasks.flan2021 import translation

EXPECTED = ("para_crawl_enes", "wmt14_enfr", "wmt16_translate_deen",
            "wmt16_translate_tren", "wmt16_translate_csen",
            "wmt16_translate_fien", "wmt16_translate_roen",
            "wmt16_translate_ruen")


def test_cluster_has_the_eight_pairs_of_flan():
  assert tuple(mock_helpers.dataset_names("translation")) == EXPECTED


@pytest.mark.parametrize("name", EXPECTED)
def test_dataset_runs_on_mock_data(name):
  # Same template set for every pair, so one pair runs every variant.
  every = name == "wmt16_translate_deen"
  # 1 training task + 10 generation tasks (no options, nothing inverted).
  assert mock_helpers.check_dataset(name, every_variant=every) == (
      11 if every else 2)


def test_each_direction_has_five_templates_and_bleu():
  spec = common.get_flan_dataset("wmt16_translate_deen").spec
  ex = next(iter(translation.prepare_pair("de")(
      tf.data.Dataset.from_tensors({"en": "Good morning.",
                                    "de": "Guten Morgen."}))))
  for index, template in enumerate(spec.templates):
    rendered = templates_lib.render_example(template, ex)
    inputs = rendered["inputs"].numpy().decode()
    target = rendered["targets"].numpy().decode()
    if index in translation.FROM_ENGLISH_TEMPLATES:
      # Translating out of English must say into which language.
      assert "German" in inputs and "Good morning." in inputs
      assert target == "Guten Morgen."
    else:
      assert index in translation.TO_ENGLISH_TEMPLATES
      assert target == "Good morning." and "Guten Morgen." in inputs
  # The templates ablation takes the first k templates: two cover both ways.
  assert {translation.FROM_ENGLISH_TEMPLATES[0],
          translation.TO_ENGLISH_TEMPLATES[0]} == {0, 1}
  assert sorted(translation.FROM_ENGLISH_TEMPLATES +
                translation.TO_ENGLISH_TEMPLATES) == list(range(10))
  assert list(spec.metric_fns) == [metrics.bleu]
  sentence = "Die Katze sitzt heute auf der Matte ."
  assert spec.metric_fns[0]([sentence], [sentence]) == {
      "bleu": pytest.approx(100.0)}


def test_para_crawl_holds_out_the_tail_of_its_only_split():
  source = common.get_flan_dataset("para_crawl_enes").spec.source
  assert tuple(source.splits) == ("train", "validation", "test")
  assert translation.PARA_CRAWL_SPLITS == {"train": "train[:-2200]",
                           "validation": "train[-2200:-2000]",
                           "test": "train[-2000:]"}
  assert registry.get_dataset("flan2021:para_crawl_enes").train_task


def test_missing_data_error_names_the_pair_and_its_build_command(tmp_path):
  source = common.FlanTfdsSource("wmt16_translate/de-en",
                                 translation.PAIRS["wmt16_translate_deen"][2],
                                 tfds_data_dir=str(tmp_path))
  with pytest.raises(common.DatasetNotPreparedError,
                     match=r"wmt16_translate/de-en.*tfds build "
                     r"wmt16_translate/de-en"):
    source.get_dataset("train", shuffle=False)
