"""FLAN 2021 cluster `summarization`: condense a text into a short one.

Eleven datasets. Ten are free-text summarisation (emails to subject lines,
news to highlights or headlines, dialogues, reviews and debate arguments to a
one-line verdict, how-to articles to their gist), scored by ROUGE-1/2/Lsum.
AG News, which FLAN files here too, is news topic classification with four
options, scored by accuracy (rank classification at evaluation).

Every dataset's preparation reduces its raw TFDS example to the fields its
templates read (``text`` and ``answer`` at least), all tf.string, in tf ops.
"""

from __future__ import annotations

import seqio
import tensorflow as tf

from flan_jax.data import metrics
from flan_jax.data.templates import Template
from tasks.flan2021 import common

CLUSTER = "summarization"
_ROUGE = [metrics.rouge]


def _text_and_summary(text_key: str, summary_key: str, **extra: str):
  """Preparation keeping one source text, its summary and named extras."""

  @seqio.map_over_dataset
  def prepare(ex):
    out = {"text": ex[text_key], "answer": ex[summary_key]}
    for field, key in extra.items():
      out[field] = ex[key]
    return out

  return prepare


# --- aeslc: an email body -> its subject line ---------------------------------

_AESLC_TEMPLATES = [
    Template("Write a subject line for this email:\n\n{text}", "{answer}"),
    Template("{text}\n\nWhat would be a good subject line for the email "
             "above?", "{answer}"),
    Template("Here is the body of an email.\n{text}\nSuggest a short subject "
             "for it.", "{answer}"),
    Template("Email:\n{text}\n\nSubject:", "{answer}"),
    Template("Someone sent the following message at work. Give it a title "
             "that tells the reader what it is about.\n\n{text}", "{answer}"),
    Template("{text}\n\nSum up this email in a few words, the way you would "
             "in its subject field.", "{answer}"),
    Template("Read the email and propose its subject line.\n\nEmail text: "
             "{text}", "{answer}"),
    Template("Write an email whose subject line is \"{answer}\".", "{text}",
             inverted=True),
    Template("Subject: {answer}\n\nCompose the body of an email that fits "
             "this subject.", "{text}", inverted=True),
    Template("What is this email about? Answer in the style of a subject "
             "line.\n{text}", "{answer}"),
]

# --- cnn_dailymail: a news article -> its highlights ----------------------------

_CNN_TEMPLATES = [
    Template("Summarise the key points of this news article:\n\n{text}",
             "{answer}"),
    Template("{text}\n\nList the main highlights of the article above.",
             "{answer}"),
    Template("Article: {text}\n\nHighlights:", "{answer}"),
    Template("Read the following story and write a few bullet-style "
             "sentences that capture what happened.\n\n{text}", "{answer}"),
    Template("{text}\nWhat are the most important facts in this report?",
             "{answer}"),
    Template("Give a brief summary of this piece of news.\n{text}",
             "{answer}"),
    Template("Here is a news article:\n{text}\nWrite its highlights in a few "
             "short sentences.", "{answer}"),
    Template("A reader only has a few seconds. Tell them what this article "
             "says.\n\n{text}", "{answer}"),
    Template("Write a news article based on these highlights:\n{answer}",
             "{text}", inverted=True),
    Template("Highlights: {answer}\n\nWhat might the full news story behind "
             "these highlights look like?", "{text}", inverted=True),
]

# --- gigaword: the first sentence of a news story -> a headline ---------------

_GIGAWORD_TEMPLATES = [
    Template("Write a headline for this sentence from a news story:\n\n{text}",
             "{answer}"),
    Template("{text}\n\nGive this news the short title a newspaper would "
             "print above it.", "{answer}"),
    Template("Sentence: {text}\nHeadline:", "{answer}"),
    Template("Shorten the following news sentence into a brief headline.\n"
             "{text}", "{answer}"),
    Template("What is a good headline for this?\n\n{text}", "{answer}"),
    Template("{text}\nIn very few words, what is this about?", "{answer}"),
    Template("Here is the opening of a news report: \"{text}\" Summarise it "
             "as a headline.", "{answer}"),
    Template("Condense this into a title of at most a dozen words: {text}",
             "{answer}"),
    Template("Write the first sentence of a news story with the headline "
             "\"{answer}\".", "{text}", inverted=True),
    Template("Headline: {answer}\nWhat could the news story's first sentence "
             "be?", "{text}", inverted=True),
]

