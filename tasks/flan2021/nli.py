"""FLAN 2021 cluster `nli`: natural language inference, ten datasets.

ANLI rounds 1-3, CB, RTE, MNLI (matched and mismatched test sets), QNLI,
WNLI and SNLI. Every dataset becomes a premise/hypothesis pair answered from
a fixed option list: three-way datasets answer "yes", "it is not possible to
tell" or "no"; two-way ones "yes" or "no". Premise/hypothesis datasets share
one template set (as FLAN's NLI datasets do); QNLI, whose pairs are a
question and a candidate answer sentence, has its own.

GLUE and SuperGLUE hide their test labels, so for CB, RTE, MNLI, QNLI and
WNLI the official validation set is the test set and validation comes from
the tail of train. ANLI and SNLI publish labelled test sets.
"""

from flan_jax.data import metrics
from flan_jax.data.templates import Template
from tasks.flan2021 import common

YES, UNKNOWN, NO = "yes", "it is not possible to tell", "no"
THREE_WAY = (YES, UNKNOWN, NO)
TWO_WAY = (YES, NO)

# Label names in each TFDS builder's ClassLabel order.
_ENTAIL_NEUTRAL_CONTRADICT = (YES, UNKNOWN, NO)  # ANLI, MNLI, SNLI
_CB_LABELS = (YES, NO, UNKNOWN)  # entailment, contradiction, neutral
_ENTAIL_NOT = (YES, NO)  # RTE, QNLI: entailment, not_entailment
_WNLI_LABELS = (NO, YES)  # not_entailment, entailment

PAIR_TEMPLATES = (
    Template("Premise: {premise}\nHypothesis: {hypothesis}\n\nIf the premise "
             "is true, is the hypothesis true as well?\n{options_}",
             "{answer}"),
    Template("{premise}\n\nTaking the passage above as fact, can we also say "
             "that \"{hypothesis}\"?\n{options_}", "{answer}"),
    Template("Read the text and judge the claim that follows.\n\nText: "
             "{premise}\nClaim: {hypothesis}\n\nDoes the text support the "
             "claim?\n{options_}", "{answer}"),
    Template("Suppose that {premise}\n\nDoes it follow that {hypothesis}\n"
             "{options_}", "{answer}"),
    Template("Statement one: \"{premise}\"\nStatement two: \"{hypothesis}\"\n"
             "Can statement two be concluded from statement one?\n{options_}",
             "{answer}"),
    Template("{premise}\nFrom what is written here, must the following also "
             "hold?\n{hypothesis}\n{options_}", "{answer}"),
    Template("Here is a short passage: {premise}\n\nA reader claims: "
             "\"{hypothesis}\" Is the reader right, judging only by the "
             "passage?\n{options_}", "{answer}"),
    Template("Entailment question.\nGiven: {premise}\nQuery: is it then "
             "true that {hypothesis}\n{options_}", "{answer}"),
    Template("Consider this premise:\n{premise}\n\nWrite a hypothesis that "
             "fits it, such that the answer to \"does the premise entail the "
             "hypothesis?\" is \"{answer}\".", "{hypothesis}", inverted=True),
    Template("Starting point: {premise}\nCompose a sentence whose truth, "
             "given the starting point, would be judged \"{answer}\".",
             "{hypothesis}", inverted=True),
)

QNLI_TEMPLATES = (
    Template("Question: {question}\nSentence: {sentence}\n\nDoes the sentence "
             "contain the answer to the question?\n{options_}", "{answer}"),
    Template("Can the question \"{question}\" be answered from this "
             "sentence?\n\n{sentence}\n{options_}", "{answer}"),
    Template("{sentence}\n\nDoes the text above tell us the answer to: "
             "{question}\n{options_}", "{answer}"),
    Template("I am looking for the answer to \"{question}\". Would this "
             "sentence help me find it?\n\"{sentence}\"\n{options_}",
             "{answer}"),
    Template("Sentence: {sentence}\nQuery: {question}\nIs the query answered "
             "by the sentence?\n{options_}", "{answer}"),
    Template("Judge whether the passage answers the question.\nPassage: "
             "{sentence}\nQuestion: {question}\n{options_}", "{answer}"),
    Template("Someone asked: {question}\nA reply was: {sentence}\nDoes the "
             "reply actually answer what was asked?\n{options_}", "{answer}"),
    Template("Does \"{sentence}\" give a correct answer to the question "
             "\"{question}\"?\n{options_}", "{answer}"),
    Template("Here is a sentence: {sentence}\n\nWrite a question for which "
             "the answer to \"does the sentence answer it?\" is "
             "\"{answer}\".", "{question}", inverted=True),
    Template("Question: {question}\nWrite a sentence that, judged as an "
             "answer to this question, would be marked \"{answer}\".",
             "{sentence}", inverted=True),
)

_ACCURACY = [metrics.exact_match_accuracy]


def _register_pair(name, tfds_name, splits, labels, options, *,
                   premise="premise", hypothesis="hypothesis",
                   drop_unlabelled=False):
  prepare = [common.rename({premise: "premise", hypothesis: "hypothesis"})]
  if drop_unlabelled:  # SNLI marks pairs without annotator agreement -1
    prepare.insert(0, common.drop_unlabelled())
  prepare.append(common.label_to_text(labels))
  common.register_flan_dataset(
      name=name, cluster="nli", tfds_name=tfds_name, splits=splits,
      prepare=prepare, templates=PAIR_TEMPLATES, options=options,
      metric_fns=_ACCURACY)


for _round in ("r1", "r2", "r3"):
  _register_pair(f"anli_{_round}", f"anli/{_round}", common.SPLITS_STANDARD,
                 _ENTAIL_NEUTRAL_CONTRADICT, THREE_WAY, premise="context")

_register_pair("cb", "super_glue/cb", common.SPLITS_VALIDATION_AS_TEST,
               _CB_LABELS, THREE_WAY)
_register_pair("rte", "super_glue/rte", common.SPLITS_VALIDATION_AS_TEST,
               _ENTAIL_NOT, TWO_WAY)

# Both MNLI test sets train on the same MNLI training data, as in FLAN.
for _name, _test in (("mnli_matched", "validation_matched"),
                     ("mnli_mismatched", "validation_mismatched")):
  _register_pair(_name, "glue/mnli",
                 common.splits(train="train[:-200]",
                               validation="train[-200:]", test=_test),
                 _ENTAIL_NEUTRAL_CONTRADICT, THREE_WAY)

common.register_flan_dataset(
    name="qnli", cluster="nli", tfds_name="glue/qnli",
    splits=common.SPLITS_VALIDATION_AS_TEST,
    prepare=[common.label_to_text(_ENTAIL_NOT)],
    templates=QNLI_TEMPLATES, options=TWO_WAY, metric_fns=_ACCURACY)

_register_pair("wnli", "glue/wnli", common.SPLITS_VALIDATION_AS_TEST,
               _WNLI_LABELS, TWO_WAY, premise="sentence1",
               hypothesis="sentence2")
_register_pair("snli", "snli", common.SPLITS_STANDARD,
               _ENTAIL_NEUTRAL_CONTRADICT, THREE_WAY, drop_unlabelled=True)
