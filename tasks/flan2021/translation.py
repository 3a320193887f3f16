"""FLAN 2021 cluster `translation`: ParaCrawl en-es, WMT'14 en-fr, WMT'16 x-en.

Both directions, one dataset per language pair. Every pair is registered
once, under its FLAN_FACTS key, with ten templates: the even ones translate
from English, the odd ones into English. Why this shape rather than the
alternatives:

* one dataset per pair keeps the cluster at the eight datasets of the paper,
  so mixtures, leave-one-cluster-out splits and dataset counts match FLAN;
* fixing the direction per template (instead of drawing a direction per
  example) keeps every eval task single-direction, so each template's BLEU is
  the score of one translation direction, as the paper reports them (e.g.
  En->Fr and Fr->En separately); a direction's score is the mean over its
  five templates;
* in training each example draws one of the ten templates (seeded, see
  flan_jax.data.registry), so about half of the examples go each way and no
  sentence pair is held out in one direction but trained in the other.

No template is inverted: the reverse direction is itself a translation that
BLEU measures, so all ten templates are evaluated. Metric: sacrebleu BLEU.
"""

from __future__ import annotations

import seqio
import tensorflow as tf

from flan_jax.data import metrics
from flan_jax.data.templates import Template
from tasks.flan2021 import common

CLUSTER = "translation"

LANGUAGE_NAMES = {
    "cs": "Czech",
    "de": "German",
    "es": "Spanish",
    "fi": "Finnish",
    "fr": "French",
    "ro": "Romanian",
    "ru": "Russian",
    "tr": "Turkish",
}

# ParaCrawl ships a single train split; the tail of it is held out for
# validation and test so that the three never overlap.
PARA_CRAWL_SPLITS = common.splits(train="train[:-2200]",
                                  validation="train[-2200:-2000]",
                                  test="train[-2000:]")

# dataset key -> (TFDS name, non-English language code, splits)
PAIRS = {
    "para_crawl_enes": ("para_crawl/enes", "es", PARA_CRAWL_SPLITS),
    "wmt14_enfr": ("wmt14_translate/fr-en", "fr", common.SPLITS_STANDARD),
    **{
        f"wmt16_translate_{code}en": (f"wmt16_translate/{code}-en", code,
                                      common.SPLITS_STANDARD)
        for code in ("de", "tr", "cs", "fi", "ro", "ru")
    },
}

# Directions alternate: even templates translate from English, odd ones into
# English, so that the templates-per-dataset ablation (first 1, 2, 4, 7
# templates) trains both directions from two templates on.
TEMPLATES = (
    Template("Translate this sentence into {language}:\n\n{english}",
             "{foreign}"),
    Template("Translate this {language} sentence into English:\n\n{foreign}",
             "{english}"),
    Template("{english}\n\nHow would this be said in {language}?",
             "{foreign}"),
    Template("{foreign}\n\nWhat does this {language} text mean in English?",
             "{english}"),
    Template("English: {english}\n{language}:", "{foreign}"),
    Template("{language}: {foreign}\nEnglish:", "{english}"),
    Template("I need this text in {language}, please translate it.\n"
             "\"{english}\"", "{foreign}"),
    Template("Here is a passage written in {language}:\n{foreign}\n\n"
             "Give an English translation of it.", "{english}"),
    Template("Write the {language} version of the following English "
             "text.\n{english}", "{foreign}"),
    Template("Render the following in English.\n\"{foreign}\"",
             "{english}"),
)

# Template indices per direction, for reporting a score per direction (the
# mean of a direction's per-template BLEU in the eval results).
FROM_ENGLISH_TEMPLATES = (0, 2, 4, 6, 8)
TO_ENGLISH_TEMPLATES = (1, 3, 5, 7, 9)


def prepare_pair(code: str):
  """Maps a TFDS Translation example {"en": ..., code: ...} to named fields.

  The language name is a constant field so that one template set serves all
  eight pairs.
  """
  language = LANGUAGE_NAMES[code]

  @seqio.map_over_dataset
  def prepare(ex):
    return {
        "english": ex["en"],
        "foreign": ex[code],
        "language": tf.constant(language),
    }

  return prepare


def _register_all() -> None:
  for name, (tfds_name, code, splits) in PAIRS.items():
    common.register_flan_dataset(
        name=name,
        cluster=CLUSTER,
        tfds_name=tfds_name,
        splits=splits,
        prepare=[prepare_pair(code)],
        templates=TEMPLATES,
        metric_fns=[metrics.bleu],
        template_groups={"from_english": FROM_ENGLISH_TEMPLATES,
                         "to_english": TO_ENGLISH_TEMPLATES},
    )


_register_all()
