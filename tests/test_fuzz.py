"""Issue 15: a bounded randomized fuzz (fixed seed, seconds) of every ``make_*`` and of
``convlab run --set``: bad input raises TypeError/ValueError naming the argument (CLI: exit 2,
one line), never a raw numpy/jax traceback."""

from __future__ import annotations

import importlib
import inspect
import pathlib
import random

import jax
import numpy as np
import pytest

import problems
from theory_checks import cli, registry

MODULES = sorted(path.stem for path in pathlib.Path(problems.__file__).parent.glob("*.py")
                 if not path.stem.startswith("_"))   # every family's generators, new ones too
GOOD = {"dim": 3, "n": 4, "r": 1, "k": 1, "num_measurements": 30, "n_components": 4,
        "num_samples": 5, "num_steps": 5, "mu": 0.1, "L": 1.0, "m": 2, "dim_x": 2, "dim_y": 2,
        "n1": 4, "n2": 4, "rank": 1, "singular_values": (2.0, 1.0)}
BAD = [None, "x", True, float("nan"), float("inf"), -float("inf"), 1e308, np.ones(3), [1.0, "a"]]
BAD_KEYS = [jax.random.PRNGKey(0), np.zeros(2, np.uint32), 0, None, "key"]


def _generators():
    for name in MODULES:
        module = importlib.import_module(f"problems.{name}")
        for attr in sorted(dir(module)):
            if attr.startswith("make_") and inspect.isfunction(getattr(module, attr)):
                yield f"{name}.{attr}", getattr(module, attr)


GENERATORS = list(_generators())


def _numeric_params(fn):
    params = inspect.signature(fn).parameters
    return [p for p in params.values()
            if p.name != "key" and str(p.annotation).split("|")[0].strip() in ("int", "float")]


@pytest.mark.parametrize("label,fn", GENERATORS, ids=[g[0] for g in GENERATORS])
def test_fuzz_generators(label, fn):
    rng = random.Random(15)
    params = inspect.signature(fn).parameters
    required = {p.name: GOOD.get(p.name) for p in params.values()
                if p.name != "key" and p.default is p.empty and p.kind is p.KEYWORD_ONLY}
    missing = [name for name, value in required.items() if value is None]
    assert not missing, f"{label}: add a valid value of {missing} to GOOD in tests/test_fuzz.py"
    for bad_key in BAD_KEYS:
        with pytest.raises(TypeError, match="key"):
            fn(bad_key, **required)
    numeric = _numeric_params(fn)
    for _ in range(12 if numeric else 0):
        param = rng.choice(numeric)
        bad = rng.choice(BAD)
        if bad is None and param.default is None:
            continue
        if bad is True and "int" not in str(param.annotation) and "float" not in str(param.annotation):
            continue
        with pytest.raises((TypeError, ValueError), match=param.name):
            fn(jax.random.key(0), **{**required, param.name: bad})


BAD_TEXT = ["nan", "inf", "-inf", "abc", "", "1e999", "-1e300", "1.5.2", "None", "[1]"]


@pytest.mark.parametrize("family", MODULES)
def test_fuzz_run_settings(family, capsys, tmp_path):
    rng = random.Random(hash(family) % 1000 + 15)
    keys = sorted(registry.experiment(family).defaults)
    for _ in range(15):
        key, text = rng.choice(keys), rng.choice(BAD_TEXT)
        code = cli.main(["run", family, "--out", str(tmp_path / "s"), "--set", f"{key}={text}"])
        err = capsys.readouterr().err.strip()
        assert code == 2, (key, text, err)
        assert len(err.splitlines()) == 1 and "Traceback" not in err and key in err, (key, text, err)
