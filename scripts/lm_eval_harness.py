r"""Run lm-evaluation-harness tasks on a flan_jax checkpoint.

    python scripts/lm_eval_harness.py \
        --gin_file=models/t5_demo.gin --checkpoint=/tmp/flan_jax_demo \
        --tasks=my_task --include_path=/path/to/yaml_tasks \
        --num_fewshot=0 --limit=100 --output_path=/tmp/harness_out

Our flags (--gin_file, --gin.X=Y, --gin_search_paths, --checkpoint, --step,
--vocabulary, --module) choose the model and checkpoint; every other flag
is lm-evaluation-harness's own (`lm-eval run --help`), which runs with
`--model flan_jax` (flan_jax.evaluation.lm_eval_backend). Needs
`pip install -e ".[benchmark]"`.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from flan_jax.cli import startup  # pylint: disable=g-import-not-at-top,unused-import  (quiets TF)
from flan_jax.cli import lm_eval_harness  # pylint: disable=g-import-not-at-top

if __name__ == "__main__":
  sys.exit(lm_eval_harness.main(sys.argv[1:]))
