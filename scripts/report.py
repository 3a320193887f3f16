r"""Markdown tables and PNG figures from one or more results.json files.

    # base vs tuned, per cluster (held-out clusters marked):
    python scripts/report.py --results=/tmp/run/eval/step_0,/tmp/run/eval/step_1400 \
        --labels=base,tuned --output_dir=/tmp/run/report

    # a series of runs, each tuned on more clusters:
    python scripts/report.py --results=r1,r2,r3 --labels=1,2,3 \
        --num_clusters=1,2,3 --output_dir=/tmp/series_report

Each --results entry is a results.json file or the directory holding one.
Writes report.md (tables, figures embedded), clusters.png, templates.png and,
with --num_clusters, held_out_vs_clusters.png.
"""

from flan_jax.cli import startup  # sets up TF logging before TensorFlow loads

import json
import os
import sys

from absl import app
from absl import flags

from flan_jax import storage
from flan_jax.evaluation import reports

_RESULTS = flags.DEFINE_list("results", None, "results.json files or dirs.",
                             required=True)
_LABELS = flags.DEFINE_list("labels", None, "A short name per results entry "
                            "(default: the parent directory names).")
_NUM_CLUSTERS = flags.DEFINE_list(
    "num_clusters", None, "For a series: number of training clusters of each "
    "run (adds the held-out-vs-clusters curve).")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Where to write.",
                                  required=True)


def _load(path: str):
  if storage.isdir(path):
    path = os.path.join(path, "results.json")
  if not storage.exists(path):
    raise reports.ReportError(
        f"--results: {path} does not exist: pass results.json files or the "
        "eval output directories holding them")
  try:
    return json.loads(storage.read_text(path))
  except ValueError as e:
    raise reports.ReportError(
        f"--results: {path} is not a results.json ({e}): pass the files an "
        "eval job wrote") from None


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  runs = [_load(p) for p in _RESULTS.value]
  labels = _LABELS.value or [
      os.path.basename(os.path.normpath(p)) for p in _RESULTS.value]
  try:
    num_clusters = ([int(n) for n in _NUM_CLUSTERS.value]
                    if _NUM_CLUSTERS.value else None)
  except ValueError:
    raise app.UsageError(f"--num_clusters={','.join(_NUM_CLUSTERS.value)}: "
                         "give whole numbers, e.g. 1,2,3") from None
  files = reports.write_report(runs, labels, _OUTPUT_DIR.value,
                               num_clusters=num_clusters)
  for name, path in files.items():
    print(f"{name}: {path}")
  sys.stdout.write(storage.read_text(files["markdown"]))


if __name__ == "__main__":
  startup.run_script(main)
