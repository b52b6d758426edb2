"""convlab.xla_cpu: on small machines the entry points create JAX's CPU client with a one-thread
intra-op pool (batched LAPACK kernels otherwise hang waiting on each other), and give every
thread its CPUs back afterwards."""

import os
import subprocess
import sys

import pytest

from convlab import xla_cpu

CODE = """
import glob, os, jax, jax.numpy as jnp
from convlab import xla_cpu
print(xla_cpu.avoid_lapack_pool_hang())
jax.block_until_ready(jax.jit(jax.vmap(jnp.linalg.qr))(jnp.ones((16, 60, 60))))
names = [open(f + "/comm").read().strip() for f in glob.glob(f"/proc/{os.getpid()}/task/*")]
print(names.count("tf_XLAEigen"))
print(all(len(os.sched_getaffinity(int(t))) == len(os.sched_getaffinity(0))
          for t in os.listdir("/proc/self/task")), len(os.sched_getaffinity(0)))
"""

small = pytest.mark.skipif(not hasattr(os, "sched_getaffinity")
                           or len(os.sched_getaffinity(0)) > xla_cpu.MAX_CPUS,
                           reason="applies to machines with at most MAX_CPUS CPUs")


def _run(**env):
    proc = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **env})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


@small
def test_one_thread_pool_and_every_thread_gets_its_cpus_back():
    applied, pool, restored, cpus = _run()
    assert (applied, pool, restored) == ("True", "1", "True")
    assert int(cpus) == len(os.sched_getaffinity(0))


@small
def test_opt_out_keeps_xlas_own_pool():
    applied, pool, _, _ = _run(**{xla_cpu.OPT_OUT: "1"})
    assert applied == "False" and int(pool) == len(os.sched_getaffinity(0))


def test_a_client_that_exists_already_is_left_alone():
    # the plugin created this process's client at start-up; a second call changes nothing
    assert xla_cpu.avoid_lapack_pool_hang() is False
