"""A run whose every output lies in a bucket, in two processes (a test
kills the first): the phases of tests/test_storage.py's end-to-end test.

    python tests/gcs_workflow.py train  gs://runs   # cache, then train
    python tests/gcs_workflow.py resume gs://runs   # resume, eval, report,
                                                    # inference, export to
                                                    # HF and convert back

Prints one JSON line (the resumed run's summary, the eval's results and the
report's files). Run with the emulator's environment (tests/gcs_emulator.py).
"""

import json
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # pylint: disable=g-import-not-at-top
import jax  # pylint: disable=g-import-not-at-top
import seqio  # pylint: disable=g-import-not-at-top

import toy_training  # pylint: disable=g-import-not-at-top
from flan_jax.checkpoints import hf_conversion  # pylint: disable=g-import-not-at-top
from flan_jax.data import example_cache  # pylint: disable=g-import-not-at-top
from flan_jax.evaluation import inference  # pylint: disable=g-import-not-at-top
from flan_jax.evaluation import job  # pylint: disable=g-import-not-at-top
from flan_jax.evaluation import reports  # pylint: disable=g-import-not-at-top

STEPS = 6
MIXTURE = "toy:train:all"


def _train(bucket: str):
  return toy_training.run(f"{bucket}/run", STEPS, checkpoint_every_steps=2,
                          mixture=MIXTURE, cache_dir=f"{bucket}/cache",
                          use_cached_tasks=True,
                          config_text="# tests/gcs_workflow.py\n")


def main(phase: str, bucket: str) -> None:
  if phase == "train":
    for task in seqio.get_mixture_or_task(MIXTURE).tasks:
      assert example_cache.write(task, "train", f"{bucket}/cache")
    _train(bucket)
    return
  summary = toy_training.summary(_train(bucket))
  results = job.evaluate(model=toy_training.tiny_model(),
                         checkpoint=f"{bucket}/run",
                         mixture_or_task_name="toy:eval:mood",
                         output_dir=f"{bucket}/eval",
                         training_mixture="toy:train:no_copy", batch_size=16,
                         max_examples=4, write_examples=True)
  files = reports.write_report([results], ["run"], f"{bucket}/report")
  inference.infer(model=toy_training.tiny_model(), checkpoint=f"{bucket}/run",
                  task_name="toy:echo:t0:gen", mode="score", max_examples=2,
                  batch_size=8, output_path=f"{bucket}/infer/echo.jsonl")
  hf_conversion.export_checkpoint(toy_training.tiny_model(),
                                  f"{bucket}/run/checkpoints/6",
                                  f"{bucket}/hf")
  converted = hf_conversion.convert_to_checkpoint(f"{bucket}/hf",
                                                  f"{bucket}/converted")
  trained, back = (hf_conversion.restore_params(toy_training.tiny_model(), c)
                   for c in (f"{bucket}/run/checkpoints/6", converted))
  round_trip = max(float(np.max(np.abs(a - b))) for a, b in zip(
      jax.tree.leaves(trained), jax.tree.leaves(back)))
  print(json.dumps({"train": summary, "eval_step": results["step"],
                    "report": files, "converted": converted,
                    "hf_round_trip_max_diff": round_trip}), flush=True)


if __name__ == "__main__":
  log = logging.getLogger("flan_jax")
  log.addHandler(logging.StreamHandler(sys.stderr))
  log.setLevel(logging.INFO)
  log.propagate = False
  main(*sys.argv[1:])
