r"""Print the repository layout that README.md's "Layout" section shows.

    python scripts/layout.py            # the block, as README.md holds it
    python scripts/layout.py --check    # exit 1 if README.md differs

Every module of `flan_jax/` gets one line: its path and the first line of
its docstring, so the layout is regenerated from the code itself (a test
keeps README.md in step). Packages come in pipeline order (data -> models
-> train -> evaluation), then what the stages share, then the edge. The
other top-level folders are described below.
"""

from __future__ import annotations

import argparse
import ast
import pathlib
import re
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent
# The stages in pipeline order, then what they share, then the edge.
PACKAGE_ORDER = ("data", "models", "train", "evaluation", "parallel",
                 "steps", "checkpoints", "cli")
OTHER_FOLDERS = (
    ("tasks/demo/", "the built-in demo suite (generated datasets, no "
     "download), its world corpus, pretrained base (base/) and transfer "
     "probes"),
    ("tasks/flan2021/", "the FLAN 2021 collection, one module per cluster"),
    ("tasks/flan2022/", "the Flan 2022 Collection: template types, CoT, "
     "pre-rendered submixes"),
    ("tasks/benchmarks/", "held-out benchmarks (MMLU, BIG-Bench Hard) read "
     "from your local copies"),
    ("gin/", "models/ (sizes), runs/ (finetune, eval, infer, demo, "
     "pretrain_demo, flan2021_*, flan2022_*, lora, prompt_tuning, "
     "task_data), hardware/ (meshes, TPU topologies), plan/"),
    ("scripts/", "thin entry points: parse flags, load gin, call one "
     "library function"),
    ("benchmarks/", "measurements that print figures (not tests)"),
    ("docs/", "the site (mkdocs.yml): guides/ (one task each), reference/ "
     "(the API, from docstrings), design.md (the map this layout "
     "follows), flan2021_catalogue.md, flan2022.md, studies_flan2021.md"),
    ("tests/", "pytest, mirroring flan_jax/ and tasks/ "
     "(`-m \"not slow\"` skips the few multi-minute tests)"),
)
START, END = "<!-- layout:start -->", "<!-- layout:end -->"


def _summary(path: pathlib.Path) -> str:
  docstring = ast.get_docstring(ast.parse(path.read_text()))
  return docstring.splitlines()[0] if docstring else ""


def layout() -> str:
  """The layout block: one line per flan_jax module, then the other folders."""
  rows = [("flan_jax/", _summary(REPO / "flan_jax" / "__init__.py"))]
  found = {p.name for p in (REPO / "flan_jax").iterdir()
           if (p / "__init__.py").is_file()}
  if found != set(PACKAGE_ORDER):
    raise SystemExit(f"layout: flan_jax/ packages {sorted(found)} differ from "
                     f"PACKAGE_ORDER {sorted(PACKAGE_ORDER)}; place new "
                     "packages in scripts/layout.py")
  for module in sorted((REPO / "flan_jax").glob("*.py")):
    if module.name != "__init__.py":  # shared by every stage
      rows.append((f"  {module.name}", _summary(module)))
  for package in (REPO / "flan_jax" / name for name in PACKAGE_ORDER):
    rows.append((f"  {package.name}/", _summary(package / "__init__.py")))
    for module in sorted(package.glob("*.py")):
      if module.name != "__init__.py":
        rows.append((f"    {module.name}", _summary(module)))
  rows += OTHER_FOLDERS
  width = max(len(name) for name, _ in rows) + 2
  lines = [f"{name:<{width}}{text}".rstrip() for name, text in rows]
  return "```\n" + "\n".join(lines) + "\n```"


def readme_block() -> str | None:
  text = (REPO / "README.md").read_text()
  match = re.search(re.escape(START) + r"\n(.*?)\n" + re.escape(END), text,
                    re.DOTALL)
  return match.group(1) if match else None


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--check", action="store_true",
                      help="compare with README.md instead of printing")
  args = parser.parse_args(argv)
  if not args.check:
    print(layout())
    return 0
  if readme_block() != layout():
    print("layout: README.md's Layout section differs from the tree; "
          "paste the output of `python scripts/layout.py` between "
          f"{START} and {END}", file=sys.stderr)
    return 1
  return 0


if __name__ == "__main__":
  sys.exit(main())
