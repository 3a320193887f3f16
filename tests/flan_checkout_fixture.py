"""A small stand-in for a FLAN release checkout, written by the tests.

Same layout and Python shapes as github.com/google-research/FLAN (the
files `flan_jax.data.upstream_templates` reads), with made-up wording: each
key's templates name the fields the release's templates of that key name
(facts about the format), in sentences written here.

    root/flan/templates.py                  PATTERNS (Flan 2021)
    root/flan/v2/templates.py               PATTERNS, aliases, a copy edited
                                            by a loop, FewShotPattern, option
                                            lists (with comprehensions)
    root/flan/v2/flan_templates_branched.py PATTERNS merged into the copy
    root/flan/v2/cot_data/<name>_train.tsv  question, answer, rationale

`write_checkout(root)` writes it and returns root. Every file also holds a
statement that would create ``EXECUTED`` in root if the file were run.
"""

from __future__ import annotations

import os
import pprint

# key -> [(input fields, target fields), ...]; "options_" is the options
# block. The first entries are the key's ordinary templates, later ones
# (target not the answer) its inverted ones.
OPT = "options_"
KEY_FIELDS = {
    "rte": [(["premise", "hypothesis", OPT], ["answer"]),
            (["hypothesis", "premise", OPT], ["answer"]),
            ([], ["premise", "hypothesis"])],
    "wsc": [(["context", "text1", "text2", OPT], ["answer"])],
    "wsc273": [(["context", OPT], ["answer"])],
    "wic": [(["sentence1", "sentence2", "word", OPT], ["answer"])],
    "record": [(["passage", "query", "options_str"], ["answer"])],
    "natural_questions": [(["question"], ["answer"])],
    "trivia_qa": [(["question"], ["answer"])],
    "math_dataset": [(["question"], ["answer"])],
    "aeslc": [(["body"], ["subject"]), (["subject"], ["body"])],
    "cnn_dailymail": [(["text"], ["highlights"]), (["highlights"], ["text"])],
    "gigaword": [(["text"], ["summary"]), (["summary"], ["text"])],
    "multi_news": [(["text"], ["summary"]), (["summary"], ["text"])],
    "newsroom": [(["title", "text"], ["summary"]), (["text"], ["title"])],
    "samsum": [(["dialogue"], ["summary"]), (["summary"], ["dialogue"])],
    "xsum": [(["text"], ["summary"]), (["summary"], ["text"])],
    "squad_v1": [(["title", "context", "question"], ["answer"]),
                 (["context"], ["title"])],
    "squad_v2": [(["title", "context", "question"], ["answer"])],
    "drop": [(["context", "question"], ["answer"]),
             (["context"], ["question"])],
    "quac": [(["background", "context", "question"], ["answer"]),
             (["background", "context"], ["title"])],
    "para_crawl": [(["sent1", "lang2"], ["sent2"]),
                   (["sent2", "lang1"], ["sent1"]), (["lang1"], ["sent1"])],
    "wmt16_translate": [(["sent1", "lang2"], ["sent2"]),
                        (["lang1", "sent2"], ["sent1"]),
                        (["sent2"], ["lang2"])],
    "wmt14_enfr": [(["sent1", "lang2"], ["sent2"]),
                   (["lang1", "sent2"], ["sent1"])],
    "true_case": [(["lower"], ["answer"]), (["answer"], ["lower"])],
    "fix_punct": [(["no_punct"], ["answer"])],
    "word_segment": [(["no_space"], ["answer"]), (["answer"], ["no_space"])],
    "cosmos_qa": [(["context", "question", OPT], ["answer"]),
                  (["context"], ["question"])],
    "ag_news_subset": [(["title", "text", OPT], ["answer"]),
                       (["text"], ["title"])],
    "bool_q": [(["title", "text", "question", OPT], ["answer"])],
    "definite_pronoun_resolution": [(["sentence", "pronoun", OPT],
                                     ["answer"])],
    "glue_mrpc": [(["sentence1", "sentence2", OPT], ["answer"])],
    "glue_qqp": [(["question1", "question2", OPT], ["answer"])],
    "imdb_reviews": [(["text", OPT], ["answer"]), (["answer"], ["text"])],
    "paws_wiki": [(["sentence1", "sentence2", OPT], ["answer"])],
    "sentiment140": [(["text", OPT], ["answer"]), (["answer"], ["text"])],
    "story_cloze": [(["context", OPT], ["answer"]),
                    (["answer"], ["context", "answer"])],
    "copa": [(["premise", "question", OPT], ["answer"]), ([], ["premise"])],
    "winogrande": [(["context", OPT], ["answer"]), (["context"], ["answer"])],
    "yelp_polarity_reviews": [(["text", OPT], ["answer"]),
                              (["answer"], ["text"])],
    "arc": [(["question", OPT], ["answer"]), ([], ["question"])],
    "anli": [(["context", "hypothesis", OPT], ["answer"]),
             ([], ["context", "hypothesis"])],
    "coqa": [(["text", "numbered_questions"], ["numbered_answers"]),
             (["text", "numbered_answers"], ["numbered_questions"])],
    "opinion_abstracts_rotten_tomatoes": [
        (["numbered_reviews"], ["critic_consensus"]),
        (["movie"], ["critic_consensus"]),
        (["critic_consensus"], ["numbered_reviews"]),
        (["first_review"], ["movie"])],
    "opinion_abstracts_idebate": [(["argument_sentences"], ["claim"]),
                                  (["debate_name"], ["claim"]),
                                  (["claim"], ["argument_sentences"])],
    "common_gen": [(["concepts"], ["target"]),
                   (["target"], ["concepts_newline"])],
    "dart": [(["tripleset"], ["target"]), (["target"], ["tripleset_newline"])],
    "e2e_nlg": [(["meaning_representation"], ["target"])],
    "web_nlg_en": [(["input_string"], ["target"]),
                   (["target"], ["input_string"])],
    "wiki_lingua_english_en": [(["source"], ["target"]),
                               (["target"], ["source"])],
    "multirc": [(["paragraph", "question", "response", OPT], ["answer"])],
    "cb": [(["premise", "hypothesis", OPT], ["answer"])],
    "cola": [(["sentence", OPT], ["answer"]), (["answer"], ["sentence"])],
    "sst2": [(["sentence", OPT], ["answer"]), (["answer"], ["sentence"])],
    "mnli": [(["premise", "hypothesis", OPT], ["answer"])],
    "qnli": [(["question", "sentence", OPT], ["answer"])],
    "wnli": [(["sentence1", "sentence2", OPT], ["answer"])],
    "snli": [(["premise", "hypothesis", OPT], ["answer"]),
             ([], ["hypothesis"])],
    "trec": [(["text", OPT], ["answer"])],
    "stsb": [(["sentence1", "sentence2", OPT], ["answer_str"]),
             (["sentence1", "answer_str"], ["sentence2"])],
    "hellaswag": [(["context", OPT], ["answer"])],
    "piqa": [(["goal", OPT], ["answer"]), ([], ["goal"])],
    "openbookqa": [(["fact", "question", OPT], ["answer"]),
                   (["question"], ["fact"])],
}
COT_KEYS = ("cot_gsm8k", "cot_strategyqa", "stream_aqua")
COT_FIELDS = [(["question"], ["chain_of_thought", "answer"])]
COT_INVERSION = [(["answer", "chain_of_thought"], ["question"])]
# (question, answer, rationale) rows; "\\n" is the files' escaped newline.
COT_ROWS = {
    "gsm8k": [(f"Ann has {a} pens and buys {b} more. How many now?",
               str(a + b), f"She starts with {a}.\\nAdding {b} gives {a + b}.")
              for a, b in [(3, 4), (10, 5), (7, 8), (2, 9), (6, 6), (12, 1),
                           (4, 4), (9, 3), (5, 11), (1, 13), (8, 2), (14, 6)]],
    "strategyqa": [(f"Is {n} larger than ten?", "yes" if n > 10 else "no",
                    f"{n} is {'above' if n > 10 else 'not above'} ten.")
                   for n in (3, 12, 15, 7, 20, 1, 11, 9, 30, 5, 16, 2)],
}
EXECUTED = "EXECUTED"
MARKER_LINE = ("open(__file__.rsplit('/flan/', 1)[0] + '/" + EXECUTED +
               "', 'w').close()\n")


