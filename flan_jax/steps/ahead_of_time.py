"""Compiling a step ahead of time: XLA's own memory, collectives and time.

`compile_step(jitted, *args)` lowers a step built by the `StepBuilder` on
sharded abstract arguments (ShapeDtypeStructs: nothing is allocated) and
has XLA compile it for the mesh's devices, real ones or a TPU topology's
compile-only ones (`flan_jax.parallel.topologies`). What comes back is what
the program will use on each device, as XLA laid it out:

    arguments        the inputs each device holds (state shards, batch)
    outputs          the results; a donated input's buffer is reused
                     (`alias`), so the state is not counted twice
    temporaries      everything the program allocates while it runs
                     (gradients, activations kept for the backward pass,
                     gathered FSDP weights, collective buffers)
    generated code   the compiled program itself
    peak             all of these at once (outputs less the aliased):
                     what must fit in the chip's HBM

and the collectives in the compiled program (a scanned layer's body
counts once, however many layers run it). A program that XLA cannot fit in
the chip's memory fails to compile: that is a `DoesNotFitError`, one line.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import re
import threading
import time
from typing import Any, Callable

from flan_jax import errors

log = logging.getLogger("flan_jax")

COLLECTIVES = ("all-gather", "all-reduce", "reduce-scatter", "all-to-all",
               "collective-permute")
# An HLO instruction's opcode: after the result shape, before its operands
# ("%x = f32[8]{0} all-reduce(...)"; async pairs as "...-start(").
_OPCODE = re.compile(r"\s(" + "|".join(COLLECTIVES) + r")(?:-start)?\(")
# XLA's out-of-memory verdicts at compile time.
_OUT_OF_MEMORY = re.compile(r"RESOURCE_EXHAUSTED|exceeds available|"
                            r"out of memory|Ran out of memory", re.IGNORECASE)


class DoesNotFitError(errors.FlanJaxError, MemoryError):
  """A step that does not fit in the devices' memory (XLA's verdict)."""


@dataclasses.dataclass(frozen=True)
class CompiledMemory:
  """Bytes per device of a compiled program (XLA's memory analysis)."""
  argument_bytes: int
  output_bytes: int
  alias_bytes: int
  temp_bytes: int
  generated_code_bytes: int
  peak_bytes: int

  @classmethod
  def of(cls, compiled) -> "CompiledMemory":
    stats = compiled.memory_analysis()
    # What the program holds on a device: its arguments, its outputs less
    # those written into donated arguments, the temporary block and the
    # code. (XLA's own `peak_memory_in_bytes` came out below the temporary
    # block alone for TPU v5e programs, so it is not used.)
    peak = (stats.argument_size_in_bytes + stats.output_size_in_bytes -
            stats.alias_size_in_bytes + stats.temp_size_in_bytes +
            stats.generated_code_size_in_bytes)
    return cls(stats.argument_size_in_bytes, stats.output_size_in_bytes,
               stats.alias_size_in_bytes, stats.temp_size_in_bytes,
               stats.generated_code_size_in_bytes, peak)


@dataclasses.dataclass(frozen=True)
class CompiledStep:
  label: str
  memory: CompiledMemory
  collectives: dict[str, int]
  compile_seconds: float


def count_collectives(hlo_text: str) -> dict[str, int]:
  """{collective: instructions} in a compiled module's HLO text."""
  counts = collections.Counter(m.group(1) for m in _OPCODE.finditer(hlo_text))
  return {name: counts[name] for name in COLLECTIVES if counts[name]}


def _heartbeat(label: str, started: float, progress: Callable[[str], None],
               every: float) -> Callable[[], None]:
  """Reports every `every` s that `label` is still compiling; returns stop."""
  done = threading.Event()

  def beat():
    while not done.wait(every):
      progress(f"{label}: still compiling ({time.perf_counter() - started:.0f} s)")

  thread = threading.Thread(target=beat, daemon=True)
  thread.start()

  def stop():
    done.set()
    thread.join()

  return stop


def compile_step(jitted, *args: Any, label: str, where: str,
                 progress: Callable[[str], None] = log.info,
                 every: float = 30.0) -> CompiledStep:
  """Lowers and compiles `jitted(*args)`; `args` are sharded abstract values.

  Args:
    label: what is compiled ("train step"), for progress and errors.
    where: the devices it is compiled for ("v5e:16x16"), for errors.
    progress: receives a line at each stage and every `every` seconds.
  """
  started = time.perf_counter()
  progress(f"{label}: lowering for {where}")
  lowered = jitted.lower(*args)
  progress(f"{label}: compiling with XLA (lowered in "
           f"{time.perf_counter() - started:.1f} s)")
  stop = _heartbeat(label, started, progress, every)
  try:
    compiled = lowered.compile()
  except Exception as e:  # pylint: disable=broad-except
    text = str(e)
    if not _OUT_OF_MEMORY.search(text):
      raise
    reason = next((line.strip() for line in text.splitlines()
                   if _OUT_OF_MEMORY.search(line)), text.splitlines()[0])
    raise DoesNotFitError(f"the {label} does not fit on {where}: XLA says "
                          f"{reason}") from e
  finally:
    stop()
  seconds = time.perf_counter() - started
  progress(f"{label}: compiled in {seconds:.1f} s")
  return CompiledStep(label, CompiledMemory.of(compiled),
                      count_collectives(compiled.as_text()), seconds)
