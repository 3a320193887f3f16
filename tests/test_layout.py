"""The tree matches docs/design.md: packages per stage, one-way imports, no cycle."""

import ast
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
# docs/design.md's table: what each package may import from flan_jax.
# flan_jax.errors (the expected-mistake base classes) and flan_jax.storage
# (local paths and gs:// URIs behind one set of calls) are open to all.
ALLOWED = {
    "data": {"data"},
    "models": {"models"},
    "parallel": {"parallel"},
    "steps": {"steps", "models", "parallel"},
    "checkpoints": {"checkpoints", "models", "parallel", "steps"},
    "train": {"train", "data", "models", "parallel", "steps", "checkpoints"},
    "evaluation": {"evaluation", "data", "models", "parallel", "steps",
                   "checkpoints"},
    "cli": {"cli", "data", "models", "parallel", "steps", "checkpoints",
            "train", "evaluation"},
    "errors": set(),
    "storage": set(),
}
ALLOWED = {package: allowed | {"errors", "storage"}
           for package, allowed in ALLOWED.items()}


def _modules(top: str) -> dict[str, pathlib.Path]:
  modules = {}
  for path in sorted((ROOT / top).rglob("*.py")):
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
      parts = parts[:-1]
    modules[".".join(parts)] = path
  return modules


def _imports(path: pathlib.Path, known: set[str]) -> set[str]:
  """flan_jax/tasks modules that `path` imports (any depth, lazy ones too)."""
  found = set()
  for node in ast.walk(ast.parse(path.read_text())):
    names = []
    if isinstance(node, ast.Import):
      names = [a.name for a in node.names]
    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
      names = [f"{node.module}.{a.name}" for a in node.names]
      if not all(n in known for n in names):  # names defined in the module
        names.append(node.module)
    found |= {n for n in names if n in known}
  return found


def _graph():
  modules = {**_modules("flan_jax"), **_modules("tasks")}
  return {m: _imports(p, set(modules)) - {m} for m, p in modules.items()}


def test_no_import_cycle():
  graph = _graph()
  state: dict[str, int] = {}

  def visit(node, stack):
    state[node] = 1
    for child in graph[node]:
      if state.get(child) == 1:
        raise AssertionError("import cycle: " + " -> ".join(
            stack[stack.index(child):] + [child]))
      if child not in state:
        visit(child, stack + [child])
    state[node] = 2

  for module in graph:
    if module not in state:
      visit(module, [module])


def test_packages_import_only_what_the_design_allows():
  wrong = []
  for module, imported in _graph().items():
    parts = module.split(".")
    if parts[0] == "tasks":
      allowed = {"data", "errors"}
    elif len(parts) > 1:
      allowed = ALLOWED[parts[1]]
    else:
      continue
    for target in imported:
      target_parts = target.split(".")
      if target_parts[0] == "flan_jax" and len(target_parts) > 1 and (
          target_parts[1] not in allowed):
        wrong.append(f"{module} imports {target}")
  assert not wrong, wrong


def test_few_top_level_modules_and_none_too_long():
  top = [p.name for p in (ROOT / "flan_jax").glob("*.py")
         if p.name != "__init__.py"]
  assert len(top) <= 8, top
  long = [f"{p} ({n})" for p in ROOT.glob("flan_jax/**/*.py")
          if (n := len(p.read_text().splitlines())) > 600]
  assert not long, long


def test_readme_layout_is_the_generated_one():
  result = subprocess.run([sys.executable, str(ROOT / "scripts" / "layout.py"),
                           "--check"], capture_output=True, text=True,
                          check=False)
  assert result.returncode == 0, result.stderr
