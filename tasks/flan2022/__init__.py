"""The Flan 2022 Collection (Longpre et al., 2023): template types, CoT, submixes.

Importing this package registers, in the "flan2022" collection:

- `flan2021_submix`: every FLAN 2021 dataset of `tasks.flan2021` in the four
  template types (zsopt, zsnoopt, fsopt, fsnoopt), ``flan2022:flan2021_submix``
  (25% each) and eval mixtures per type;
- `cot`: the release's chain-of-thought files as tasks and
  ``flan2022:cot_submix``, once a CoT directory is configured
  (COT_DATA_DIR or FLAN_CHECKOUT);
- `prerendered`: the published pre-rendered submixes and the final
  ``flan2022:prerendered:flan2022_submix``, once FLAN2022_DIR is configured.

Configured data is registered when the scripts apply the gin macros
(`flan_jax.data.task_settings`); facts and sources are in docs/flan2022.md.
"""

from tasks.flan2022 import flan2021_submix  # noqa: F401
from tasks.flan2022 import cot  # noqa: F401
from tasks.flan2022 import prerendered  # noqa: F401
