"""The documentation site builds with --strict, and the strictness bites.

mkdocs.yml's `validation` settings turn a broken link, a page left out of
the navigation and a missing anchor into warnings, and --strict turns
warnings into a failed build; mkdocstrings fails on an API reference to an
object that moved. The README's guide links and the newcomer's questions
are checked against the navigation.
"""

import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _build(root, site_dir):
  return subprocess.run(
      # not --quiet: it hides the warnings that --strict counts
      [sys.executable, "-m", "mkdocs", "build", "--strict",
       "--site-dir", str(site_dir)],
      cwd=root, capture_output=True, text=True, check=False,
      env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})


def _copy_site_sources(tmp_path):
  """mkdocs.yml, docs/ and the packages the API reference reads."""
  root = tmp_path / "repo"
  root.mkdir()
  shutil.copy(os.path.join(ROOT, "mkdocs.yml"), root)
  for name in ("docs", "flan_jax", "tasks"):
    shutil.copytree(os.path.join(ROOT, name), root / name,
                    ignore=shutil.ignore_patterns("__pycache__", "base"))
  return root


def _nav():
  with open(os.path.join(ROOT, "mkdocs.yml")) as f:
    config = yaml.load(f, Loader=yaml.BaseLoader)  # no !!python tags here
  pages = {}

  def walk(items, section=""):
    for item in items:
      for title, target in item.items():
        if isinstance(target, list):
          walk(target, title)
        else:
          pages[f"{section}/{title}".strip("/")] = target

  walk(config["nav"])
  return pages


@pytest.mark.slow
def test_site_builds_strict_and_a_broken_link_fails_it(tmp_path):
  root = _copy_site_sources(tmp_path)
  built = _build(root, tmp_path / "site")
  assert built.returncode == 0, built.stderr[-3000:]
  assert (tmp_path / "site" / "guides" / "evaluation" / "index.html").exists()
  assert (tmp_path / "site" / "reference" / "models" / "index.html").exists()

  guide = root / "docs" / "guides" / "tasks.md"
  guide.write_text(guide.read_text() + "\nSee [the gone page](gone.md).\n")
  broken = _build(root, tmp_path / "site_broken")
  assert broken.returncode != 0
  assert "gone.md" in broken.stderr, broken.stderr[-3000:]


def test_every_guide_is_in_the_navigation_and_linked_from_the_readme():
  nav_targets = set(_nav().values())
  guides = sorted(f"guides/{name}"
                  for name in os.listdir(os.path.join(ROOT, "docs", "guides")))
  assert guides and set(guides) <= nav_targets
  with open(os.path.join(ROOT, "README.md")) as f:
    readme = f.read()
  for guide in guides:
    assert f"(docs/{guide})" in readme, guide
  assert len(readme.splitlines()) <= 260


@pytest.mark.parametrize("question,title_words,page_text", [
    ("how do I hold out NLI", ("hold out",), "demo:train:no_nli"),
    ("how do I evaluate on MMLU", ("MMLU",), "mmlu"),
    ("how do I bring Qwen", ("Qwen",), "qwen3"),
    ("will my config fit on a v5e-256", ("fit",), "v5e"),
])
def test_a_newcomers_question_is_answered_from_the_navigation(
    question, title_words, page_text):
  matches = [target for title, target in _nav().items()
             if all(w.lower() in title.lower() for w in title_words)]
  assert matches, f"{question}: no navigation entry names {title_words}"
  with open(os.path.join(ROOT, "docs", matches[0])) as f:
    assert re.search(re.escape(page_text), f.read(), re.IGNORECASE), question
