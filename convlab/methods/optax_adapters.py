"""Adapters between convlab methods and ``optax.GradientTransformation``.

``from_optax`` runs any optax optimizer on any convlab problem; ``as_optax`` exposes a convlab
gradient method to optax-based training code.

``from_optax(factory, **arguments)`` sorts the arguments: real numbers (floats, float arrays)
are the method's hyperparameters, pytree leaves that a ``sweep`` can vary without recompiling;
everything else (booleans such as ``nesterov=True``, integers such as ``memory_size=5``,
strings, ``None``, schedules and other callables, nested transformations) is a static option,
part of the compiled program. So ``learning_rate=0.1`` is sweepable and ``learning_rate=1`` (an
int) is not: write ``1.0`` to sweep it. Transformations that want the objective (``optax.lbfgs``
and its line search) get ``value``, ``grad`` and ``value_fn`` from ``problem.loss``; the line
search's evaluations are counted as oracle calls.
"""

from __future__ import annotations

import inspect
import numbers
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from convlab.methods.base import Method, make_method
from convlab.problem import oracle_cost

__all__ = ["FromOptaxState", "from_optax", "as_optax"]


class FromOptaxState(NamedTuple):
    """State of a wrapped optax optimizer: ``count``, ``params`` and the optax ``opt_state``."""

    count: jax.Array
    params: Any
    opt_state: Any


def _transformation(method: Method) -> optax.GradientTransformation:
    factory = method.option("factory")
    if isinstance(factory, optax.GradientTransformation):
        return factory  # a ready transformation
    return factory(**method.hparams, **dict(method.option("static")))


def _from_optax_init(method: Method, params: Any) -> FromOptaxState:
    return FromOptaxState(jnp.zeros((), jnp.int32), params, _transformation(method).init(params))


def _from_optax_step(method: Method, key: jax.Array, state: FromOptaxState, problem: Any):
    del key
    tx = _transformation(method)
    grad = problem.grad(state.params)
    extra = {}
    if method.option("wants_value"):
        extra = {"value": problem.loss(state.params), "grad": grad, "value_fn": problem.loss}
    updates, opt_state = tx.update(grad, state.opt_state, state.params, **extra)
    params = optax.apply_updates(state.params, updates)
    calls = jnp.asarray(1, jnp.int32)
    if extra:  # a line search evaluated value_fn (and its gradient) this many more times
        steps = optax.tree_utils.tree_get(opt_state, "num_linesearch_steps", default=None)
        if steps is not None:
            calls = calls + jnp.asarray(steps, jnp.int32)
    info = {"oracle_calls": calls * oracle_cost(problem)}
    return FromOptaxState(state.count + 1, params, opt_state), info


def _is_sweepable(value: Any) -> bool:
    """A real number or a float array (or a tracer): a hyperparameter leaf."""
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, (float, np.floating)):
        return True
    if isinstance(value, (np.ndarray, jax.Array)):
        return jnp.issubdtype(value.dtype, jnp.floating)
    return False


