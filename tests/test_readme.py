"""The README's and the guides' instructions work as written."""

import os
import re
import subprocess

import pytest
import seqio

from flan_jax.data import templates

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _guide(name):
  with open(os.path.join(ROOT, "docs", "guides", f"{name}.md")) as f:
    return f.read()


def test_the_tasks_guide_registration_example_registers_what_it_says():
  code = re.search(r"```python\n# my_tasks.py\n(.*?)```", _guide("tasks"),
                   re.DOTALL).group(1)
  exec(compile(code, "README:my_tasks.py", "exec"), {})  # pylint: disable=exec-used
  names = set(seqio.TaskRegistry.names())
  assert {"mine:thing_colour:train", "mine:thing_colour:t0:gen",
          "mine:thing_colour:t1:score"} <= names
  assert "mine:thing_colour:t2:gen" not in names  # inverted: training only
  assert {"mine:train:all", "mine:eval:colours"} <= set(
      seqio.MixtureRegistry.names())
  rows = list(seqio.get_mixture_or_task("mine:thing_colour:t0:score")
              .get_dataset(None, split="test", shuffle=False)
              .as_numpy_iterator())
  assert len(rows) == 9  # 3 examples x 3 options
  assert rows[0]["inputs_pretokenized"].decode() == (
      "What colour is grass?\nOPTIONS:\n- blue\n- green\n- white")


def test_the_tasks_guide_error_example_is_the_real_message():
  shown = re.search(r"TemplateError: (dataset 'thing_colour'.*)",
                    _guide("tasks"))
  template = templates.Template("{options_}\nPick the colour of {colour}.",
                                "{answer}")
  with pytest.raises(templates.TemplateError) as error:
    templates.check_fields(template, {"answer", "options", "thing"},
                           dataset="thing_colour", index=1)
  assert str(error.value) == shown.group(1)


def test_ci_runs_the_readme_test_command(tmp_path):
  # .ci/run must execute the README's command line itself: feed it a README
  # whose test command we can observe.
  ci = os.path.join(ROOT, ".ci", "run")
  (tmp_path / ".ci").mkdir()
  (tmp_path / ".ci" / "run").write_text(open(ci).read())
  marker = tmp_path / "ran"
  (tmp_path / "README.md").write_text(
      f"x\n<!-- ci:test-command -->\n```bash\ntouch {marker} && exit 5\n```\n")
  result = subprocess.run(["bash", str(tmp_path / ".ci" / "run")],
                          capture_output=True, text=True, check=False)
  assert marker.exists()
  assert result.returncode == 1 and "no tests" in result.stderr
