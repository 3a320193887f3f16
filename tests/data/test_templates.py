"""Template parsing and rendering (inside tf.data), and the registration check."""

import pytest
import seqio
import tensorflow as tf

from flan_jax.data import registry
from flan_jax.data import templates
from flan_jax.data.templates import Template, TemplateError


def _render(pattern, **fields):
  ex = {k: tf.constant(v) for k, v in fields.items()}
  return templates.render(pattern, ex).numpy().decode()


def test_fields_are_substituted_and_literals_kept():
  assert _render("Q: {question} A: {{answer}}", question="why?") == (
      "Q: why? A: {answer}")


def test_numeric_fields_render_as_text():
  assert _render("{a} + {b} =", a=2, b=40) == "2 + 40 ="


def test_options_slot_renders_one_line_per_option():
  text = _render("Pick one.\n{options_}", options=["red", "blue", "green"])
  assert text == "Pick one.\nOPTIONS:\n- red\n- blue\n- green"


def test_rendering_runs_inside_a_tf_data_pipeline():
  template = Template("Sum {a} and {b}.\n{options_}", "{answer}")
  ds = tf.data.Dataset.from_tensor_slices({
      "a": ["1", "2"], "b": ["3", "4"], "answer": ["4", "6"],
      "options": [["4", "5"], ["6", "7"]]})
  ds = ds.map(lambda ex: templates.render_example(template, ex))
  rows = list(ds.as_numpy_iterator())
  assert rows[1]["inputs"].decode() == "Sum 2 and 4.\nOPTIONS:\n- 6\n- 7"
  assert rows[1]["targets"].decode() == "6"


def test_template_reports_fields_and_options():
  t = Template("{premise} {hypothesis}\n{options_}", "{answer}")
  assert t.fields == {"premise", "hypothesis", "options", "answer"}
  assert t.has_options
  assert not Template("{a}", "{b}").has_options


@pytest.mark.parametrize("pattern", ["{0}", "{}", "{a.b}", "{a[0]}", "{a!r}",
                                     "{a:>4}", "unclosed {a"])
def test_malformed_patterns_are_rejected(pattern):
  with pytest.raises(TemplateError):
    Template(pattern, "{b}")


def _source():
  return seqio.FunctionDataSource(
      lambda split, shuffle_files=False, seed=None: tf.data.Dataset.
      from_tensor_slices({"text": ["x"], "label": ["y"]}),
      splits=("train", "test"))


def test_registration_rejects_a_template_naming_a_missing_field():
  spec = registry.DatasetSpec(
      "bad_fields", _source(), collection="template_test",
      templates=[Template("{text}", "{label}"),
                 Template("{text} {txet}", "{label}")])
  with pytest.raises(TemplateError) as error:
    registry.register_dataset(spec)
  message = str(error.value)
  assert "bad_fields" in message
  assert "template 1" in message
  assert "'txet'" in message
  assert "template_test:bad_fields:train" not in seqio.TaskRegistry.names()


def test_fields_created_by_prepare_functions_are_available():
  add_upper = lambda ds: ds.map(lambda ex: {**ex, "upper": tf.strings.upper(
      ex["text"])})
  spec = registry.DatasetSpec(
      "prepared", _source(), collection="template_test", prepare=[add_upper],
      templates=[Template("{upper}", "{label}")])
  registered = registry.register_dataset(spec, overwrite=True)
  ds = seqio.get_mixture_or_task(registered.generation_tasks[0]).get_dataset(
      None, split="test", shuffle=False)
  assert next(ds.as_numpy_iterator())["inputs_pretokenized"] == b"X"


def test_template_groups_follow_their_target_to_other_templates():
  """Translation's per-direction groups, carried to another template list
  (the FLAN release's): a group is the templates of its one target."""
  before = [Template("{english}", "{foreign}"),
            Template("{foreign}", "{english}"),
            Template("E: {english}", "{foreign}")]
  after = [Template("In English: {foreign}", "{english}"),
           Template("Translate: {english}", "{foreign}"),
           Template("{foreign} means", "{english}", inverted=True)]
  groups = {"from_english": (0, 2), "to_english": (1,), "mixed": (0, 1)}
  assert templates.carry_groups(groups, before, after) == {
      "from_english": (1,), "to_english": (0,)}
