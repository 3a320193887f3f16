"""The FLAN release's own templates, read from a checkout without running it.

A user who has cloned github.com/google-research/FLAN can train and evaluate
with the paper's wording. Those files are Python modules; this reader never
imports or executes them. It parses them with `ast` and evaluates only
literals and a handful of plain expressions (string concatenation, `range`,
`chr`, `ord`, `str`, `.lower()`, `.upper()`, one-generator list
comprehensions), then rebuilds what the modules build in code:

    PATTERNS = {"rte": [("{premise} ... {options_}", "{answer}"), ...], ...}
    PATTERNS["wiki_dialog"] = PATTERNS["predict_next_turn_dialog"]   # alias
    PATTERNS_NO_OPTIONS = copy.deepcopy(PATTERNS)                    # copy
    PATTERNS_NO_OPTIONS.update(flan_templates.PATTERNS)  # another module's
    for t_name, templates in PATTERNS_NO_OPTIONS.items():            # edits:
      ... in_template.replace("\\n\\n{options_}", "") ...            # every
                                                           # .replace(a, b)
    FEWSHOT_PATTERNS = {"rte": [FewShotPattern(inputs=..., targets=...,
                                               inputs_prefix="Q: "), ...]}
    OPT_START_STRING_CANDIDATES = ["", "OPTIONS:", ...]

Worked example (a two-key file)::

    t = read_templates("/src/FLAN/flan/v2/templates.py")
    t.patterns["rte"][0]            -> Pattern(inputs="...", targets="{answer}")
    t.no_options["rte"][0].inputs   -> the same without its "{options_}" slot
    t.few_shot["rte"][0].format     -> FewShotFormat(input_prefix="Q: ", ...)

The `.replace` calls of an editing loop are applied in source order to each
pattern's input (the tuple's first element, or a FewShotPattern's
`inputs`), which is what the release's loops do. A file that does something
else at module level to these names is read as far as this reader
understands it; anything it cannot evaluate inside a pattern stops with
`UpstreamTemplatesError`, one line naming the file, line and key.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import os
from typing import Any, Mapping

from flan_jax import errors

FLAN2021_FILE = os.path.join("flan", "templates.py")
FLAN2022_FILE = os.path.join("flan", "v2", "templates.py")
COT_DATA_DIR = os.path.join("flan", "v2", "cot_data")
FLAN_REPOSITORY = "https://github.com/google-research/FLAN"

# Module-level names this reader builds (the release's names).
PATTERN_DICTS = ("PATTERNS", "PATTERNS_NO_OPTIONS", "FEWSHOT_PATTERNS",
                 "FEWSHOT_PATTERNS_NO_OPTIONS")
OPTION_LISTS = ("OPT_START_STRING_CANDIDATES", "OPT_ITEM_NAME_CANDIDATES",
                "OPT_ITEM_END_STR_CANDIDATES")
FEW_SHOT_CLASS = "FewShotPattern"
_MAX_MODULE_DEPTH = 3


class UpstreamTemplatesError(errors.FlanJaxError, ValueError):
  """A FLAN checkout's templates cannot be read (missing or not understood)."""


@dataclasses.dataclass(frozen=True)
class FewShotFormat:
  """How exemplars and the query are joined (the release's FewShotPattern).

  A k-shot input is, for each exemplar,
  ``input_prefix + inputs + between + target_prefix + targets + separator``,
  then the query ``input_prefix + inputs + between + target_prefix``
  (trailing whitespace removed) and ``final_suffix``.
  """
  input_prefix: str = ""
  target_prefix: str = ""
  between: str = "\n"
  separator: str = "\n\n"
  final_suffix: str = ""


@dataclasses.dataclass(frozen=True)
class Pattern:
  """One upstream template: input and target patterns (and few-shot format)."""
  inputs: str
  targets: str
  format: FewShotFormat | None = None


@dataclasses.dataclass(frozen=True)
class UpstreamTemplates:
  """What one templates file defines. Dicts map a dataset key to patterns."""
  path: str
  patterns: dict[str, tuple[Pattern, ...]]
  no_options: dict[str, tuple[Pattern, ...]]
  few_shot: dict[str, tuple[Pattern, ...]]
  few_shot_no_options: dict[str, tuple[Pattern, ...]]
  option_headers: tuple[str, ...] = ()
  option_markers: tuple[tuple[str, ...], ...] = ()
  option_endings: tuple[tuple[str, ...], ...] = ()