def _pattern(index: int, inputs: list[str], targets: list[str],
             style: str) -> tuple[str, str]:
  options = [f for f in inputs if f in (OPT, "options_str")]
  slots = [f"{{{f}}}" for f in inputs if f not in options]
  text = f"{style} prompt {index}: " + " | ".join(slots) if slots else \
      f"{style} prompt {index}: make one up."
  for field in options:
    text += f"\n{{{field}}}"
  return text, " + ".join(f"{{{f}}}" for f in targets)


def patterns(style: str, keys=None, v2: bool = False) -> dict:
  """key -> [(inputs, targets)] in one made-up wording style."""
  result = {}
  for key, rows in (keys or KEY_FIELDS).items():
    out = []
    for i, (inputs, targets) in enumerate(rows):
      if v2 and key == "stsb":  # the v2 file names the answer `answer`
        inputs = ["answer" if f == "answer_str" else f for f in inputs]
        targets = ["answer" if f == "answer_str" else f for f in targets]
      out.append(_pattern(i, inputs, targets, style))
    result[key] = out
  return result


def _dict_source(name: str, value: dict) -> str:
  return f"{name} = {pprint.pformat(value, width=78, sort_dicts=False)}\n\n"


def _few_shot_source(value: dict) -> str:
  lines = ["FEWSHOT_PATTERNS = {"]
  for key, rows in value.items():
    lines.append(f"    {key!r}: [")
    for i, (inputs, targets) in enumerate(rows):
      extra = ('inputs_prefix="Q: ", targets_prefix="A: ", '
               'x_y_delimiter="\\n"' if i == 0 else 'final_suffix=" ->"')
      lines.append(f"        FewShotPattern(inputs={inputs!r}, "
                   f"targets={targets!r}, {extra}),")
    lines.append("    ],")
  lines.append("}\n")
  return "\n".join(lines) + "\n"


