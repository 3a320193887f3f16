r"""Print (or write) the catalogue of the FLAN 2021 collection.

    python scripts/catalogue.py
    python scripts/catalogue.py --output=docs/flan2021_catalogue.md

Lists every dataset with its cluster, template count, metric, task names and
an example rendered from TFDS mock data, then every mixture. Needs no
download.
"""

from flan_jax.cli import startup  # sets up TF logging before TensorFlow loads

import os
import sys

from absl import app
from absl import flags

from flan_jax import errors

_OUTPUT = flags.DEFINE_string(
    "output", None, "Write the markdown here instead of printing it.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if _OUTPUT.value:
    errors.require_writable_file(_OUTPUT.value, "--output")
  startup.setup_logging()
  startup.import_modules()
  import tasks.flan2021  # pylint: disable=g-import-not-at-top,unused-import
  from tasks.flan2021 import catalogue  # pylint: disable=g-import-not-at-top
  text = catalogue.markdown()
  if _OUTPUT.value:
    os.makedirs(os.path.dirname(_OUTPUT.value) or ".", exist_ok=True)
    with open(_OUTPUT.value, "w") as f:
      f.write(text)
  else:
    sys.stdout.write(text)


if __name__ == "__main__":
  startup.run_script(main)
