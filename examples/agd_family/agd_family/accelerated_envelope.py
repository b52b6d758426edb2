"""agd.accelerated-envelope: f(x_k) - f* <= 2L||x0 - x*||^2/(k+1)^2. Beck & Teboulle, Thm 4.4."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

import convlab
from agd_family.method import nesterov
from agd_family.problem import gap, make_log_spectrum
from theory_checks import kinds

ID, KIND = "agd.accelerated-envelope", "envelope"
CITATION = "Beck & Teboulle, SIAM J. Imaging Sci. 2 (2009), Thm 4.4"
STATEMENT = "AGD, h = 1/L: f(x_k) - f* <= 2L||x0 - x*||^2/(k+1)^2 for every k"
SIZES = {"quick": dict(dim=50, num_steps=300, num_seeds=4),
         "full": dict(dim=500, num_steps=10000, num_seeds=16)}


@dataclasses.dataclass(frozen=True)
class Evidence:
    k: np.ndarray        # [records]
    gap: np.ndarray      # [seeds, records]
    bound: np.ndarray    # [seeds, records]


def _run(key, hparams, *, dim, num_steps):
    problem = make_log_spectrum(key, dim=dim)
    trace = convlab.run(nesterov(1 / problem.L), problem, jnp.zeros(dim), key=key,
                        num_steps=num_steps, metrics={"gap": gap})
    return trace, 2 * problem.L * jnp.sum(problem.x_star**2) / (trace.k + 1) ** 2


def measure(*, dim, num_steps, num_seeds):
    keys = jax.random.split(jax.random.key(0), num_seeds)
    trace, bound = convlab.sweep(_run, keys, static=dict(dim=dim, num_steps=num_steps))
    return Evidence(np.asarray(trace.k[0]), np.asarray(trace["gap"]), np.asarray(bound))


def judge(ev):
    return kinds.envelope(ev.gap, ev.bound, k=ev.k, predicted="2L||x0 - x*||^2/(k+1)^2")


def draw(ev, verdict, fig):
    ax = fig.axes[0]
    ax.loglog(ev.k[1:], ev.gap[:, 1:].T, color="C0", alpha=0.6)
    ax.loglog(ev.k[1:], ev.bound[0, 1:], "k--", label="bound")
    ax.set(xlabel="k", ylabel="f(x_k) - f*", title=f"{ID}: {verdict.status}")


def negative_controls(ev):
    yield "a rate one power faster, 1/(k+1)^3", dataclasses.replace(ev, bound=ev.bound / (ev.k + 1))
