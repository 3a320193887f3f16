"""The FLAN 2021 collection: its datasets as seqio tasks, and its mixtures.

Importing this package registers, in the "flan2021" collection, every
dataset's tasks (``flan2021:<dataset>:train``, ``flan2021:<dataset>:t<i>:gen``,
``flan2021:<dataset>:t<i>:score``), one module per fine cluster (see
`common.CLUSTER_NAMES`), then the mixtures of `tasks.flan2021.mixtures`.
Importing one cluster module registers that cluster only.

Data comes from TFDS and is never downloaded implicitly: prepare a dataset with
``tfds build <name>`` (the error for a missing one names the command), or use
``tfds.testing.mock_data`` in tests.
"""

import importlib
import importlib.util

from tasks.flan2021 import common

# Cluster modules are written in parallel; import those present, so a partial
# checkout still registers what it has (`common.missing_clusters()` says what
# is absent).
for _cluster in common.CLUSTER_NAMES:
  _module = f"tasks.flan2021.{_cluster}"
  if importlib.util.find_spec(_module) is not None:
    importlib.import_module(_module)

if importlib.util.find_spec("tasks.flan2021.mixtures") is not None:
  importlib.import_module("tasks.flan2021.mixtures")