# --- multi_news: several articles on one event -> one summary --------------------


@seqio.map_over_dataset
def _prepare_multi_news(ex):
  """Puts blank lines where the raw data separates its source articles."""
  text = tf.strings.regex_replace(ex["document"], r"\s*\|\|\|\|\|\s*", "\n\n")
  return {"text": tf.strings.strip(text), "answer": ex["summary"]}


_MULTI_NEWS_TEMPLATES = [
    Template("Several news articles cover the same event. Write one summary "
             "of them.\n\n{text}", "{answer}"),
    Template("{text}\n\nCombine the reports above into a single short "
             "summary.", "{answer}"),
    Template("Articles:\n{text}\n\nSummary:", "{answer}"),
    Template("Read these news stories and explain in one paragraph what they "
             "report.\n{text}", "{answer}"),
    Template("{text}\nWhat do these articles tell us, in brief?", "{answer}"),
    Template("Summarise the following collection of news articles:\n{text}",
             "{answer}"),
    Template("Write an overview that a reader could use instead of reading "
             "all of these articles.\n\n{text}", "{answer}"),
    Template("Here are a few sources on one story.\n{text}\nGive a concise "
             "account of the story.", "{answer}"),
    Template("Write some news articles that this summary could have been "
             "drawn from:\n{answer}", "{text}", inverted=True),
    Template("Summary: {answer}\n\nWrite the news coverage behind this "
             "summary.", "{text}", inverted=True),
]

# --- newsroom: a news article (with its title) -> a summary --------------------

_NEWSROOM_TEMPLATES = [
    Template("{title}\n\n{text}\n\nWrite a short summary of this article.",
             "{answer}"),
    Template("Article title: {title}\nArticle: {text}\n\nSummary:",
             "{answer}"),
    Template("Summarise the following news article in a sentence or two.\n\n"
             "{text}", "{answer}"),
    Template("Here is an article called \"{title}\".\n{text}\nWhat is its "
             "gist?", "{answer}"),
    Template("{text}\n\nWhat is the main point of this story?", "{answer}"),
    Template("Read the article and write the kind of blurb a news site shows "
             "under the title.\n\nTitle: {title}\n{text}", "{answer}"),
    Template("Give a brief description of the article below.\n{text}",
             "{answer}"),
    Template("In a couple of sentences, say what this is about:\n\n{title}\n"
             "{text}", "{answer}"),
    Template("Write a news article titled \"{title}\" that matches this "
             "summary: {answer}", "{text}", inverted=True),
    Template("Summary: {answer}\nSuggest a title for an article with this "
             "summary.", "{title}", inverted=True),
]

# --- samsum: a chat between friends -> a summary ------------------------------

_SAMSUM_TEMPLATES = [
    Template("Summarise this conversation:\n\n{text}", "{answer}"),
    Template("{text}\n\nWhat was this chat about? Answer briefly.",
             "{answer}"),
    Template("Dialogue:\n{text}\n\nSummary:", "{answer}"),
    Template("Here is a conversation between some people.\n{text}\nWrite "
             "down what they talked about in one or two sentences.",
             "{answer}"),
    Template("Read the messages below and sum them up for someone who missed "
             "them.\n\n{text}", "{answer}"),
    Template("{text}\nGive a short third-person summary of the exchange "
             "above.", "{answer}"),
    Template("Briefly, what happens in this dialogue?\n{text}", "{answer}"),
    Template("Messages:\n{text}\n\nWhat is the outcome of this chat?",
             "{answer}"),
    Template("Write a dialogue that fits this summary: {answer}", "{text}",
             inverted=True),
    Template("Summary of a chat: {answer}\n\nMake up the chat itself.",
             "{text}", inverted=True),
]

