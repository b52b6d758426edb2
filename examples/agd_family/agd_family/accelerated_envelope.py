"""agd.accelerated-envelope: f(x_k) - f* <= 2L||x0 - x*||^2/(k+1)^2. Beck & Teboulle, Thm 4.4."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

import convlab
from agd_family import method, problem
from theory_checks import kinds

ID, KIND = "agd.accelerated-envelope", "envelope"
CITATION = "Beck & Teboulle, SIAM J. Imaging Sci. 2 (2009), Thm 4.4"
STATEMENT = "AGD, h = 1/L: f(x_k) - f* <= 2L||x0 - x*||^2/(k+1)^2 for every k"
SIZES = {"quick": dict(dim=50, num_steps=300, num_seeds=4),
         "full": dict(dim=500, num_steps=10_000, num_seeds=16)}


@dataclasses.dataclass(frozen=True)
class Evidence:
    k: np.ndarray        # [records]
    gap: np.ndarray      # [seeds, records]
    bound: np.ndarray    # [seeds, records]


def _run(key, hparams, *, dim, num_steps):  # one seed: its own instance, AGD at h = 1/L
    p = problem.make_log_spectrum(key, dim=dim)
    trace = convlab.run(method.nesterov(1 / p.L), p, jnp.zeros(dim), key=key,
                        num_steps=num_steps, metrics={"gap": problem.gap})
    return trace, 2 * p.L * jnp.sum(p.x_star**2) / (trace.k + 1) ** 2


def measure(*, dim, num_steps, num_seeds):
    keys = jax.random.split(jax.random.key(0), num_seeds)
    trace, bound = convlab.sweep(_run, keys, static=dict(dim=dim, num_steps=num_steps))
    return Evidence(np.asarray(trace.k[0]), np.asarray(trace["gap"]), np.asarray(bound))


def judge(ev):
    return kinds.envelope(ev.gap, ev.bound, k=ev.k, predicted="2L||x0 - x*||^2/(k+1)^2")


def draw(ev, verdict, fig):
    fig.axes[0].loglog(ev.k[1:], ev.gap[:, 1:].T, "C0", ev.k[1:], ev.bound[0, 1:], "k--")


def negative_controls(ev):  # a claimed rate one power faster must be caught
    yield "bound 2L r^2/(k+1)^3", dataclasses.replace(ev, bound=ev.bound / (ev.k + 1))
