"""The built-in demo suite: 18 generated datasets in 6 clusters, no download.

Importing this package registers, in the "demo" collection, every dataset's
tasks (`demo:<dataset>:train`, `demo:<dataset>:t<i>:gen|score`) and the
cluster mixtures (`demo:train:all`, `demo:train:no_<cluster>`,
`demo:eval:<cluster>`, `demo:eval:all`), the ablation mixtures of
`suite.ABLATION_PLAN` (`demo:ablation:...`, `flan_jax.data.ablations`).
Clusters and datasets:

    sentiment    movie_review, product_review, tweet_mood
    nli          nli_traits, nli_places, nli_possessions
    arithmetic   addition, subtraction, number_comparison
    string_ops   reverse_words, sort_words, remove_word
    reading      qa_home, qa_colour, qa_job
    translation  english_to_lumo, lumo_to_english, number_words

and `demo:world`, the pretraining task over the demo world's corpus
(`tasks.demo.world`), from which the demo's shipped base model was
pretrained (`scripts/pretrain_demo.py`).
"""

from flan_jax.data import ablations
from flan_jax.data import mixtures
from flan_jax.data import pretraining
from flan_jax.data import registry
from flan_jax.data import vocab
from tasks.demo import suite
from tasks.demo import world

try:  # registration tokenizes with it; say how to make it when it is missing
  vocab.default_vocabulary()
except FileNotFoundError as e:
  raise FileNotFoundError(
      f"{e}: build the demo vocabulary with `python scripts/train_vocab.py`"
      f", or set {vocab.SPM_PATH_ENV} to a SentencePiece model") from None

for _spec in suite.all_specs():
  registry.register_dataset(_spec)

mixtures.register_cluster_mixtures(suite.COLLECTION, suite.CLUSTERS,
                                   exclusions=suite.EXCLUSIONS)
ablations.register_ablation_mixtures(suite.COLLECTION, suite.CLUSTERS,
                                     suite.ABLATION_PLAN,
                                     exclusions=suite.EXCLUSIONS)

pretraining.register_pretraining_task(world.TASK_NAME, world.source(),
                                      objective=world.OBJECTIVE)
