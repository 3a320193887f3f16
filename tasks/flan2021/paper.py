"""TEMPLATE_SET = 'paper': the flan2021 tasks with the FLAN release's templates.

With `flan_jax.data.task_settings.configure(template_set="paper",
flan_checkout=<dir>)` (the scripts do it from the gin macros TEMPLATE_SET and
FLAN_CHECKOUT) every ``flan2021:*`` task and mixture is registered again,
under the same names, with the templates of ``<dir>/flan/templates.py``,
read without running it (`flan_jax.data.upstream_templates`). Setting it
back to 'ours' restores this project's templates.

`KEYS` maps each of our datasets to its key in the release's PATTERNS and to
the release's field names (`flan_jax.data.paper_templates.UpstreamKey`). A
dataset the release cannot serve (no key, or no usable pattern) keeps this
project's templates, and the run's log says which; `coverage` (printed by
``python scripts/catalogue.py --template_set=paper --flan_checkout=<dir>``)
lists per dataset how many templates were loaded and every one that could
not be used, with the reason.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Mapping

import tensorflow as tf

from flan_jax.data import paper_templates
from flan_jax.data import registry
from flan_jax.data import task_settings
from flan_jax.data import templates as templates_lib
from flan_jax.data import upstream_templates
from flan_jax.data.paper_templates import UpstreamKey as K
from tasks.flan2021 import common
from tasks.flan2021 import mixtures

log = logging.getLogger("flan_jax")


# --- the release's own formulation, where it differs from ours --------------


def _completion_options(ds: tf.data.Dataset) -> tf.data.Dataset:
  """WSC273 as the release phrases it: the text up to the pronoun is the
  context, and the options are each candidate followed by the rest."""

  @tf.autograph.experimental.do_not_convert
  def fn(ex):
    ex = dict(ex)
    prefix = tf.strings.strip(tf.strings.substr(ex["text"], 0,
                                                ex["pronoun_start"]))
    suffix = tf.strings.strip(tf.strings.substr(ex["text"],
                                                ex["pronoun_end"], -1))
    entities = tf.stack([ex["option1_normalized"], ex["option2_normalized"]])
    options = tf.strings.join([entities, tf.fill([2], suffix)], separator=" ")
    ex.update(context=prefix, options=options,
              answer=tf.gather(options, tf.cast(ex["label"], tf.int32)))
    return ex

  return ds.map(fn, num_parallel_calls=tf.data.AUTOTUNE)


def _blank_completion(ds: tf.data.Dataset) -> tf.data.Dataset:
  """Winogrande as the release phrases it: the sentence before the blank is
  the context, the options are each filler followed by the rest."""

  @tf.autograph.experimental.do_not_convert
  def fn(ex):
    ex = dict(ex)
    parts = tf.strings.split(ex["sentence"], "_", maxsplit=1)
    parts = tf.concat([parts, ["", ""]], axis=0)
    options = tf.strings.join(
        [tf.stack([ex["option1"], ex["option2"]]), tf.fill([2], parts[1])])
    ex.update(context=tf.strings.strip(parts[0]), options=options,
              answer=tf.gather(options, tf.cast(ex["label"], tf.int32)))
    return ex

  return ds.map(fn, num_parallel_calls=tf.data.AUTOTUNE)


# --- our datasets -> the release's keys and field names --------------------

_SUMMARY = {"summary": "answer"}
_GEM = {"target": "answer"}
_PAIR = {"sentence1": "first", "sentence2": "second"}
_TRANSLATION = dict(rename={"sent1": "english", "sent2": "foreign",
                            "lang2": "language"},
                    constants={"lang1": "English"}, labels=("language",))
_MULTIRC = ("our MultiRC groups each question's candidate answers and asks "
            "for the correct ones; the release's templates judge one "
            "candidate per example (true or false)")

KEYS: dict[str, K] = {
    # summarization
    "aeslc": K("aeslc", {"body": "text", "subject": "answer"}),
    "cnn_dailymail": K("cnn_dailymail", {"highlights": "answer"}),
    "gigaword": K("gigaword", _SUMMARY),
    "multi_news": K("multi_news", _SUMMARY),
    "newsroom": K("newsroom", _SUMMARY),
    "samsum": K("samsum", {"dialogue": "text", **_SUMMARY}),
    "xsum": K("xsum", _SUMMARY),
    "ag_news_subset": K("ag_news_subset"),
    "opinion_abstracts_rotten_tomatoes": K(
        "opinion_abstracts_rotten_tomatoes", {"critic_consensus": "answer"}),
    "opinion_abstracts_idebate": K(
        "opinion_abstracts_idebate", {"argument_sentences": "text",
                                      "claim": "answer",
                                      "debate_name": "debate"}),
    "wiki_lingua_english_en": K("wiki_lingua_english_en",
                                {"source": "text", **_GEM}),
    # structure to text
    "web_nlg_en": K("web_nlg_en", {"input_string": "triples", **_GEM}),
    "common_gen": K("common_gen", _GEM),
    "e2e_nlg": K("e2e_nlg", {"meaning_representation": "record", **_GEM}),
    "dart": K("dart", {"tripleset": "triples", **_GEM}),
    # reading comprehension
    "squad_v1": K("squad_v1"),
    "squad_v2": K("squad_v2"),
    "drop": K("drop", {"context": "passage"}),
    "multirc": K("multirc", unavailable=_MULTIRC),
    "openbookqa": K("openbookqa"),
    "bool_q": K("bool_q", {"text": "passage"}),
    # closed-book QA
    "trivia_qa": K("trivia_qa"),
    "natural_questions": K("natural_questions"),
    "arc_challenge": K("arc"),
    "arc_easy": K("arc"),
    # paraphrase
    "glue_mrpc": K("glue_mrpc", _PAIR),
    "glue_qqp": K("glue_qqp", {"question1": "first", "question2": "second"}),
    "paws_wiki": K("paws_wiki", _PAIR),
    "stsb": K("stsb", {**_PAIR, "answer_str": "answer"}),
    # sentiment
    "imdb_reviews": K("imdb_reviews"),
    "sentiment140": K("sentiment140"),
    "yelp_polarity_reviews": K("yelp_polarity_reviews"),
    "sst2": K("sst2", {"sentence": "text"}),
    # text formatting
    "true_case": K("true_case", {"lower": "text"}),
    "fix_punct": K("fix_punct", {"no_punct": "text"}),
    "word_segment": K("word_segment", {"no_space": "text"}),
    # commonsense
    "copa": K("copa"),
    "hellaswag": K("hellaswag"),
    "story_cloze": K("story_cloze"),
    "piqa": K("piqa"),
    # translation (sent1 is English, sent2 the other language)
    "para_crawl_enes": K("para_crawl", **_TRANSLATION),
    "wmt14_enfr": K("wmt14_enfr", **_TRANSLATION),
    **{f"wmt16_translate_{pair}": K("wmt16_translate", **_TRANSLATION)
       for pair in ("deen", "tren", "csen", "fien", "roen", "ruen")},
    # coreference
    "definite_pronoun_resolution": K("definite_pronoun_resolution"),
    "winogrande": K("winogrande", prepare=(_blank_completion,),
                    adds=("context",)),
    "wsc": K("wsc", {"context": "text", "text1": "span1_text",
                     "text2": "span2_text"}),
    "wsc273": K("wsc273", prepare=(_completion_options,), adds=("context",)),
    # NLI
    **{f"anli_{r}": K("anli", {"context": "premise"})
       for r in ("r1", "r2", "r3")},
    "cb": K("cb"),
    "rte": K("rte"),
    "mnli_matched": K("mnli"),
    "mnli_mismatched": K("mnli"),
    "qnli": K("qnli"),
    "wnli": K("wnli", {"sentence1": "premise", "sentence2": "hypothesis"}),
    "snli": K("snli"),
    # the small clusters
    "math_dataset": K("math_dataset"),
    "quac": K("quac"),
    "coqa": K("coqa", {"text": "story", "numbered_questions": "questions",
                       "numbered_answers": "answers"}),
    "wic": K("wic"),
    "cola": K("cola"),
    "trec": K("trec"),
    "record": K("record"),
    "cosmos_qa": K("cosmos_qa"),
}


# --- converting and re-registering ------------------------------------------


@dataclasses.dataclass(frozen=True)
class Served:
  """What the release's templates give one dataset."""
  name: str
  key: str | None
  conversion: paper_templates.Conversion | None
  reason: str | None  # why the dataset keeps our templates, if it does

  @property
  def uses_paper(self) -> bool:
    return self.reason is None