V2_HEAD = '''"""Made-up templates in the release's layout (test fixture)."""
import copy
import dataclasses

from flan.v2 import flan_templates_branched as flan_templates

'''

V2_TAIL = '''PATTERNS["rte_alias"] = PATTERNS["rte"]
PATTERNS[
    "cot_input_inversion_gsm8k"] = PATTERNS["cot_general_inversion"]
PATTERNS["cot_input_inversion_strategyqa"] = PATTERNS["cot_general_inversion"]
PATTERNS["stream_input_inversion_aqua"] = PATTERNS["cot_general_inversion"]

PATTERNS_NO_OPTIONS = copy.deepcopy(PATTERNS)
PATTERNS_NO_OPTIONS.update(flan_templates.PATTERNS)
for t_name, templates in PATTERNS_NO_OPTIONS.items():
  for ti, (in_template, out_template) in enumerate(templates):
    PATTERNS_NO_OPTIONS[t_name][ti] = (in_template.replace(
        "\\n{options_}", "").replace("{options_}", "").replace(
            "\\n{options_str}", ""), out_template)


@dataclasses.dataclass
class FewShotPattern:
  inputs: str
  targets: str
  inputs_prefix: str = ""
  targets_prefix: str = ""
  x_y_delimiter: str = "\\n\\n"
  example_separator: str = "\\n\\n\\n"
  final_suffix: str = ""
  input_pattern: str = "{{inputs}}{final_suffix}"
  in_template_mix: bool = True


'''

V2_OPTIONS = '''
FEWSHOT_PATTERNS_NO_OPTIONS = copy.deepcopy(FEWSHOT_PATTERNS)
for t_name, templates in FEWSHOT_PATTERNS_NO_OPTIONS.items():
  for ti, few_shot_pattern in enumerate(templates):
    in_template = few_shot_pattern.inputs
    in_template = in_template.replace("\\n{options_}", "")
    in_template = in_template.replace("{options_str}", "")
    few_shot_pattern.inputs = in_template
    FEWSHOT_PATTERNS_NO_OPTIONS[t_name][ti] = few_shot_pattern

OPT_START_STRING_CANDIDATES = ["", "CHOOSE:", "Pick one:"]
ROMAN_NUMS = ["I", "II", "III"]
OPT_ITEM_NAME_CANDIDATES = [
    ["\\n* " for _ in range(3)],
    [" (" + x.lower() + ") " for x in ROMAN_NUMS],
    ["\\n" + chr(x) + ") " for x in range(ord("a"), ord("c") + 1)],
]
OPT_ITEM_END_STR_CANDIDATES = [["" for _ in range(3)], [";" for _ in range(3)]]
'''


def write_checkout(root: str) -> str:
  """Writes the fixture checkout under `root`; returns `root`."""
  v2_dir = os.path.join(root, "flan", "v2")
  cot_dir = os.path.join(v2_dir, "cot_data")
  os.makedirs(cot_dir, exist_ok=True)
  with open(os.path.join(root, "flan", "templates.py"), "w") as f:
    f.write('"""Made-up Flan 2021 templates (test fixture)."""\n\n')
    f.write(_dict_source("PATTERNS", patterns("Old")))
    f.write(MARKER_LINE)
  with open(os.path.join(v2_dir, "flan_templates_branched.py"), "w") as f:
    f.write(_dict_source("PATTERNS", patterns("Branch", v2=True)))
    f.write(MARKER_LINE)
  v2 = patterns("New", v2=True)
  cot = patterns("Cot", {k: COT_FIELDS for k in COT_KEYS})
  v2.update(cot)
  v2["cot_general_inversion"] = patterns(
      "Inv", {"x": COT_INVERSION})["x"]
  with open(os.path.join(v2_dir, "templates.py"), "w") as f:
    f.write(V2_HEAD)
    f.write(_dict_source("PATTERNS", v2))
    f.write(V2_TAIL)
    few = patterns("Few", v2=True)
    few.update(patterns("FewCot", {k: COT_FIELDS for k in COT_KEYS}))
    f.write(_few_shot_source(few))
    f.write(V2_OPTIONS)
    f.write(MARKER_LINE)
  for name, rows in COT_ROWS.items():
    with open(os.path.join(cot_dir, f"{name}_train.tsv"), "w") as f:
      for row in rows:
        f.write("\t".join(row) + "\n")
  return root
