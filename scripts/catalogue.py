r"""Print (or write) the catalogue of the FLAN 2021 collection.

    python scripts/catalogue.py
    python scripts/catalogue.py --output=docs/flan2021_catalogue.md
    python scripts/catalogue.py --template_set=paper --flan_checkout=/src/FLAN

Lists every dataset with its cluster, template count, metric, task names and
an example rendered from TFDS mock data, then every mixture. Needs no
download. With --template_set=paper it reports instead what the FLAN
checkout's own templates give each dataset (Flan 2021 and the four Flan 2022
types): templates loaded and used, whether they render on mock data, and
why any dataset or template cannot be served.
"""

from flan_jax.cli import startup  # sets up TF logging before TensorFlow loads

import os
import sys

from absl import app
from absl import flags

from flan_jax import errors

_OUTPUT = flags.DEFINE_string(
    "output", None, "Write the markdown here instead of printing it.")
_TEMPLATE_SET = flags.DEFINE_enum(
    "template_set", "ours", ["ours", "paper"],
    "'paper': report the FLAN checkout's templates per dataset.")
_FLAN_CHECKOUT = flags.DEFINE_string(
    "flan_checkout", None, "A clone of github.com/google-research/FLAN "
    "(for --template_set=paper).")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if _OUTPUT.value:
    errors.require_writable_file(_OUTPUT.value, "--output")
  startup.setup_logging()
  startup.import_modules()
  import tasks.flan2021  # pylint: disable=g-import-not-at-top,unused-import
  if _TEMPLATE_SET.value == "paper":
    # pylint: disable=g-import-not-at-top
    from flan_jax.data import upstream_templates
    from tasks.flan2022 import coverage
    # pylint: enable=g-import-not-at-top
    try:
      text = coverage.markdown(_FLAN_CHECKOUT.value)
    except upstream_templates.UpstreamTemplatesError as e:
      raise app.UsageError(str(e)) from e
  else:
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
