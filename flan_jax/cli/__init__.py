"""The edge: command-line start-up and gin configuration.

    startup.py     logging, --module imports, gin flag parsing, error reporting
    gin_config.py  the configurable names gin files use, gin flags, config.gin
    lm_eval_harness.py  lm-evaluation-harness's CLI on a flan_jax checkpoint

Importing this package quiets TensorFlow's C++ logging before TensorFlow
loads (it is used for data only), so scripts import it first.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
