"""The FLAN 2021 collection: its datasets as seqio tasks, and its mixtures.

Importing this package registers, in the "flan2021" collection, every
dataset's tasks (``flan2021:<dataset>:train``, ``flan2021:<dataset>:t<i>:gen``,
``flan2021:<dataset>:t<i>:score``), one module per fine cluster (see
`common.CLUSTER_NAMES`), then the mixtures of `tasks.flan2021.mixtures`.
Importing one cluster module registers that cluster only. With
``TEMPLATE_SET = 'paper'`` and ``FLAN_CHECKOUT = '<dir>'`` (gin macros) the
same names carry the FLAN release's own templates (`tasks.flan2021.paper`).

Data comes from TFDS and is never downloaded implicitly: prepare a dataset with
``tfds build <name>`` (the error for a missing one names the command), or use
``tfds.testing.mock_data`` in tests. `python scripts/catalogue.py` lists
everything registered here.
"""

import importlib

from tasks.flan2021 import common

# One module per cluster, named as the cluster, in FLAN_FACTS order.
for _cluster in common.CLUSTER_NAMES:
  importlib.import_module(f"tasks.flan2021.{_cluster}")

from tasks.flan2021 import mixtures  # noqa: E402,F401  (needs every cluster)
# TEMPLATE_SET = 'paper' re-registers everything with the FLAN release's
# templates (see tasks/flan2021/paper.py).
from tasks.flan2021 import paper  # noqa: E402,F401