# Our own specs, kept so that 'ours' can be restored after 'paper'.
_OURS: dict[str, registry.DatasetSpec] = {}
_FIELDS: dict[str, frozenset[str]] = {}  # our prepared fields, per dataset
_APPLIED = [(task_settings.OURS, None)]


def our_spec(name: str) -> registry.DatasetSpec:
  """This project's own spec of a dataset (whatever is registered now)."""
  return _OURS.get(name) or common.get_flan_dataset(name).spec


def our_fields(name: str) -> frozenset[str]:
  """The prepared fields of our own spec (before the release's additions)."""
  remember_ours()
  return _FIELDS[name]


def serve(name: str, patterns: Mapping[str, tuple], file: str) -> Served:
  """The release's templates for dataset `name`, or why there are none.

  Call after `remember_ours` (our fields and specs are the starting point).
  """
  mapping = KEYS.get(name)
  if mapping is None:
    return Served(name, None, None, "no entry in tasks.flan2021.paper.KEYS")
  if mapping.unavailable:
    return Served(name, mapping.key, None, mapping.unavailable)
  if mapping.key not in patterns:
    return Served(name, mapping.key, None,
                  f"{file} has no key '{mapping.key}'")
  spec = our_spec(name)
  conversion = paper_templates.convert(
      patterns[mapping.key], mapping,
      available=_FIELDS[name],
      answer_fields=paper_templates.answer_fields_of(spec.templates))
  if not conversion.usable:
    return Served(name, mapping.key, conversion,
                  "no usable non-inverted template (" +
                  "; ".join(conversion.problems[:2]) + ")")
  return Served(name, mapping.key, conversion, None)


