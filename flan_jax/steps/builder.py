"""One step builder: input shapes, state, shardings and the jitted steps.

Everything that runs or plans a model on a mesh asks one `StepBuilder`, so
a parameter's layout is decided in one place:

    trainer       init_state(), jit_train_step(step_fn)
    planner       abstract_state, state_shardings on an abstract mesh or a
                  TPU topology's mesh; lowers the trainer's own step
    loader        restore_target(): abstract parameters in their shardings
    eval runner   jit_score_step(fn): parameters and batch in their shardings

A parameter's sharding is its logical axes through the partitioner's rule
table, fitted to its shape (`partitioning.fit_spec_to_shape`: a mesh axis
that does not divide a dimension leaves it replicated). Optimizer state
follows its parameter (`partitioning.state_shardings_like`); the step
counter is replicated.

Example, 8 devices, `Partitioner({"data": 2, "model": 4}, fsdp=True)`, the
tiny T5 of the tests (d_model 32, 4 heads of 8, d_ff 64):

    wi_0/kernel   (embed 32, mlp 64)         P("data", "model")  (16, 16) each
    query/kernel  (embed 32, heads 4, kv 8)  P("data", "model", None)
    Adafactor v_row of wi_0 (32,)            P("data")
    step          ()                         P()

On a {"data": 1, "model": 8} mesh the 4 heads do not split 8 ways, so the
query kernel keeps its heads replicated: P(None, None, None).

The train state's structure (`TrainState`) is decided here too: the state
is what `init_state` builds, and its shardings are derived from it. Its
`params` are what is trained and `frozen` the rest (`models.trainable`):
full finetuning trains everything (frozen is None, the state as before);
a LoRA or prompt-tuning run trains its adapters, so the optimizer state,
gradients and microbatch accumulators exist for them alone.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Mapping

import flax.core.meta
import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import optax
from jax.sharding import NamedSharding, PartitionSpec

from flan_jax.models import api
from flan_jax.models import trainable
from flan_jax.parallel import partitioning

# The optimizer for parameters with these logical axes (names per leaf):
# `optimizers.resolve` bound to a recipe, or `lambda axes: optax.adamw(...)`.
TxForAxes = Callable[[Any], optax.GradientTransformation]
InputShapes = Mapping[str, tuple[int, ...]]


@flax.struct.dataclass
class TrainState:
  """step, the trained parameters, their optimizer state, and the frozen
  parameters (None when everything trains)."""
  step: jax.Array
  params: Any
  opt_state: Any
  frozen: Any = None

  def all_params(self) -> Any:
    """The model's whole parameter tree."""
    return trainable.combine(self.params, self.frozen)


def model_input_shapes(feature_converter, task_feature_lengths: Mapping[str, int],
                       batch_size: int) -> dict[str, tuple[int, int]]:
  """{model feature: (batch, length)} of a packed or unpacked batch."""
  lengths = feature_converter.get_model_feature_lengths(task_feature_lengths)
  return {k: (batch_size, v) for k, v in lengths.items()}


def _is_spec(x) -> bool:
  return isinstance(x, PartitionSpec)


