"""The XLA CPU setting every convlab entry point (CLI, scripts, tests' conftest, benchmarks) makes
before JAX starts its backend; the library itself never changes it.

XLA CPU's batched LAPACK kernels (``eigh``/``eigvalsh`` under ``vmap``) split their batch over the
intra-op thread pool they run on and wait for the parts: when as many of them run at once as the
pool has threads, every thread waits and the process hangs for ever (seen on this project's
2-core machine in the matrix-sensing local-rate measurement; gdb: both ``tf_XLAEigen`` threads
in ``jax::ParallelBatchMap`` → ``BlockingCounter::Wait``). ``--xla_cpu_multi_thread_eigen=false``
runs those kernels on the calling thread, which cannot starve.
"""

from __future__ import annotations

import os

FLAG = "--xla_cpu_multi_thread_eigen=false"


def avoid_pool_deadlock() -> None:
    """Add :data:`FLAG` to ``XLA_FLAGS`` unless the user set ``xla_cpu_multi_thread_eigen``
    already. Takes effect only if called before JAX's CPU backend is created (first computation)."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_multi_thread_eigen" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {FLAG}".strip()