# --- xsum: a BBC article -> a one-sentence summary -----------------------------

_XSUM_TEMPLATES = [
    Template("Summarise this article in one sentence.\n\n{text}", "{answer}"),
    Template("{text}\n\nWhat is the article above about? Answer in a single "
             "sentence.", "{answer}"),
    Template("Article: {text}\n\nOne-sentence summary:", "{answer}"),
    Template("Read the story below and write the single sentence that best "
             "captures it.\n{text}", "{answer}"),
    Template("{text}\nIf you had to tell a friend about this news in one "
             "sentence, what would you say?", "{answer}"),
    Template("Give a one-line summary of the following report.\n{text}",
             "{answer}"),
    Template("Here is a news article:\n\n{text}\n\nWhat does it say, in "
             "short?", "{answer}"),
    Template("Write an extreme summary (one sentence) of this text: {text}",
             "{answer}"),
    Template("Write a news article that could be summed up as: {answer}",
             "{text}", inverted=True),
    Template("This is a one-sentence summary of a story: \"{answer}\"\nWrite "
             "the story.", "{text}", inverted=True),
]

# --- ag_news_subset: a news title and description -> its topic ----------------

_AG_NEWS_TOPICS = ("World", "Sports", "Business", "Science/Tech")


@seqio.map_over_dataset
def _prepare_ag_news(ex):
  """Maps the class index to a topic name (TFDS order: World, Sports,
  Business, Sci/Tech) and keeps the title and description apart."""
  topic = tf.gather(tf.constant(_AG_NEWS_TOPICS), ex["label"])
  return {"title": ex["title"], "text": ex["description"], "answer": topic}


_AG_NEWS_TEMPLATES = [
    Template("{title}\n\n{text}\n\nWhich topic is this article about?\n"
             "{options_}", "{answer}"),
    Template("Headline: {title}\nText: {text}\nWhat section of a newspaper "
             "does this belong in?\n{options_}", "{answer}"),
    Template("Classify the topic of this news story.\n\n{title}. {text}\n"
             "{options_}", "{answer}"),
    Template("{text}\n\nIs this piece of news about world events, sports, "
             "business or science and technology?\n{options_}", "{answer}"),
    Template("Read the news item and choose its category.\n{title}\n{text}\n"
             "{options_}", "{answer}"),
    Template("\"{title}\" - {text}\nWhat is the subject area of this "
             "article?\n{options_}", "{answer}"),
    Template("{options_}\n\nPick the topic that fits best:\n{title}: {text}",
             "{answer}"),
    Template("What kind of news is this?\n\n{text}\n{options_}", "{answer}"),
    Template("Write a short news item about {answer}.", "{title}\n\n{text}",
             inverted=True),
    Template("Write a title for an article about {answer}.", "{title}",
             inverted=True),
]

# --- opinion_abstracts: many opinions -> one consensus statement -------------


@seqio.map_over_dataset
def _prepare_rotten_tomatoes(ex):
  """Lists the critics' snippets one per line; the consensus is the answer.

  ``numbered_reviews`` ("1. ...") and ``first_review`` serve the FLAN
  release's templates (TEMPLATE_SET = 'paper').
  """
  reviews = ex["_critics"]["value"]
  critics = tf.strings.reduce_join(tf.strings.join(["- ", reviews]),
                                   separator="\n")
  numbers = tf.strings.as_string(tf.range(1, tf.size(reviews) + 1))
  numbered = tf.strings.reduce_join(tf.strings.join([numbers, ". ", reviews]),
                                    separator="\n")
  first = tf.concat([reviews, [""]], axis=0)[0]
  return {"text": critics, "movie": ex["_movie_name"],
          "answer": ex["_critic_consensus"], "numbered_reviews": numbered,
          "first_review": first}