def _check_arguments(factory: Callable, name: str, arguments: dict[str, Any]) -> None:
    """Unknown or missing arguments, named before anything is built."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # a builtin or C callable: nothing to check
        return
    try:
        signature.bind(**arguments)
    except TypeError as err:
        takes = ", ".join(p for p in signature.parameters if p not in ("args", "kwargs"))
        unknown = [a for a in arguments if a not in signature.parameters]
        if unknown and not any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
            raise TypeError(f"from_optax({name}): unknown argument {unknown[0]!r}; {name} takes "
                            f"{takes}") from None
        raise TypeError(f"from_optax({name}): {err}; {name} takes {takes}") from None


def from_optax(tx: optax.GradientTransformation | Callable[..., optax.GradientTransformation],
               **arguments: Any) -> Method:
    """Wrap an optax optimizer as a convlab :class:`Method` using ``problem.grad``.

    Pass either a ready transformation (``from_optax(optax.sgd(0.1))``; its hyperparameters are
    baked in) or a factory with keyword arguments (``from_optax(optax.sgd, learning_rate=0.1,
    momentum=0.9, nesterov=True)``): real-number arguments become traceable hyperparameters
    (sweepable, no recompilation), the others static options (see the module docstring).

    Raises:
      TypeError: ``tx`` is neither a transformation nor a factory, arguments come with a ready
        transformation, an argument is unknown to the factory (named) or unhashable.
      ValueError/TypeError: the factory rejects the arguments (the error names the factory and
        the arguments it was called with).
    """
    if isinstance(tx, optax.GradientTransformation):
        if arguments:
            raise TypeError("from_optax: hyperparameters go with a factory such as optax.adam, "
                            "not with a ready GradientTransformation (tx)")
        built, hparams, static = tx, {}, ()
    elif not callable(tx):
        raise TypeError(f"from_optax: tx must be an optax GradientTransformation or a factory, got {tx!r}")
    name = getattr(tx, "__name__", getattr(getattr(tx, "func", None), "__name__", "optax"))
    if not isinstance(tx, optax.GradientTransformation):
        _check_arguments(tx, name, arguments)
        hparams = {k: v for k, v in arguments.items() if _is_sweepable(v)}
        static = tuple(sorted((k, v) for k, v in arguments.items() if k not in hparams))
        for arg, value in static:
            try:
                hash(value)
            except TypeError:
                raise TypeError(f"from_optax({name}): argument {arg!r} = {value!r} is neither a "
                                f"real number (a sweepable hyperparameter) nor hashable (a static "
                                f"option); pass a tuple instead of a list") from None
        try:
            built = tx(**arguments)
        except (TypeError, ValueError) as err:
            shown = ", ".join(f"{k}={v!r}" for k, v in arguments.items())
            raise type(err)(f"from_optax({name}): {name}({shown}) failed: {err}") from err
        if not isinstance(built, optax.GradientTransformation):
            raise TypeError(f"from_optax({name}): the factory returned {type(built).__name__}, "
                            "not an optax GradientTransformation")
    wants_value = _wants_value(built)
    return make_method(f"optax.{name}", _from_optax_init, _from_optax_step,
                       options={"factory": tx, "static": static, "wants_value": wants_value},
                       **hparams)


def _wants_value(tx: optax.GradientTransformation) -> bool:
    """Whether ``tx.update`` requires ``value``/``value_fn`` (a line search such as lbfgs')."""
    if not isinstance(tx, optax.GradientTransformationExtraArgs):
        return False
    x = jnp.zeros(1)
    try:
        jax.eval_shape(lambda p: tx.update(p, tx.init(p), p), x)
    except Exception:  # noqa: BLE001 - missing value/value_fn shows up as any error here
        try:
            jax.eval_shape(lambda p: tx.update(p, tx.init(p), p, value=jnp.sum(p), grad=p,
                                               value_fn=jnp.sum), x)
        except Exception:  # noqa: BLE001 - it fails for another reason: let it surface at run
            return False
        return True
    return False


class _GradientAtIterate:
    """The stand-in problem ``as_optax`` steps on: its only oracle is the gradient at the
    current iterate, given by optax; anything else the method asks for is recorded."""

    def __init__(self, gradient: Any, iterate: Any) -> None:
        self._gradient, self._iterate = gradient, iterate
        self.misuse: list[str] = []
        self.calls = 0

    def grad(self, params: Any) -> Any:
        self.calls += 1
        if params is not self._iterate:
            self.misuse.append("problem.grad at a point other than the current iterate")
        elif self.calls > 1:
            self.misuse.append("problem.grad more than once per step")
        return self._gradient

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name == "n_components":
            raise AttributeError(name)
        self.misuse.append(f"problem.{name}")
        raise AttributeError(f"as_optax: the method asked for problem.{name}")


def _refuse(method: Method, what: str) -> ValueError:
    return ValueError(f"as_optax({method.name}): the update needs {what}, not only the gradient "
                      "at the current iterate that optax provides; run it with convlab.run on a "
                      "problem instead")


def as_optax(method: Method) -> optax.GradientTransformation:
    """Expose a convlab gradient method as an ``optax.GradientTransformation``.

    Valid for methods whose step queries the gradient once, at the current iterate (``gd`` and
    ``from_optax`` methods): the incoming ``updates`` are taken to be that gradient. ``update``
    needs ``params``; the returned updates are ``new_params - params``. A method that needs
    anything else (an operator, a loss, a gradient at an extrapolated point, a stochastic
    oracle, or a state without ``params``) is refused with a ``ValueError`` when ``init`` or
    ``update`` is first called (``update`` checks while tracing, so also under ``jit``),
    rather than silently running another algorithm.
    """
    if not isinstance(method, Method):
        raise TypeError(f"as_optax: method must be a convlab Method, got {type(method).__name__}")

    def init_fn(params: Any) -> NamedTuple:
        state = method.init(params)
        if not (hasattr(state, "_replace") and "params" in getattr(state, "_fields", ())
                and "count" in state._fields):
            raise _refuse(method, "a state without the `params`/`count` fields of the Method contract")
        return state

    def update_fn(updates: Any, state: NamedTuple, params: Any = None):
        if params is None:
            raise ValueError(f"as_optax({method.name}): update needs params")
        state = state._replace(params=params)
        key = jax.random.fold_in(jax.random.key(0), state.count)
        oracle = _GradientAtIterate(updates, state.params)
        try:
            new_state, _ = method.step(key, state, oracle)
        except AttributeError:
            if oracle.misuse:
                raise _refuse(method, oracle.misuse[0]) from None
            raise
        if oracle.misuse:
            raise _refuse(method, oracle.misuse[0])
        if oracle.calls == 0:
            raise _refuse(method, "no gradient at all (it never called problem.grad)")
        return jax.tree.map(jnp.subtract, new_state.params, params), new_state

    return optax.GradientTransformation(init_fn, update_fn)
