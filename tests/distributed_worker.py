"""One process of the two-process sweep in tests/test_distributed.py.

``python tests/distributed_worker.py PROCESS_ID PORT ROOT``: joins ``jax.distributed`` on
loopback (2 processes, CPU), runs its ``host_slice`` share of the seeds of a small GD sweep on
``problems.classical.make_smooth_convex`` and saves it to its own ``Store`` root.
"""

import sys

import jax
import jax.numpy as jnp
import numpy as np

NUM_SEEDS = 6
GRID = {"h": np.array([0.5, 1.0, 1.5])}


def make_run(key, hparams):
    """GD with step h / L on a random smooth convex problem drawn from the key."""
    import convlab
    from problems.classical import make_smooth_convex

    k_problem, k_run = jax.random.split(key)
    problem = make_smooth_convex(k_problem, num_samples=5, dim=8)
    gap = lambda p, x: p.loss(x) - p.f_star
    return convlab.run(convlab.gd(hparams["h"] / problem.L), problem, problem.x0, key=k_run,
                       num_steps=40, record_every=10, metrics={"gap": gap})


def config(share: slice) -> dict:
    return {"experiment": "two-process", "seeds": [share.start, share.stop]}


def main(process_id: int, port: int, root: str) -> None:
    jax.config.update("jax_enable_x64", True)
    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=2,
                               process_id=process_id)
    print("distributed started", flush=True)
    import convlab
    from convlab.sweep import host_slice

    assert (jax.process_count(), jax.process_index()) == (2, process_id)
    keys = jax.random.split(jax.random.key(0), NUM_SEEDS)
    share = host_slice(len(keys))
    traces = convlab.sweep(make_run, keys[share], GRID)
    convlab.Store(root).save(config(share), traces, extra={"process": process_id})
    jax.distributed.shutdown()
    print(f"process {process_id}: seeds {share.start}:{share.stop} saved", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