def missing_checkout_error(checkout: str | None, detail: str
                           ) -> UpstreamTemplatesError:
  return UpstreamTemplatesError(
      f"FLAN_CHECKOUT '{checkout}': {detail}; set FLAN_CHECKOUT to a clone of "
      f"{FLAN_REPOSITORY} (git clone {FLAN_REPOSITORY} <dir>)")


def checkout_file(checkout: str | None, relative: str) -> str:
  """`<checkout>/<relative>`, or a one-line error saying what is missing."""
  if not checkout:
    raise missing_checkout_error(checkout, "no checkout given")
  if not os.path.isdir(checkout):
    raise missing_checkout_error(checkout, "no such directory")
  path = os.path.join(checkout, relative)
  if not os.path.isfile(path):
    raise missing_checkout_error(checkout, f"{relative} not found")
  return path


def read_flan2021(checkout: str) -> UpstreamTemplates:
  """`<checkout>/flan/templates.py` (the Flan 2021 paper's templates)."""
  return read_templates(checkout_file(checkout, FLAN2021_FILE), checkout)


def read_flan2022(checkout: str) -> UpstreamTemplates:
  """`<checkout>/flan/v2/templates.py` (the Flan 2022 Collection's)."""
  return read_templates(checkout_file(checkout, FLAN2022_FILE), checkout)


def read_templates(path: str, checkout: str | None = None) -> UpstreamTemplates:
  """Parses a templates file; `checkout` resolves `from flan... import x`."""
  module = _Module(path, checkout or _guess_checkout(path), depth=0)
  env = module.run()
  if "PATTERNS" not in env:
    raise UpstreamTemplatesError(f"{path}: defines no PATTERNS dict")

  def patterns(name):
    return {k: tuple(v) for k, v in env.get(name, {}).items()}

  return UpstreamTemplates(
      path=path, patterns=patterns("PATTERNS"),
      no_options=patterns("PATTERNS_NO_OPTIONS"),
      few_shot=patterns("FEWSHOT_PATTERNS"),
      few_shot_no_options=patterns("FEWSHOT_PATTERNS_NO_OPTIONS"),
      option_headers=tuple(env.get("OPT_START_STRING_CANDIDATES", ())),
      option_markers=tuple(tuple(m) for m in
                           env.get("OPT_ITEM_NAME_CANDIDATES", ())),
      option_endings=tuple(tuple(m) for m in
                           env.get("OPT_ITEM_END_STR_CANDIDATES", ())))


def _guess_checkout(path: str) -> str:
  """The directory holding `flan/` above a templates file."""
  parts = os.path.abspath(path).split(os.sep)
  if "flan" in parts:
    index = len(parts) - 1 - parts[::-1].index("flan")
    return os.sep.join(parts[:index]) or os.sep
  return os.path.dirname(path)


