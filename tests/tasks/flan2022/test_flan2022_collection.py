"""TEMPLATE_SET = 'paper' over the whole collection, from a fixture checkout:
flan2021 tasks, the four Flan 2022 types and CoT, then back to ours."""

import pathlib
import sys

import pytest
import seqio

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] /
                       "flan2021"))

import flan_checkout_fixture as fixture  # noqa: E402
import mock_helpers  # noqa: E402
import tasks.flan2022.flan2021_submix  # noqa: E402,F401  (and flan2021)
from flan_jax.data import registry  # noqa: E402
from flan_jax.data import task_settings  # noqa: E402
from flan_jax.data import upstream_templates  # noqa: E402
from tasks.flan2021 import common as flan2021  # noqa: E402
from tasks.flan2021 import paper  # noqa: E402
from tasks.flan2022 import cot  # noqa: E402
from tasks.flan2022 import coverage  # noqa: E402

OURS_AESLC = paper.our_spec("aeslc").templates


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
  root = fixture.write_checkout(str(tmp_path_factory.mktemp("flan")))
  task_settings.configure(template_set="paper", flan_checkout=root)
  yield root
  task_settings.configure()  # other tests in this process expect ours


def _spec(key):
  return registry.get_dataset(key).spec


def test_every_mapped_dataset_uses_the_release_templates(checkout):
  rows = coverage.report(checkout, render=False)
  assert len(rows) == 70
  served = {r.name for r in rows if r.used}
  assert served == {d.name for d in flan2021.registered_datasets()} - {
      "multirc"}
  multirc, = [r for r in rows if r.name == "multirc"]
  assert "judge one candidate" in multirc.problems[0]
  assert multirc.types == dict.fromkeys(multirc.types, "ours")
  for row in rows:
    if row.used:
      mapping = paper.KEYS[row.name]
      assert row.used == row.loaded == len(fixture.KEY_FIELDS[mapping.key])
      assert set(row.types.values()) <= {f"{row.loaded}/{row.loaded}", "-"}
  # Our fields under the release's names, options_str as our options.
  aeslc = _spec("flan2021:aeslc").templates
  assert [(t.inputs, t.targets, t.inverted) for t in aeslc] == [
      ("Old prompt 0: {text}", "{answer}", False),
      ("Old prompt 1: {answer}", "{text}", True)]
  assert registry.get_dataset("flan2021:aeslc").generation_tasks == (
      "flan2021:aeslc:t0:gen",)
  assert _spec("flan2021:record").templates[0].inputs == (
      "Old prompt 0: {passage} | {query}\n{options_}")
  assert _spec("flan2021:stsb").templates[0].targets == "{answer}"
  translation = _spec("flan2021:wmt16_translate_deen").templates
  assert [t.inverted for t in translation] == [False, False, True]
  assert translation[1].inputs == "Old prompt 1: {lang1} | {foreign}"
  # Per-direction groups follow the release's templates by their targets.
  groups = _spec("flan2021:wmt16_translate_deen").template_groups
  assert groups
  for group, target in (("from_english", "{foreign}"),
                        ("to_english", "{english}")):
    assert all(translation[i].targets == target and
               not translation[i].inverted for i in groups.get(group, ()))
  assert [t.inverted for t in _spec("flan2021:rte").templates] == [
      False, False, True]
  assert multirc_keeps_ours()
  summary = coverage.markdown(checkout, render=False)
  assert "**69 of 70 datasets** use the release's Flan 2021 templates" in \
      summary
  assert "- multirc: our MultiRC groups" in summary


def multirc_keeps_ours():
  return _spec("flan2021:multirc").templates == paper.our_spec(
      "multirc").templates


def test_flan2022_types_and_cot_use_the_v2_file(checkout):
  zsopt = _spec("flan2022:rte:zsopt").templates[0]
  assert zsopt.inputs == "New prompt 0: {premise} | {hypothesis}\n{options_}"
  noopt = _spec("flan2022:rte:zsnoopt")  # from the merged module, edited
  assert noopt.templates[0].inputs == "Branch prompt 0: {premise} | " \
      "{hypothesis}"
  assert noopt.rank_classification
  fsopt = _spec("flan2022:rte:fsopt")
  assert fsopt.few_shot.formats[0] == upstream_templates.FewShotFormat(
      "Q: ", "A: ", "\n", "\n\n\n")
  assert "flan2022:rte:fsnoopt:t0:score" in seqio.TaskRegistry.names()
  assert sorted(cot.REGISTERED) == ["gsm8k", "strategyqa"]
  gsm8k = _spec("flan2022:cot_gsm8k:zsopt").templates
  assert [(t.inputs, t.inverted) for t in gsm8k] == [
      ("Cot prompt 0: {question}", False),
      ("Inv prompt 0: {answer} | {chain_of_thought}", True)]
  assert _spec("flan2022:cot_gsm8k:fsopt").templates[0].inputs == (
      "FewCot prompt 0: {question}")
  submix = seqio.get_mixture_or_task("flan2022:cot_submix")
  assert {t.name for t in submix.tasks} == {
      f"flan2022:cot_{n}:{t}:train" for n in ("gsm8k", "strategyqa")
      for t in ("zsopt", "fsopt")}


