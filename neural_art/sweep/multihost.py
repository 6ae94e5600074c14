"""One sweep over several processes (``jax.distributed``): every process computes,
process 0 decides and writes.

A pod slice's workers need not share a filesystem, so process 0 alone reads the
output directory (what is finished, the recorded plan) and :func:`on_main` hands
its answer to every process; each chunk's images are all-gathered to every process
(:func:`neural_art.sweep.engine.sweep_chunks` with ``gather=True``) and process 0 writes
them, the manifest, the gallery and the grids: one output directory, as a
one-process run writes it. A failure on process 0 is told to every process at the
next :func:`on_main`, so all of them stop instead of waiting on a collective.

Starting the processes: on a TPU pod slice (or under SLURM / Open MPI)
``jax.distributed.initialize()`` finds everything itself; elsewhere set, on each
process, ``JAX_COORDINATOR_ADDRESS=host:port`` (process 0's machine),
``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID`` (:func:`initialize`). CPU processes
talk through gloo (``jax_cpu_collectives_implementation``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
from neural_art.errors import UserError

ENV = ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID")


class PeerError(UserError):
    """Process 0 failed; this process stops with it (process 0 prints the cause)."""


def initialize() -> None:
    """``jax.distributed.initialize`` from the cluster (TPU, SLURM, Open MPI) or from
    the ``JAX_COORDINATOR_ADDRESS`` / ``JAX_NUM_PROCESSES`` / ``JAX_PROCESS_ID``
    environment (all three, or none)."""
    given = [k for k in ENV if os.environ.get(k)]
    kw = {}
    if given:
        if len(given) != len(ENV):
            missing = ", ".join(k for k in ENV if k not in given)
            raise UserError(f"--multihost: {', '.join(given)} set but not {missing} (set all three)")
        try:
            kw = {"num_processes": int(os.environ["JAX_NUM_PROCESSES"]),
                  "process_id": int(os.environ["JAX_PROCESS_ID"])}  # fmt: skip
        except ValueError:
            raise UserError("--multihost: JAX_NUM_PROCESSES and JAX_PROCESS_ID must be integers") from None
    if getattr(jax.config, "jax_cpu_collectives_implementation", "gloo") is None:  # older jax: none
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        jax.distributed.initialize(**kw)
    except ValueError as e:  # no cluster found and nothing set
        raise UserError(f"--multihost: {str(e).rstrip('.')}; set JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and "
                        "JAX_PROCESS_ID (or run on a TPU pod, SLURM or Open MPI)") from e


def is_main() -> bool:
    return jax.process_index() == 0


def _broadcast_text(text: str) -> str:
    """Process 0's ``text`` on every process (two broadcasts; lengths padded to a
    power of two so the collective compiles a handful of shapes, not one per length)."""
    data = text.encode()
    n = int(multihost_utils.broadcast_one_to_all(np.int32(len(data))))
    size = max(256, 1 << (n - 1).bit_length())
    buf = np.zeros(size, np.uint8)
    if is_main():
        buf[:n] = np.frombuffer(data, np.uint8)
    return bytes(np.asarray(multihost_utils.broadcast_one_to_all(buf))[:n]).decode()


def on_main(fn: Callable[[], object], *, share: bool = False):
    """Runs ``fn`` on process 0 only. Every process calls this at the same point:
    if ``fn`` raised, it is re-raised on process 0 and a :class:`PeerError` on the
    others; else process 0 gets ``fn()`` and the others ``None`` (with ``share``:
    process 0's result, which must be JSON, on every process). One process:
    just ``fn()``."""
    if jax.process_count() == 1:
        return fn()
    result, err = None, None
    if is_main():
        try:
            result = fn()
        except Exception as e:  # told to every process, then re-raised here
            err = e
    msg = ""
    if is_main():
        msg = json.dumps({"error": f"{type(err).__name__}: {err}"} if err is not None
                         else {"result": result if share else None})  # fmt: skip
    got = json.loads(_broadcast_text(msg))
    if err is not None:
        raise err
    if "error" in got:
        raise PeerError(f"process 0 stopped the sweep ({got['error']})")
    return result if is_main() else got["result"]


def replicated(tree, mesh: jax.sharding.Mesh):
    """``tree`` on every device of ``mesh``; on a multi-host mesh each process
    gives its own copy (the same values on every process: same weights, same keys)."""
    repl = NamedSharding(mesh, P())
    if repl.is_fully_addressable:
        return jax.device_put(tree, repl)

    def one(x):
        if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            return jax.random.wrap_key_data(one(jax.random.key_data(x)), impl=jax.random.key_impl(x))
        host = np.asarray(x)
        return jax.make_array_from_callback(host.shape, repl, lambda idx: host[idx])

    return jax.tree.map(one, tree)