_ROTTEN_TOMATOES_TEMPLATES = [
    Template("Here is what critics said about the movie {movie}:\n{text}\n\n"
             "Sum up the critics' consensus in one sentence.", "{answer}"),
    Template("Movie: {movie}\nReviews:\n{text}\n\nCritics' consensus:",
             "{answer}"),
    Template("{text}\n\nThese are snippets from reviews of {movie}. What is "
             "the overall verdict?", "{answer}"),
    Template("Read these film reviews and write a one-line summary of what "
             "the critics think.\n\n{text}", "{answer}"),
    Template("Combine the opinions below into a single statement about "
             "{movie}.\n{text}", "{answer}"),
    Template("What do reviewers generally think of {movie}, judging by "
             "these excerpts?\n\n{text}", "{answer}"),
    Template("Reviews of a film:\n{text}\nWrite the sort of consensus blurb "
             "a review site puts at the top of a film's page.", "{answer}"),
    Template("Summarise the critical reception described here:\n{text}",
             "{answer}"),
    Template("The critics' consensus on {movie} was: \"{answer}\" Write a few "
             "review snippets that would lead to it.", "{text}",
             inverted=True),
    Template("Critics agreed on this about {movie}: {answer}\nWrite the "
             "review excerpts that such a consensus would summarise.",
             "{text}", inverted=True),
]


@seqio.map_over_dataset
def _prepare_idebate(ex):
  """Joins the argument's sentences into one paragraph; the claim is the
  answer (what the argument argues for)."""
  argument = tf.strings.reduce_join(ex["_argument_sentences"]["value"],
                                    separator=" ")
  return {"text": argument, "debate": ex["_debate_name"],
          "answer": ex["_claim"]}


_IDEBATE_TEMPLATES = [
    Template("Debate: {debate}\nArgument: {text}\n\nWhat claim is this "
             "argument making? State it in one sentence.", "{answer}"),
    Template("{text}\n\nSummarise the point of this argument as a short "
             "claim.", "{answer}"),
    Template("Here is an argument from a debate on \"{debate}\".\n{text}\n"
             "What is its main claim?", "{answer}"),
    Template("Read the argument below and write the claim it supports.\n\n"
             "{text}", "{answer}"),
    Template("Argument: {text}\nClaim:", "{answer}"),
    Template("In the debate \"{debate}\", someone wrote:\n{text}\nCondense "
             "their position into a headline-like statement.", "{answer}"),
    Template("What is the speaker arguing for?\n{text}", "{answer}"),
    Template("{text}\nGive the thesis of the passage above in a few words.",
             "{answer}"),
    Template("Write an argument for the debate \"{debate}\" that supports "
             "the claim: {answer}", "{text}", inverted=True),
    Template("Claim: {answer}\n\nBack this claim up with a short argument.",
             "{text}", inverted=True),
]

# --- wiki_lingua_english_en: a how-to article -> its summary --------------------

_WIKI_LINGUA_TEMPLATES = [
    Template("Summarise the following how-to article.\n\n{text}", "{answer}"),
    Template("{text}\n\nWhat are the main steps described above? Answer in "
             "a few sentences.", "{answer}"),
    Template("Instructions: {text}\n\nSummary:", "{answer}"),
    Template("Read this guide and write a short summary of it.\n{text}",
             "{answer}"),
    Template("Here is an article that explains how to do something:\n{text}"
             "\nBoil it down to the essentials.", "{answer}"),
    Template("{text}\nGive the gist of these instructions.", "{answer}"),
    Template("Briefly, what does this article tell the reader to do?\n\n"
             "{text}", "{answer}"),
    Template("Write a condensed version of this how-to text: {text}",
             "{answer}"),
    Template("Write a detailed how-to article from this summary:\n{answer}",
             "{text}", inverted=True),
    Template("Summary of a guide: {answer}\n\nExpand it into the full "
             "step-by-step guide.", "{text}", inverted=True),
]


@seqio.map_over_dataset
def _prepare_wiki_lingua(ex):
  return {"text": ex["source"], "answer": ex["target"]}


# Opinion abstracts ship a single train split: hold out its tail.
_TRAIN_ONLY_SPLITS = common.splits(train="train[:-400]",
                                   validation="train[-400:-200]",
                                   test="train[-200:]")

