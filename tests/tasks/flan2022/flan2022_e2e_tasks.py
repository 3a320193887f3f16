"""Task module of the Flan 2022 end-to-end test (--module=flan2022_e2e_tasks).

Registers `tasks.flan2022` (CoT files and pre-rendered submixes, applied
when the script reads its task settings) and the toy collection of
tests/toy_tasks.py in the four template types (collection "e2etoy", two
exemplars for the few-shot types), then two mixtures over one task of
every kind:

    e2e:train   toy polarity in zsopt, zsnoopt, fsopt and fsnoopt, the CoT
                tasks of gsm8k (zsopt, fsopt), the pre-rendered flan2021
                (Parquet) and t0 (JSON lines) submixes
    e2e:eval    an eval task of each

The types of the FLAN 2021 datasets themselves (`tasks.flan2022.
flan2021_submix`) are the same registration over TFDS sources; they are
checked in-process on TFDS mock data (test_flan2022_collection.py).
Run with this directory on PYTHONPATH, not tests/ (gin probes a gin file
name such as models/t5_demo.gin as a Python package, and tests/models
would be found).
"""

import importlib.util
import pathlib

import seqio

import tasks.flan2022  # noqa: F401  (CoT and pre-rendered hooks)
from flan_jax.data import few_shot
from flan_jax.data import mixtures
from flan_jax.data import registry
from flan_jax.data import task_settings
from flan_jax.data import template_types
from tasks.flan2022 import prerendered

_TOY = pathlib.Path(__file__).resolve().parents[2] / "toy_tasks.py"
_spec = importlib.util.spec_from_file_location("toy_tasks", _TOY)
toy_tasks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(toy_tasks)

C = "e2etoy"
TRAIN = "e2e:train"
EVAL = "e2e:eval"
TYPES = template_types.TEMPLATE_TYPES

for _entry in toy_tasks.REGISTERED:
  template_types.register_template_types(
      _entry.spec, collection=C, fields=registry.prepared_fields_of(_entry.key),
      few_shot=few_shot.FewShotConfig(k=2, pool_size=16))


def _one_task(mixture: str) -> tuple[str, str]:
  """(train task, its t0:gen task) of a pre-rendered submix."""
  name = sorted(t.name for t in seqio.get_mixture_or_task(mixture).tasks)[0]
  return name, name.replace(":train", ":t0:gen")


def _register(settings: task_settings.TaskSettings) -> None:
  if settings.prerendered is None:
    return
  flan2021 = _one_task(prerendered.mixture_name("flan2021_submix"))
  t0 = _one_task(prerendered.mixture_name("t0_submix"))
  mixtures.register_eval_task_mixture(TRAIN, [
      *[f"{C}:polarity:{t}:train" for t in TYPES],
      "flan2022:cot_gsm8k:zsopt:train", "flan2022:cot_gsm8k:fsopt:train",
      flan2021[0], t0[0]], overwrite=True)
  mixtures.register_eval_task_mixture(EVAL, [
      *[f"{C}:polarity:{t}:t0:score" for t in TYPES],
      "flan2022:cot_gsm8k:zsopt:t0:gen", "flan2022:cot_gsm8k:fsopt:t0:gen",
      flan2021[1], t0[1]], overwrite=True)


task_settings.on_configure(_register)