def paper_spec(name: str, served: Served) -> registry.DatasetSpec:
  """Our spec with the release's templates and its extra preparation."""
  spec = our_spec(name)
  mapping = KEYS[name]
  templates = served.conversion.templates
  return dataclasses.replace(
      spec, templates=templates,
      template_groups=templates_lib.carry_groups(
          spec.template_groups, spec.templates, templates),
      prepare=(*spec.prepare, *paper_templates.extra_prepare(mapping)))



def remember_ours() -> None:
  """Keeps our own specs and fields before any re-registration."""
  for dataset in common.registered_datasets():
    if dataset.name not in _OURS:
      _OURS[dataset.name] = dataset.spec
      _FIELDS[dataset.name] = registry.prepared_fields_of(dataset.key)


def _register(name: str, spec: registry.DatasetSpec,
              fields: frozenset[str]) -> None:
  key = f"{common.COLLECTION}:{name}"
  registry.unregister_dataset(key)
  common.replace_registered(name, registry.register_dataset(spec,
                                                            fields=fields))


def served_by_release(checkout: str) -> list[Served]:
  """`serve` for every dataset, from `<checkout>/flan/templates.py`."""
  remember_ours()
  release = upstream_templates.read_flan2021(checkout)
  return [serve(d.name, release.patterns, upstream_templates.FLAN2021_FILE)
          for d in common.registered_datasets()]


def use(template_set: str, checkout: str | None = None) -> list[Served]:
  """Registers every flan2021 task and mixture with one template set."""
  wanted = (template_set, checkout if template_set == task_settings.PAPER
            else None)
  if _APPLIED[0] == wanted:
    return []
  remember_ours()
  served = []
  if template_set == task_settings.PAPER:
    served = served_by_release(checkout)
    for item in served:
      mapping = KEYS.get(item.name)
      if item.uses_paper:
        _register(item.name, paper_spec(item.name, item),
                  mapping.provided(_FIELDS[item.name]))
      else:
        _register(item.name, _OURS[item.name], _FIELDS[item.name])
    kept = [s.name for s in served if not s.uses_paper]
    log.info("flan2021: the FLAN release's templates (%s) for %d datasets",
             checkout, len(served) - len(kept))
    if kept:
      log.warning("flan2021: %d datasets keep this project's templates (no "
                  "usable release template): %s", len(kept), ", ".join(kept))
  else:
    for name, spec in _OURS.items():
      _register(name, spec, _FIELDS[name])
  mixtures.register_all(overwrite=True)
  _APPLIED[0] = wanted
  return served


def _on_configure(settings: task_settings.TaskSettings) -> None:
  use(settings.template_set, settings.flan_checkout)


task_settings.on_configure(_on_configure)