class _Module:
  """Reads one module's statements into an environment of plain values."""

  def __init__(self, path: str, checkout: str, depth: int):
    self.path = path
    self.checkout = checkout
    self.depth = depth
    self.env: dict[str, Any] = {}
    self.modules: dict[str, str] = {}  # local alias -> file path
    self.few_shot_defaults: dict[str, Any] = {}

  def error(self, node: ast.AST | None, message: str) -> UpstreamTemplatesError:
    line = f":{node.lineno}" if node is not None and hasattr(node, "lineno") \
        else ""
    return UpstreamTemplatesError(f"{self.path}{line}: {message}")

  def run(self) -> dict[str, Any]:
    try:
      with open(self.path, encoding="utf-8") as f:
        source = f.read()
    except OSError as e:
      raise UpstreamTemplatesError(
          f"{self.path}: cannot read ({e.strerror or e})") from None
    try:
      tree = ast.parse(source, filename=self.path)
    except SyntaxError as e:
      raise UpstreamTemplatesError(
          f"{self.path}:{e.lineno}: not valid Python ({e.msg})") from None
    for node in tree.body:
      self._statement(node)
    return self.env

  # --- statements -------------------------------------------------------------

  def _statement(self, node: ast.stmt) -> None:
    if isinstance(node, ast.ImportFrom) and node.module:
      for alias in node.names:
        relative = os.path.join(*node.module.split("."), alias.name + ".py")
        self.modules[alias.asname or alias.name] = os.path.join(
            self.checkout, relative)
    elif isinstance(node, ast.ClassDef) and node.name == FEW_SHOT_CLASS:
      self._few_shot_class(node)
    elif isinstance(node, ast.Assign) and len(node.targets) == 1:
      self._assign(node.targets[0], node.value)
    elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
      self._update(node.value)
    elif isinstance(node, ast.For):
      self._editing_loop(node)

  def _assign(self, target: ast.expr, value: ast.expr) -> None:
    if isinstance(target, ast.Name):
      name = target.id
      copied = self._deepcopy_of(value)
      if copied is not None:
        self.env[name] = copied
      elif name in PATTERN_DICTS:
        self.env[name] = self._pattern_dict(value)
      elif name in OPTION_LISTS or name == "ROMAN_NUMS":
        self.env[name] = self._eval(value, {})
    elif (isinstance(target, ast.Subscript) and
          isinstance(target.value, ast.Name) and
          target.value.id in PATTERN_DICTS and target.value.id in self.env):
      key = self._eval(target.slice, {})
      if isinstance(value, ast.Subscript):  # PATTERNS["a"] = PATTERNS["b"]
        source = self._lookup_subscript(value)
      else:
        source = self._pattern_list(value, key)
      self.env[target.value.id][key] = list(source)

  def _deepcopy_of(self, value: ast.expr):
    """`copy.deepcopy(NAME)` -> a copy of NAME's value; else None."""
    if (isinstance(value, ast.Call) and len(value.args) == 1 and
        isinstance(value.func, ast.Attribute) and
        value.func.attr in ("deepcopy", "copy") and
        isinstance(value.args[0], ast.Name) and
        value.args[0].id in self.env):
      return copy.deepcopy(self.env[value.args[0].id])
    return None

  def _lookup_subscript(self, node: ast.Subscript):
    if not (isinstance(node.value, ast.Name) and node.value.id in self.env):
      raise self.error(node, "alias of an unknown dict")
    key = self._eval(node.slice, {})
    try:
      return self.env[node.value.id][key]
    except KeyError:
      raise self.error(node, f"alias of unknown key {key!r}") from None

  def _update(self, call: ast.Call) -> None:
    """`NAME.update(OTHER)` or `NAME.update(module.OTHER)`."""
    func = call.func
    if not (isinstance(func, ast.Attribute) and func.attr == "update" and
            isinstance(func.value, ast.Name) and func.value.id in self.env and
            len(call.args) == 1):
      return
    arg = call.args[0]
    if isinstance(arg, ast.Name) and arg.id in self.env:
      other = self.env[arg.id]
    elif (isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name)
          and arg.value.id in self.modules):
      other = self._imported(arg.value.id, arg.attr, arg)
    else:
      raise self.error(call, "update() from something this reader cannot "
                       "resolve")
    self.env[func.value.id].update(copy.deepcopy(other))

  def _imported(self, alias: str, name: str, node: ast.AST):
    path = self.modules[alias]
    if self.depth >= _MAX_MODULE_DEPTH:
      raise self.error(node, "modules import each other too deeply")
    if not os.path.isfile(path):
      raise self.error(node, f"imports {alias}, whose file {path} is missing "
                       "from the checkout")
    env = _Module(path, self.checkout, self.depth + 1).run()
    if name not in env:
      raise self.error(node, f"{path} defines no {name}")
    return env[name]

  def _editing_loop(self, node: ast.For) -> None:
    """`for k, v in NAME.items(): ...replace(a, b)...` edits NAME's inputs."""
    it = node.iter
    if not (isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute)
            and it.func.attr == "items" and
            isinstance(it.func.value, ast.Name) and
            it.func.value.id in self.env):
      return
    name = it.func.value.id
    replacements = []
    for sub in ast.walk(ast.Module(body=node.body, type_ignores=[])):
      if (isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and
          sub.func.attr == "replace" and len(sub.args) == 2 and
          all(isinstance(a, ast.Constant) and isinstance(a.value, str)
              for a in sub.args)):
        replacements.append(((sub.args[0].lineno, sub.args[0].col_offset),
                             sub.args[0].value, sub.args[1].value))
    # A chain a.replace(x).replace(y) runs x first: its arguments come first
    # in the source, so source order is evaluation order.
    replacements.sort()
    edited = {}
    for key, patterns in self.env[name].items():
      new = []
      for pattern in patterns:
        inputs = pattern.inputs
        for _, old, replacement in replacements:
          inputs = inputs.replace(old, replacement)
        new.append(dataclasses.replace(pattern, inputs=inputs))
      edited[key] = new
    self.env[name] = edited

  def _few_shot_class(self, node: ast.ClassDef) -> None:
    for item in node.body:
      if (isinstance(item, ast.AnnAssign) and
          isinstance(item.target, ast.Name) and item.value is not None):
        try:
          self.few_shot_defaults[item.target.id] = self._eval(item.value, {})
        except UpstreamTemplatesError:
          pass  # a default this reader does not need

  # --- pattern literals -------------------------------------------------------

  def _pattern_dict(self, node: ast.expr) -> dict[str, list[Pattern]]:
    if not isinstance(node, ast.Dict):
      raise self.error(node, "expected a dict literal of templates")
    result = {}
    for key_node, value in zip(node.keys, node.values):
      if key_node is None:
        raise self.error(node, "dict unpacking (**) is not supported")
      key = self._eval(key_node, {})
      result[key] = self._pattern_list(value, key)
    return result

  def _pattern_list(self, node: ast.expr, key: str) -> list[Pattern]:
    if not isinstance(node, (ast.List, ast.Tuple)):
      raise self.error(node, f"templates of {key!r} are not a list literal")
    return [self._pattern(item, key) for item in node.elts]

  def _pattern(self, node: ast.expr, key: str) -> Pattern:
    if isinstance(node, ast.Tuple) and len(node.elts) == 2:
      inputs, targets = (self._string(e, key) for e in node.elts)
      return Pattern(inputs, targets)
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and
        node.func.id == FEW_SHOT_CLASS):
      return self._few_shot_pattern(node, key)
    raise self.error(node, f"a template of {key!r} is neither an (input, "
                     f"target) pair nor a {FEW_SHOT_CLASS}(...)")

  def _few_shot_pattern(self, node: ast.Call, key: str) -> Pattern:
    fields = dict(self.few_shot_defaults)
    names = ("inputs", "targets", "inputs_prefix", "targets_prefix",
             "x_y_delimiter", "example_separator", "final_suffix")
    for name, arg in zip(names, node.args):
      fields[name] = self._string(arg, key)
    for keyword in node.keywords:
      if keyword.arg is None:
        raise self.error(node, f"{FEW_SHOT_CLASS}(**...) in {key!r}")
      fields[keyword.arg] = self._eval(keyword.value, {})
    if "inputs" not in fields or "targets" not in fields:
      raise self.error(node, f"a {FEW_SHOT_CLASS} of {key!r} lacks inputs or "
                       "targets")
    return Pattern(fields["inputs"], fields["targets"], FewShotFormat(
        input_prefix=fields.get("inputs_prefix", ""),
        target_prefix=fields.get("targets_prefix", ""),
        between=fields.get("x_y_delimiter", "\n\n"),
        separator=fields.get("example_separator", "\n\n\n"),
        final_suffix=fields.get("final_suffix", "")))

  def _string(self, node: ast.expr, key: str) -> str:
    value = self._eval(node, {})
    if not isinstance(value, str):
      raise self.error(node, f"a pattern of {key!r} is not a string")
    return value

  # --- the few expressions the release uses --------------------------------

  def _eval(self, node: ast.expr, scope: Mapping[str, Any]):
    if isinstance(node, ast.Constant):
      return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
      return [self._eval(e, scope) for e in node.elts]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
      return self._eval(node.left, scope) + self._eval(node.right, scope)
    if isinstance(node, ast.Name):
      if node.id in scope:
        return scope[node.id]
      if node.id in self.env:
        return self.env[node.id]
    if isinstance(node, ast.Call) and not node.keywords:
      args = [self._eval(a, scope) for a in node.args]
      if isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS:
        return _FUNCTIONS[node.func.id](*args)
      if (isinstance(node.func, ast.Attribute) and not args and
          node.func.attr in ("lower", "upper", "strip")):
        value = self._eval(node.func.value, scope)
        if isinstance(value, str):
          return getattr(value, node.func.attr)()
    if (isinstance(node, ast.ListComp) and len(node.generators) == 1 and
        not node.generators[0].ifs and
        isinstance(node.generators[0].target, ast.Name)):
      generator = node.generators[0]
      return [self._eval(node.elt, {**scope, generator.target.id: item})
              for item in self._eval(generator.iter, scope)]
    raise self.error(node, f"cannot read this expression without running "
                     f"the file: {ast.unparse(node)[:60]}")


_FUNCTIONS = {"chr": chr, "ord": ord, "str": str,
              "range": lambda *a: list(range(*a))}
