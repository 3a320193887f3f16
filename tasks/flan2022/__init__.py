"""The Flan 2022 Collection (Longpre et al., 2023): types, CoT, submixes.

Importing this package registers, in the "flan2022" collection, what needs
only local files (`flan_jax.data.task_settings` applies them when a script
starts):

- `cot`: the release's chain-of-thought files as tasks and
  ``flan2022:cot_submix``, once a CoT directory is configured
  (COT_DATA_DIR, or FLAN_CHECKOUT's flan/v2/cot_data);
- `prerendered`: the published pre-rendered submixes and the final
  ``flan2022:prerendered:flan2022_submix``, once FLAN2022_DIR is set.

``import tasks.flan2022.flan2021_submix`` also registers every FLAN 2021
dataset (`tasks.flan2021`, TFDS) in the four template types and
``flan2022:flan2021_submix``; it is a module of its own because registering
the 70 TFDS datasets takes far longer than the rest. Facts and sources:
docs/flan2022.md.
"""

from tasks.flan2022 import cot  # noqa: F401
from tasks.flan2022 import prerendered  # noqa: F401
