"""The XLA CPU setting convlab's entry points (the CLI, its pytest plugin, the notebooks' test
runner) make before JAX creates its CPU client; the library itself never calls it.

jaxlib's batched LAPACK kernels (qr, eigh, svd, LU, triangular solves under ``vmap``) split a
large batch into chunks on XLA's intra-op thread pool and wait for them from a pool thread. When
as many such kernels run at once as the pool has threads, every thread waits and the process
hangs for ever: seen on this project's 2-core machine (pool of 2) in a sweep whose generator
draws two random orthogonal matrices and in the matrix-sensing local-rate maps; gdb shows both
``tf_XLAEigen`` threads in ``jax::ParallelBatchMap`` → ``BlockingCounter::Wait``. With a pool of
one thread the kernels run their batch inline (``GetLapackBatchChunkSize``: ``num_threads <= 1``)
and cannot wait on each other. The pool sizes itself from the process's CPU affinity when the
client is created, so :func:`avoid_lapack_pool_hang` narrows the affinity to one CPU for that
moment and restores it for every thread afterwards (the pool's thread then runs on any CPU).
``--xla_cpu_multi_thread_eigen=false`` does not shrink that pool (measured).
"""

from __future__ import annotations

import os

MAX_CPUS = 4   # at most this many CPUs: a handful of concurrent batched kernels fill the pool
OPT_OUT = "CONVLAB_KEEP_XLA_POOL"   # set to 1 to keep XLA's own pool size


def avoid_lapack_pool_hang() -> bool:
    """Create JAX's CPU client with a one-thread intra-op pool on machines with at most
    ``MAX_CPUS`` CPUs (unless ``CONVLAB_KEEP_XLA_POOL=1``); True if it did. Call it before the
    first computation: a client that exists already is left as it is."""
    from jax._src import xla_bridge

    if os.environ.get(OPT_OUT) == "1" or not hasattr(os, "sched_setaffinity"):
        return False
    cpus = os.sched_getaffinity(0)
    if len(cpus) > MAX_CPUS or xla_bridge.backends_are_initialized():
        return False
    import jax

    os.sched_setaffinity(0, {min(cpus)})
    try:
        jax.devices("cpu")
    finally:
        for task in os.listdir("/proc/self/task"):
            try:
                os.sched_setaffinity(int(task), cpus)
            except OSError:   # a thread that ended meanwhile
                pass
    return True
