"""Each extra installs what its documented commands import.

`pip install -e ".[benchmark]"` must be enough for
`python benchmarks/score_vs_lm_eval.py` on a fresh machine. For each command
below, every module it imports (anywhere in the script, and through flan_jax
and tasks at module level) and every module those imported modules import
unconditionally when loaded, one level into each third-party package
(lm_eval.models.huggingface's `from accelerate import ...` counts), must come
from a distribution in the dependency closure of setup.py's core
requirements plus the command's extra. The closure follows the installed
distributions' own metadata (importlib.metadata), with markers and
requested extras honoured, so a package that is merely installed in the
test environment for another reason does not count.
"""

import ast
import functools
import importlib.metadata
import importlib.util
import os
import runpy
import sys
import types

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRST_PARTY = ("flan_jax", "tasks")
# command (as the README documents it) -> the extra it says to install
COMMANDS = {
    "benchmarks/score_vs_lm_eval.py": "benchmark",
    "benchmarks/train_throughput.py": "hf",
    "benchmarks/lora.py": "hf",
    "scripts/convert_hf.py": "hf",
    "scripts/export_hf.py": "hf",
}


def _setup_requirements(path):
  """(core, extras) from setup.py, run with setuptools.setup replaced."""
  captured = {}
  stub = types.ModuleType("setuptools")
  stub.setup = lambda **kwargs: captured.update(kwargs)
  stub.find_packages = lambda **kwargs: []
  saved = sys.modules.get("setuptools")
  sys.modules["setuptools"] = stub
  try:
    runpy.run_path(path)
  finally:
    if saved is None:
      del sys.modules["setuptools"]
    else:
      sys.modules["setuptools"] = saved
  return captured["install_requires"], captured["extras_require"]


def closure(requirements):
  """Distributions the requirements install: ({canonical name}, problems)."""
  names, problems, seen = set(), [], set()
  stack = [(Requirement(r), ("",)) for r in requirements]
  while stack:
    req, parent_extras = stack.pop()
    if req.marker and not any(req.marker.evaluate({"extra": e})
                              for e in parent_extras):
      continue
    name = canonicalize_name(req.name)
    key = (name, tuple(sorted(req.extras)))
    if key in seen:
      continue
    seen.add(key)
    try:
      dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
      problems.append(f"{req} is not installed")
      continue
    if not req.specifier.contains(dist.version, prereleases=True):
      problems.append(f"{req}: installed {dist.version}")
    names.add(name)
    stack += [(Requirement(r), ("",) + tuple(req.extras))
              for r in dist.requires or ()]
  return names, problems


def _source(module):
  """(file, is_package) of a module's source, found without importing it."""
  parts = module.split(".")
  try:
    spec = importlib.util.find_spec(parts[0])
  except (ImportError, ValueError):
    return None
  if spec is None:
    return None
  if len(parts) == 1:
    origin = spec.origin or ""
    return ((origin, spec.submodule_search_locations is not None)
            if origin.endswith(".py") else None)
  for location in spec.submodule_search_locations or ():
    path = os.path.join(location, *parts[1:])
    if os.path.isfile(os.path.join(path, "__init__.py")):
      return os.path.join(path, "__init__.py"), True
    if os.path.isfile(path + ".py"):
      return path + ".py", False
  return None


def _catches_import_errors(node):
  caught = " ".join(ast.unparse(h.type) for h in node.handlers if h.type)
  return any(h.type is None for h in node.handlers) or any(
      name in caught for name in ("ImportError", "ModuleNotFoundError",
                                  "Exception"))


def _import_nodes(tree, everywhere):
  """Import statements run when the module loads (all of them: a script).

  Imports under an `if` (TYPE_CHECKING, a platform or environment switch)
  or in a try that catches a failed import may never run: not counted.
  """
  if everywhere:
    yield from (n for n in ast.walk(tree)
                if isinstance(n, (ast.Import, ast.ImportFrom)))
    return
  stack = list(tree.body)
  while stack:
    node = stack.pop()
    if isinstance(node, (ast.Import, ast.ImportFrom)):
      yield node
    elif isinstance(node, ast.With) or (
        isinstance(node, ast.Try) and not _catches_import_errors(node)):
      stack += [child for child in ast.iter_child_nodes(node)
                if isinstance(child, ast.stmt)]