# AG News has train and test only: validation comes from the end of train.
_AG_NEWS_SPLITS = common.splits(train="train[:-200]",
                                validation="train[-200:]", test="test")

common.register_flan_dataset(
    name="aeslc", cluster=CLUSTER, tfds_name="aeslc",
    splits=common.SPLITS_STANDARD,
    prepare=[_text_and_summary("email_body", "subject_line")],
    templates=_AESLC_TEMPLATES, metric_fns=_ROUGE)

common.register_flan_dataset(
    name="cnn_dailymail", cluster=CLUSTER, tfds_name="cnn_dailymail",
    splits=common.SPLITS_STANDARD,
    prepare=[_text_and_summary("article", "highlights")],
    templates=_CNN_TEMPLATES, metric_fns=_ROUGE)

common.register_flan_dataset(
    name="gigaword", cluster=CLUSTER, tfds_name="gigaword",
    splits=common.SPLITS_STANDARD,
    prepare=[_text_and_summary("document", "summary")],
    templates=_GIGAWORD_TEMPLATES, metric_fns=_ROUGE)

common.register_flan_dataset(
    name="multi_news", cluster=CLUSTER, tfds_name="multi_news",
    splits=common.SPLITS_STANDARD, prepare=[_prepare_multi_news],
    templates=_MULTI_NEWS_TEMPLATES, metric_fns=_ROUGE)

common.register_flan_dataset(
    name="newsroom", cluster=CLUSTER, tfds_name="newsroom",
    splits=common.SPLITS_STANDARD,
    prepare=[_text_and_summary("text", "summary", title="title")],
    templates=_NEWSROOM_TEMPLATES, metric_fns=_ROUGE)

common.register_flan_dataset(
    name="samsum", cluster=CLUSTER, tfds_name="samsum",
    splits=common.SPLITS_STANDARD,
    prepare=[_text_and_summary("dialogue", "summary")],
    templates=_SAMSUM_TEMPLATES, metric_fns=_ROUGE)

# FLAN read XSum through huggingface:xsum; the installed TFDS `xsum` builder
# holds the same BBC articles and one-sentence summaries. TFDS's newsroom,
# samsum and xsum need a manual download before `tfds build --manual_dir`.
common.register_flan_dataset(
    name="xsum", cluster=CLUSTER, tfds_name="xsum",
    splits=common.SPLITS_STANDARD,
    prepare=[_text_and_summary("document", "summary")],
    templates=_XSUM_TEMPLATES, metric_fns=_ROUGE)

common.register_flan_dataset(
    name="ag_news_subset", cluster=CLUSTER, tfds_name="ag_news_subset",
    splits=_AG_NEWS_SPLITS, prepare=[_prepare_ag_news],
    templates=_AG_NEWS_TEMPLATES, options=_AG_NEWS_TOPICS,
    metric_fns=[metrics.exact_match_accuracy])

common.register_flan_dataset(
    name="opinion_abstracts_rotten_tomatoes", cluster=CLUSTER,
    tfds_name="opinion_abstracts/rotten_tomatoes",
    splits=_TRAIN_ONLY_SPLITS, prepare=[_prepare_rotten_tomatoes],
    templates=_ROTTEN_TOMATOES_TEMPLATES, metric_fns=_ROUGE)

common.register_flan_dataset(
    name="opinion_abstracts_idebate", cluster=CLUSTER,
    tfds_name="opinion_abstracts/idebate",
    splits=_TRAIN_ONLY_SPLITS, prepare=[_prepare_idebate],
    templates=_IDEBATE_TEMPLATES, metric_fns=_ROUGE)

common.register_flan_dataset(
    name="wiki_lingua_english_en", cluster=CLUSTER,
    tfds_name="gem/wiki_lingua_english_en",
    splits=common.SPLITS_STANDARD, prepare=[_prepare_wiki_lingua],
    templates=_WIKI_LINGUA_TEMPLATES, metric_fns=_ROUGE)