@dataclasses.dataclass(frozen=True, eq=False)
class StepBuilder:
  """A model on a partitioner's mesh: its state, shardings and steps.

  Attributes:
    model: any model behind `api.Model`.
    partitioner: the mesh (real devices, a TPU topology's, or abstract) and
      the logical axis rules.
    input_shapes: the train batch, {feature: (batch, length)}; None for
      parameters only (loading, eval): the model's smallest probe batch.
    seed: the initialisation seed.
    optimizer: the optax transformation for given parameter axes; needed
      for the train state only.
  """
  model: api.Model
  partitioner: partitioning.Partitioner
  input_shapes: InputShapes | None = None
  seed: int = 0
  optimizer: TxForAxes | None = None

  # ---- parameters -----------------------------------------------------------

  @functools.cached_property
  def _boxed_params(self) -> Any:
    """Parameter shapes with their logical axes (`nn.Partitioned` boxes)."""
    if self.input_shapes is None:
      return self.model.abstract_params()
    return jax.eval_shape(
        lambda rng: self.model.init_variables(rng, self.input_shapes)["params"],
        jax.random.key(self.seed))

  @functools.cached_property
  def abstract_params(self) -> Any:
    """ShapeDtypeStructs of the parameters; nothing allocated."""
    # Shapes only: no sharding constraint, whatever mesh is in scope.
    return flax.core.meta.map_axis_meta(
        lambda box: box.unbox(apply_constraint=False), self._boxed_params)

  @functools.cached_property
  def param_axes(self) -> Any:
    """Logical axis names per parameter, as tuples (e.g. ("embed", "mlp"))."""
    return jax.tree.map(tuple, nn.get_partition_spec(self._boxed_params),
                        is_leaf=_is_spec)

  @functools.cached_property
  def param_shardings(self) -> Any:
    """NamedShardings of the parameters, fitted to each one's shape."""
    return self.partitioner.param_shardings(
        self.abstract_params, nn.get_partition_spec(self._boxed_params))

  def restore_target(self) -> Any:
    """The parameters as sharded ShapeDtypeStructs: what a restore fills."""
    return jax.tree.map(
        lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
        self.abstract_params, self.param_shardings)

  # ---- train state ----------------------------------------------------------

  def split(self, tree: Any) -> tuple[Any, Any]:
    """(trained, frozen) parts of a parameter-shaped tree (`trainable`)."""
    return trainable.split(self.model.config, tree)

  @functools.cached_property
  def tx(self) -> optax.GradientTransformation:
    """The optimizer of the trained parameters (their axes alone)."""
    if self.optimizer is None:
      raise ValueError("StepBuilder.optimizer is needed for the train state")
    return self.optimizer(self.split(self.param_axes)[0])

  def _init_state(self, rng) -> TrainState:
    params = nn.unbox(self.model.init_variables(rng, self.input_shapes)["params"])
    trained, frozen = self.split(params)
    return TrainState(jnp.zeros((), jnp.int32), trained, self.tx.init(trained),
                      frozen)

  @functools.cached_property
  def abstract_state(self) -> TrainState:
    """The train state as ShapeDtypeStructs; nothing allocated."""
    return jax.eval_shape(self._init_state, jax.random.key(self.seed))

  @functools.cached_property
  def state_shardings(self) -> TrainState:
    """Shardings of every leaf of the train state (params, optimizer, step)."""
    state = self.abstract_state
    trained, frozen = self.split(self.param_shardings)
    opt_shardings = partitioning.state_shardings_like(
        state.opt_state, state.params, trained, self.partitioner.replicated)
    return TrainState(self.partitioner.replicated, trained, opt_shardings,
                      frozen)

  def init_state(self) -> TrainState:
    """Parameters and optimizer state initialised in their shardings.

    The init function is jitted with `out_shardings`, so each device
    computes only its own blocks: no host ever materialises the whole model.
    """
    with self.partitioner.context():
      return jax.jit(self._init_state, out_shardings=self.state_shardings)(
          jax.random.key(self.seed))

  # ---- steps ----------------------------------------------------------------

  @property
  def batch_sharding(self) -> NamedSharding:
    return self.partitioner.batch_sharding

  def abstract_batch(self, shapes: InputShapes | None = None) -> dict[str, Any]:
    """A batch of int32 features (the train batch by default) as sharded
    ShapeDtypeStructs, for lowering a step without data."""
    shapes = self.input_shapes if shapes is None else shapes
    return {k: jax.ShapeDtypeStruct(tuple(v), jnp.int32,
                                    sharding=self.batch_sharding)
            for k, v in shapes.items()}

  def sharded_state(self) -> TrainState:
    """`abstract_state` with each leaf's sharding attached (for lowering)."""
    return jax.tree.map(
        lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
        self.abstract_state, self.state_shardings)

  def jit_train_step(self, step_fn: Callable) -> Callable:
    """step(state, batch) -> (state, metrics), compiled with the state donated
    and laid out in `state_shardings`, the batch over the data axes."""
    return jax.jit(step_fn, in_shardings=(self.state_shardings,
                                          self.batch_sharding),
                   out_shardings=(self.state_shardings,
                                  self.partitioner.replicated),
                   donate_argnums=0)

  def jit_score_step(self, score_fn: Callable) -> Callable:
    """score(params, batch) -> scores, compiled with the parameters in their
    shardings and the batch over the data axes (the eval runner's step)."""
    return jax.jit(score_fn, in_shardings=(self.param_shardings,
                                           self.batch_sharding))
