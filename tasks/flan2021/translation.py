"""FLAN 2021 cluster `translation`: ParaCrawl en-es, WMT'14 en-fr, WMT'16 x-en.

Both directions, one dataset per language pair. Every pair is registered
once, under its FLAN_FACTS key, with ten templates: templates 0-4 translate
from English, templates 5-9 translate into English. Why this shape rather than
the alternatives:

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

# Templates 0-4: English -> other language. Templates 5-9: other -> English.
TEMPLATES = (
    Template("Translate this sentence into {language}:\n\n{english}",
             "{foreign}"),
    Template("{english}\n\nHow would this be said in {language}?",
             "{foreign}"),
    Template("English: {english}\n{language}:", "{foreign}"),
    Template("I need this text in {language}, please translate it.\n"
             "\"{english}\"", "{foreign}"),
    Template("Write the {language} version of the following English "
             "text.\n{english}", "{foreign}"),
    Template("Translate this {language} sentence into English:\n\n{foreign}",
             "{english}"),
    Template("{foreign}\n\nWhat does this {language} text mean in English?",
             "{english}"),
    Template("{language}: {foreign}\nEnglish:", "{english}"),
    Template("Here is a passage written in {language}:\n{foreign}\n\n"
             "Give an English translation of it.", "{english}"),
    Template("Render the following in English.\n\"{foreign}\"",
             "{english}"),
)

# Template indices per direction, for reporting a score per direction.
FROM_ENGLISH_TEMPLATES = (0, 1, 2, 3, 4)
TO_ENGLISH_TEMPLATES = (5, 6, 7, 8, 9)


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
    )


_register_all()
