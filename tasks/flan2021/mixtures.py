"""The FLAN 2021 mixtures: leave-one-cluster-out and the paper's ablations.

The ablation mixtures are `flan_jax.data.ablations`' for `ABLATION_PLAN`.

Imported by `tasks.flan2021` after every cluster module. Training mixtures mix
examples-proportionally with FLAN's cap (each task's rate = min(#train
examples, 3000)); eval mixtures hold every eval task (one per template; rank
classification where the dataset has options), uncapped.

Names (``<c>`` is a fine cluster, `common.CLUSTER_NAMES`)::

  flan2021:train:all                         every trainable dataset
  flan2021:eval:all                          every dataset's eval tasks
  flan2021:train:no_<c>                      leave-one-cluster-out training
  flan2021:eval:<c>                          that cluster's eval tasks
  flan2021:ablation:held_out:eval            eval tasks of NLI, closed-book
                                             QA and commonsense
  flan2021:ablation:num_clusters:<k>:train   k = 1..7 training clusters,
                                             added in the paper's order
  flan2021:ablation:templates:<n>:train      n = 1, 2, 4, 7, 10 templates
                                             per dataset
  flan2021:ablation:instructions:<mode>:no_<c>
      mode = full | dataset_name | no_template, for c in
      INSTRUCTION_HELD_OUT: what training inputs look like
  flan2021:ablation:instructions:dataset_name:eval:<c>
      eval tasks of c phrased as "[dataset name]" + inputs

Exclusion rules (FLAN): holding out NLI also removes paraphrase and vice
versa; holding out reading comprehension or commonsense removes the
reading-comprehension-with-commonsense cluster and vice versa; a held-out
dataset is never trained on. The templates and number-of-clusters ablations
hold out NLI, closed-book QA (open_domain_qa) and commonsense together.
"""

from __future__ import annotations

from flan_jax.data import ablations
from flan_jax.data import mixtures
from tasks.flan2021 import common

C = common.COLLECTION
MAX_EXAMPLES = 3000

EXCLUSIONS = {
    "nli": ("paraphrase",),
    "paraphrase": ("nli",),
    "reading_comprehension": ("read_comp_and_common_sense",),
    "common_sense": ("read_comp_and_common_sense",),
    "read_comp_and_common_sense": ("reading_comprehension", "common_sense"),
}

# Number-of-clusters and templates-per-dataset ablations (FLAN_FACTS).
ABLATION_HELD_OUT = ("nli", "open_domain_qa", "common_sense")
NUM_CLUSTERS_ORDER = ("summarization", "translation", "reading_comprehension",
                      "sentiment", "structure_to_text", "coreference",
                      "conversational_qa")
TEMPLATE_COUNTS = (1, 2, 4, 7, 10)
# The role-of-instructions ablation averages four held-out clusters.
# FLAN_FACTS does not name them; these are the three above plus translation.
INSTRUCTION_HELD_OUT = ("nli", "open_domain_qa", "common_sense", "translation")
INSTRUCTION_MODES = ablations.INSTRUCTION_MODES
ABLATION_PLAN = ablations.AblationPlan(
    held_out=ABLATION_HELD_OUT, cluster_order=NUM_CLUSTERS_ORDER,
    template_counts=TEMPLATE_COUNTS,
    instruction_held_out=INSTRUCTION_HELD_OUT)

# mixture name -> one-line description (for the catalogue), filled below.
MIXTURES: dict[str, str] = {}


def _present_exclusions(clusters) -> dict[str, tuple[str, ...]]:
  """The exclusion rules among clusters that are registered."""
  return {c: tuple(x for x in ex if x in clusters)
          for c, ex in EXCLUSIONS.items() if c in clusters}


def register_all(overwrite: bool = False) -> dict[str, str]:
  """Registers every FLAN 2021 mixture for the clusters present.

  `overwrite` re-registers them (after the datasets were registered again
  with other templates, see `tasks.flan2021.paper`).
  """
  clusters = common.clusters()
  exclusions = _present_exclusions(clusters)
  eval_only = [d.name for d in common.registered_datasets() if d.eval_only]
  names = mixtures.register_cluster_mixtures(
      C, clusters, exclusions=exclusions, max_examples=MAX_EXAMPLES,
      eval_only=eval_only, overwrite=overwrite)
  for name in names:
    what = name.split(":", 1)[1]
    MIXTURES[name] = {
        "train:all": "every trainable FLAN 2021 dataset (examples-"
                     "proportional, 3k cap)",
        "eval:all": "every FLAN 2021 dataset's eval tasks",
    }.get(what, f"leave-one-cluster-out training without "
                f"{what.removeprefix('train:no_')} (and its exclusions)"
          if what.startswith("train:no_") else
          f"eval tasks of cluster {what.removeprefix('eval:')}")
  MIXTURES.update(ablations.register_ablation_mixtures(
      C, clusters, ABLATION_PLAN, exclusions=exclusions, eval_only=eval_only,
      max_examples=MAX_EXAMPLES, overwrite=overwrite))
  return dict(MIXTURES)


register_all()
