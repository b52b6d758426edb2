"""A log-spectrum quadratic: f(x) = 1/2 sum_i d_i (x_i - x*_i)^2, d log-spaced in [mu, L]."""

import jax
import jax.numpy as jnp

import convlab


@convlab.problem_dataclass
class LogSpectrumQuadratic:
    d: jax.Array        # the Hessian's eigenvalues
    x_star: jax.Array   # the minimizer; f* = 0

    @property
    def L(self):
        return jnp.max(self.d)

    def loss(self, x):
        return 0.5 * jnp.sum(self.d * (x - self.x_star) ** 2)

    def grad(self, x):
        return self.d * (x - self.x_star)


def make_log_spectrum(key, *, dim=50, L=1.0, mu=1e-6):
    """Eigenvalues log-spaced in [mu, L]; x* ~ N(0, I). Bad sizes raise naming the argument."""
    if not isinstance(dim, int) or dim < 2:
        raise ValueError(f"dim must be an int >= 2, got {dim!r}")
    if not 0 < mu < L < float("inf"):
        raise ValueError(f"need 0 < mu < L < inf, got mu={mu!r}, L={L!r}")
    d = jnp.logspace(jnp.log10(mu), jnp.log10(L), dim)
    return LogSpectrumQuadratic(d, jax.random.normal(key, (dim,)))


def gap(problem, x):
    """The metric f(x) - f*."""
    return problem.loss(x)
