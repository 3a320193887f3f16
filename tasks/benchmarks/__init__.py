"""Held-out benchmarks FLAN-T5 reports, read from the user's local copies.

    mmlu.py   MMLU: 57 subjects in 4 categories (FLAN_JAX_MMLU_DIR)
    bbh.py    BIG-Bench Hard: 27 tasks, direct and chain of thought
              (FLAN_JAX_BBH_DIR)

Importing this package registers both; the data is read only when a task's
examples are, so registering needs no files.
"""

from tasks.benchmarks import bbh  # noqa: F401
from tasks.benchmarks import mmlu  # noqa: F401
