"""Reading a FLAN checkout's templates without running them, and its errors."""

import os
import runpy

import pytest

import flan_checkout_fixture as fixture
from flan_jax.data import task_settings
from flan_jax.data import upstream_templates as upstream
from flan_jax.data.upstream_templates import FewShotFormat, Pattern


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
  return fixture.write_checkout(str(tmp_path_factory.mktemp("flan")))


def test_flan2021_file_gives_every_key_in_order_and_is_never_run(checkout):
  release = upstream.read_flan2021(checkout)
  assert list(release.patterns) == list(fixture.patterns("Old"))
  assert release.patterns["aeslc"] == (
      Pattern("Old prompt 0: {body}", "{subject}"),
      Pattern("Old prompt 1: {subject}", "{body}"))
  assert not release.no_options and not release.few_shot
  assert not os.path.exists(os.path.join(checkout, fixture.EXECUTED))
  # The marker is live: running the file (which the reader never does)
  # would have created it.
  runpy.run_path(os.path.join(checkout, upstream.FLAN2021_FILE))
  assert os.path.exists(os.path.join(checkout, fixture.EXECUTED))
  os.remove(os.path.join(checkout, fixture.EXECUTED))


def test_flan2022_file_rebuilds_what_it_builds_in_code(checkout):
  release = upstream.read_flan2022(checkout)
  # Aliases assigned after the dict literal.
  assert release.patterns["rte_alias"] == release.patterns["rte"]
  assert release.patterns["cot_input_inversion_gsm8k"] == (
      Pattern("Inv prompt 0: {answer} | {chain_of_thought}", "{question}"),)
  # The no-options copy: PATTERNS updated from the imported module, then
  # every .replace() of the loop applied to each input.
  assert release.no_options["rte"][0] == Pattern(
      "Branch prompt 0: {premise} | {hypothesis}", "{answer}")
  assert release.no_options["record"][0].inputs == (
      "Branch prompt 0: {passage} | {query}")
  assert release.no_options["cot_gsm8k"] == release.patterns["cot_gsm8k"]
  # FewShotPattern calls: the class's defaults, overridden per call.
  first, second = release.few_shot["rte"][:2]
  assert first == Pattern(
      "Few prompt 0: {premise} | {hypothesis}\n{options_}", "{answer}",
      FewShotFormat(input_prefix="Q: ", target_prefix="A: ", between="\n",
                    separator="\n\n\n"))
  assert second.format == FewShotFormat(between="\n\n", separator="\n\n\n",
                                        final_suffix=" ->")
  assert release.few_shot_no_options["rte"][0].inputs == (
      "Few prompt 0: {premise} | {hypothesis}")
  assert release.few_shot_no_options["rte"][0].format == first.format
  # Option lists, comprehensions included.
  assert release.option_headers == ("", "CHOOSE:", "Pick one:")
  assert release.option_markers == (("\n* ",) * 3,
                                    (" (i) ", " (ii) ", " (iii) "),
                                    ("\na) ", "\nb) ", "\nc) "))
  assert release.option_endings == (("",) * 3, (";",) * 3)


def test_a_missing_or_broken_checkout_stops_with_one_line(tmp_path, checkout):
  cases = {
      str(tmp_path / "nowhere"): "no such directory",
      str(tmp_path): "flan/templates.py not found",
  }
  for path, detail in cases.items():
    with pytest.raises(upstream.UpstreamTemplatesError) as error:
      upstream.read_flan2021(path)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"FLAN_CHECKOUT '{path}': {detail}; ")
    assert "git clone https://github.com/google-research/FLAN" in message
  broken = tmp_path / "broken.py"
  broken.write_text("PATTERNS = {\n  'rte': [(\n")
  with pytest.raises(upstream.UpstreamTemplatesError,
                     match=r"broken.py:\d+: not valid Python"):
    upstream.read_templates(str(broken))
  computed = tmp_path / "computed.py"
  computed.write_text("PATTERNS = {'rte': [(make_input(), '{answer}')]}\n")
  with pytest.raises(upstream.UpstreamTemplatesError,
                     match=r"computed.py:1: cannot read this expression "
                     r"without running the file: make_input\(\)"):
    upstream.read_templates(str(computed))


def test_task_settings_refuse_wrong_values_in_one_line(tmp_path, checkout):
  with pytest.raises(task_settings.TaskSettingsError,
                     match=r"TEMPLATE_SET = 'papr' is not a template set; did "
                     r"you mean 'paper'\?"):
    task_settings.configure(template_set="papr")
  with pytest.raises(task_settings.TaskSettingsError,
                     match="also set FLAN_CHECKOUT"):
    task_settings.configure(template_set="paper")
  with pytest.raises(upstream.UpstreamTemplatesError,
                     match="no such directory"):
    task_settings.configure(template_set="paper",
                            flan_checkout=str(tmp_path / "nowhere"))
  with pytest.raises(task_settings.TaskSettingsError,
                     match="COT_DATA_DIR = .* is not a directory"):
    task_settings.configure(cot_dir=str(tmp_path / "nowhere"))
  assert task_settings.configure() == task_settings.TaskSettings()