def _imported_modules(path, module, is_package, everywhere):
  with open(path) as f:
    tree = ast.parse(f.read())
  package = module if is_package else module.rpartition(".")[0]
  for node in _import_nodes(tree, everywhere):
    if isinstance(node, ast.Import):
      yield from (alias.name for alias in node.names)
      continue
    base = node.module or ""
    if node.level:
      parent = package.split(".")[:len(package.split(".")) - node.level + 1]
      base = ".".join(parent + ([base] if base else []))
    yield base
    for alias in node.names:  # `from pkg import submodule`
      if _source(f"{base}.{alias.name}"):
        yield f"{base}.{alias.name}"


def needed_top_level_modules(script):
  """Top-level third-party modules the script loads (see module doc)."""
  needed = set()
  queue = [("__main__", os.path.join(ROOT, script), False, True)]
  done = set()
  while queue:
    module, path, is_package, everywhere = queue.pop()
    for name in _imported_modules(path, module, is_package, everywhere):
      top = name.split(".")[0]
      if not top or top in sys.stdlib_module_names:
        continue
      if top not in FIRST_PARTY:
        needed.add(top)
      # The module and the packages that hold it run when it is imported;
      # read them inside first-party code, or one level into a third party.
      if module != "__main__" and module.split(".")[0] not in FIRST_PARTY:
        continue
      parts = name.split(".")
      for i in range(1, len(parts) + 1):
        prefix = ".".join(parts[:i])
        source = _source(prefix)
        if prefix not in done and source:
          done.add(prefix)
          queue.append((prefix, *source, False))
  return needed


@functools.cache
def _providers():
  return importlib.metadata.packages_distributions()


def missing_modules(script, requirements):
  """Modules `script` needs that no distribution of the closure provides."""
  names, problems = closure(requirements)
  providers = _providers()
  for top in sorted(needed_top_level_modules(script)):
    dists = {canonicalize_name(d) for d in providers.get(top, ())}
    if not dists & names:
      problems.append(f"module {top!r} (from {sorted(dists) or 'nowhere'})")
  return problems


def test_each_extra_provides_what_its_commands_import():
  core, extras = _setup_requirements(os.path.join(ROOT, "setup.py"))
  for script, extra in COMMANDS.items():
    problems = missing_modules(script, core + extras[extra])
    assert not problems, (
        f"`pip install -e .[{extra}]` then `python {script}`: {problems}")


def test_the_check_catches_lm_eval_without_its_hf_extra():
  # Before this check, the benchmark extra asked for plain lm-eval: its
  # Hugging Face backend then failed with "No module named 'accelerate'".
  core, extras = _setup_requirements(os.path.join(ROOT, "setup.py"))
  without_hf = [r.replace("lm-eval[hf]", "lm-eval")
                for r in extras["benchmark"]]
  assert without_hf != extras["benchmark"]
  problems = missing_modules("benchmarks/score_vs_lm_eval.py",
                             core + without_hf)
  assert any("'accelerate'" in p for p in problems), problems


def test_extras_asked_of_installed_distributions_exist():
  # e.g. jax[cuda12] and jax[tpu]: a misspelt extra installs nothing more.
  _, extras = _setup_requirements(os.path.join(ROOT, "setup.py"))
  for extra, requirements in extras.items():
    for requirement in map(Requirement, requirements):
      try:
        dist = importlib.metadata.distribution(requirement.name)
      except importlib.metadata.PackageNotFoundError:
        continue
      provided = {canonicalize_name(e)
                  for e in dist.metadata.get_all("Provides-Extra") or ()}
      for wanted in requirement.extras:
        assert canonicalize_name(wanted) in provided, (extra, str(requirement))