# Constants, the release's own phrasing, fields added to our preparation
# (renames alone are checked by registration, which refuses a missing field).
_SPECIAL = ("para_crawl_enes", "wsc273", "winogrande",
            "opinion_abstracts_rotten_tomatoes", "dart")


def test_release_templates_render_on_prepared_mock_examples(checkout):
  """Datasets whose fields are renamed, added or re-phrased for the release:
  every template (Flan 2021 and every type) renders on TFDS mock data."""
  registered = {e.key for e in registry.registered_datasets("flan2022")}
  for name in _SPECIAL:
    spec = _spec(f"flan2021:{name}")
    templates = list(spec.templates) + [
        t for kind in ("zsopt", "zsnoopt", "fsopt", "fsnoopt")
        if f"flan2022:{name}:{kind}" in registered
        for t in _spec(f"flan2022:{name}:{kind}").templates]
    # pylint: disable-next=protected-access
    rendered = coverage._render_check(spec, templates)
    assert rendered == f"yes ({len(templates)})", name


def test_wsc273_is_phrased_as_the_release_phrases_it(checkout):
  spec = _spec("flan2021:wsc273")
  with mock_helpers.mock_tfds(4, max_value=2):
    for ex in registry.prepared_dataset(spec, "test").take(2):
      text = ex["text"].numpy().decode()
      context = ex["context"].numpy().decode()
      options = [o.decode() for o in ex["options"].numpy()]
      assert text.startswith(context)
      suffix = text[int(ex["pronoun_end"]):].strip()
      assert all(o.endswith(suffix) for o in options)
      assert ex["answer"].numpy().decode() in options


def test_a_key_missing_from_the_file_keeps_ours_and_says_why(checkout):
  release = upstream_templates.read_flan2021(checkout)
  patterns = {k: v for k, v in release.patterns.items() if k != "trec"}
  served = paper.serve("trec", patterns, "flan/templates.py")
  assert not served.uses_paper
  assert served.reason == "flan/templates.py has no key 'trec'"


def test_ours_comes_back_under_the_same_names(tmp_path_factory):
  root = fixture.write_checkout(str(tmp_path_factory.mktemp("again")))
  task_settings.configure(template_set="paper", flan_checkout=root)
  assert _spec("flan2021:aeslc").templates != OURS_AESLC
  task_settings.configure()
  assert _spec("flan2021:aeslc").templates == OURS_AESLC
  assert _spec("flan2022:aeslc:zsopt").templates == OURS_AESLC
  # Mixtures were registered again: they hold the tasks registered now.
  now = seqio.get_mixture_or_task("flan2021:aeslc:train")
  assert any(t is now for t in seqio.get_mixture_or_task(
      "flan2021:train:all").tasks)
  mixture = seqio.get_mixture_or_task("flan2022:flan2021_submix")
  assert sorted(mixture.rate_per_task_name) == [
      f"flan2022:flan2021_submix:{t}"
      for t in ("fsnoopt", "fsopt", "zsnoopt", "zsopt")]
  assert set(mixture.rate_per_task_name.values()) == {1.0}
  zsopt = seqio.get_mixture_or_task("flan2022:flan2021_submix:zsopt")
  assert len(zsopt.tasks) == 69  # every trainable dataset (not wsc273)
  rate = zsopt.rate_per_task_name["flan2022:rte:zsopt:train"]
  assert rate.keywords == {"maximum": 30_000}


def test_the_readme_gin_lines_select_the_paper_templates(checkout):
  """runs/flan2022_t5.gin with TEMPLATE_SET/FLAN_CHECKOUT, as the scripts
  apply them after parsing gin; the README's mixture names exist."""
  import gin  # pylint: disable=g-import-not-at-top
  from flan_jax.cli import gin_config  # pylint: disable=g-import-not-at-top
  task_settings.configure()
  assert _spec("flan2021:aeslc").templates == OURS_AESLC
  gin.clear_config()
  try:
    gin_config.parse_gin(["runs/flan2022_t5.gin"], [
        "TEMPLATE_SET = 'paper'", f"FLAN_CHECKOUT = '{checkout}'"])
    assert gin_config.query("train.mixture_or_task_name") is not None
    gin_config.apply_task_data()
  finally:
    gin.clear_config()
  assert _spec("flan2021:aeslc").templates[0].inputs == "Old prompt 0: {text}"
  assert _spec("flan2022:aeslc:zsopt").templates[0].inputs == (
      "New prompt 0: {text}")
  names = set(seqio.MixtureRegistry.names())
  assert {"flan2022:flan2021_submix", "flan2022:flan2021_submix:zsnoopt",
          "flan2022:eval:fsnoopt:nli", "flan2022:eval:zsopt",
          "flan2022:cot_submix", "flan2022:eval:cot"} <= names
