"""Tests of the results store: round trips, keys, provenance, interruption and merging."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import convlab
from convlab.store import Store


@convlab.problem_dataclass
class Quadratic:
    """f(x) = 0.5 * sum(d * x**2)."""

    d: jax.Array

    def loss(self, x):
        return 0.5 * jnp.sum(self.d * x**2)

    def grad(self, x):
        return self.d * x


def _loss(problem, x):
    return problem.loss(x)


def _error(problem, x):
    return jnp.linalg.norm(x)


def _tiny_trace(key):
    problem = Quadratic(d=jnp.array([1.0, 0.5, 0.1]))
    return convlab.run(convlab.gd(0.5), problem, jnp.ones(3), key=key, num_steps=20,
                       record_every=2, metrics={"loss": _loss, "error": _error})


def _assert_arrays_equal(got, want):
    assert sorted(got) == sorted(want)
    for name in want:
        assert got[name].dtype == want[name].dtype, name
        np.testing.assert_array_equal(got[name], want[name], strict=True)


def test_trace_round_trip_is_bitwise(tmp_path, key):
    trace = _tiny_trace(key)
    store = Store(tmp_path / "store")
    config = {"problem": "quadratic", "method": "gd", "step_size": 0.5, "seed": 0}
    assert not store.has(config)
    path = store.save(config, trace, extra={"note": "tiny"})
    assert path == store.path(config) and (path / "trace.npz").is_file()
    assert store.has(config)
    loaded = store.load(config)
    assert isinstance(loaded, convlab.Trace)
    assert loaded.metrics.keys() == trace.metrics.keys()
    _assert_arrays_equal(loaded.to_arrays(), trace.to_arrays())
    assert loaded["loss"].dtype == np.float64
    # the npz opens with plain NumPy
    with np.load(path / "trace.npz") as npz:
        np.testing.assert_array_equal(npz["metric/error"], np.asarray(trace["error"]))


def test_dict_round_trip_and_manifest(tmp_path):
    store = Store(tmp_path)
    arrays = {"x": np.arange(5, dtype=np.int32), "y": np.linspace(0, 1, 7).reshape(7, 1)}
    config = {"name": "arrays", "n": np.int64(5), "grid": np.array([0.1, 0.2])}
    store.save(config, arrays, extra={"seconds": 1.5})
    loaded = store.load(config)
    assert isinstance(loaded, dict)
    _assert_arrays_equal(loaded, arrays)

    manifest = store.manifest(config)
    assert manifest["key"] == store.key(config)
    assert manifest["config"] == {"name": "arrays", "n": 5, "grid": [0.1, 0.2]}
    assert manifest["kind"] == "arrays" and manifest["extra"] == {"seconds": 1.5}
    assert manifest["created"].endswith("+00:00")
    prov = manifest["provenance"]
    assert set(prov) == {"convlab_version", "git_commit", "git_dirty", "jax_version", "device", "precision",
                         "host"}
    assert prov["convlab_version"] == convlab.__version__
    assert prov["jax_version"] == jax.__version__
    assert prov["precision"] == "float64"  # conftest enables x64
    assert prov["device"].startswith(jax.devices()[0].platform)
    assert prov["git_commit"] is None or len(prov["git_commit"]) == 40
    assert list(store.entries()) == [manifest]


def test_key_is_canonical(tmp_path):
    store = Store(tmp_path)
    a = {"method": "gd", "hp": {"step": 0.1, "decay": 2}, "seeds": [0, 1]}
    b = {"seeds": (0, 1), "hp": {"decay": np.int32(2), "step": np.float64(0.1)}, "method": "gd"}
    assert store.key(a) == store.key(b)
    assert len(store.key(a)) == 16 and int(store.key(a), 16) >= 0
    assert store.key(a) != store.key({**a, "method": "halpern"})
    assert store.key(a) != store.key({**a, "hp": {"step": 0.2, "decay": 2}})
    assert store.path(a) == tmp_path / store.key(a)


@pytest.mark.parametrize("config", [[1, 2], "gd", None])
def test_config_not_a_dict(tmp_path, config):
    with pytest.raises(TypeError, match="config"):
        Store(tmp_path).key(config)


@pytest.mark.parametrize("config", [{"f": print}, {"x": float("nan")}, {1: "a"},
                                    {"a": {"b": object()}}])
def test_config_not_jsonable(tmp_path, config):
    with pytest.raises(TypeError, match="config"):
        Store(tmp_path).save(config, {"x": np.zeros(1)})
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("result", [np.zeros(3), [1, 2], {}, {"x": np.array([object()])}])
def test_bad_result(tmp_path, result):
    store = Store(tmp_path)
    with pytest.raises(TypeError, match="result"):
        store.save({"a": 1}, result)
    assert not store.has({"a": 1})


def test_missing_entry_raises_key_error(tmp_path):
    store = Store(tmp_path)
    config = {"a": 1}
    with pytest.raises(KeyError, match=store.key(config)):
        store.load(config)
    with pytest.raises(KeyError, match=store.key(config)):
        store.manifest(config)
    assert list(store.entries()) == []


def test_get_or_compute_computes_once(tmp_path, key):
    store = Store(tmp_path)
    calls = []

    def compute():
        calls.append(1)
        return _tiny_trace(key)

    config = {"problem": "quadratic", "seed": 0}
    first = store.get_or_compute(config, compute, extra={"run": 1})
    second = store.get_or_compute(config, compute)
    assert len(calls) == 1
    _assert_arrays_equal(second.to_arrays(), first.to_arrays())
    assert store.manifest(config)["extra"] == {"run": 1}
    # a second Store on the same root (a re-run of a script) reuses the entry too
    Store(tmp_path).get_or_compute(config, compute)
    assert len(calls) == 1


def test_map_resumes(tmp_path):
    store = Store(tmp_path)
    configs = [{"i": i} for i in range(5)]
    computed = []

    def compute(config):
        computed.append(config["i"])
        return {"v": np.full(3, float(config["i"]))}

    store.save(configs[2], compute(configs[2]))
    computed.clear()
    results = store.map(configs, compute)
    assert computed == [0, 1, 3, 4]
    assert [r["v"][0] for r in results] == [0, 1, 2, 3, 4]
    with pytest.raises(TypeError, match="config"):
        store.map([{"i": 9}, "bad"], compute)
    assert computed == [0, 1, 3, 4]  # validated before computing anything


@pytest.mark.parametrize("fail_at", [1, 2])
def test_write_failing_midway_leaves_no_complete_entry(tmp_path, monkeypatch, fail_at):
    """The 1st os.replace publishes trace.npz, the 2nd the manifest; fail either one."""
    store = Store(tmp_path)
    config = {"a": 1}
    real_replace = os.replace
    calls = []

    def flaky_replace(src, dst):
        calls.append(dst)
        if len(calls) == fail_at:
            raise OSError("disk full")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", flaky_replace)
    with pytest.raises(OSError, match="disk full"):
        store.save(config, {"x": np.arange(4.0)})
    monkeypatch.undo()
    assert not store.has(config)
    assert list(store.entries()) == []
    with pytest.raises(KeyError):
        store.load(config)
    assert not list(store.path(config).glob("*.tmp"))  # the failed temp file was removed

    store.save(config, {"x": np.arange(4.0) + 1})
    assert store.has(config)
    np.testing.assert_array_equal(store.load(config)["x"], np.arange(4.0) + 1)


def test_savez_failing_midway_on_overwrite(tmp_path, monkeypatch):
    """A half-written archive replacing a complete entry: the entry is no longer complete."""
    store = Store(tmp_path)
    config = {"a": 1}
    store.save(config, {"x": np.zeros(2)})

    def broken_savez(file, **arrays):
        file.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(KeyboardInterrupt):
        store.save(config, {"x": np.ones(2)})
    monkeypatch.undo()
    assert not store.has(config)
    np.testing.assert_array_equal(store.get_or_compute(config, lambda: {"x": np.ones(2)})["x"],
                                  np.ones(2))
    assert store.has(config)


def test_stray_temp_files_are_cleaned(tmp_path):
    store = Store(tmp_path)
    config = {"a": 1}
    entry = store.path(config)
    entry.mkdir(parents=True)
    (entry / ".trace.npz.abc123.tmp").write_bytes(b"junk")
    (entry / "trace.npz").write_bytes(b"truncated")  # no manifest: incomplete
    assert not store.has(config) and list(store.entries()) == []
    store.save(config, {"x": np.arange(3)})
    assert sorted(p.name for p in entry.iterdir()) == ["manifest.json", "trace.npz"]
    np.testing.assert_array_equal(store.load(config)["x"], np.arange(3))


# Shared by the killed subprocess and the in-process resume: 200 configs, ~10 ms each, 1 MB each.
_SWEEP_SOURCE = textwrap.dedent("""
    import time
    import numpy as np

    CONFIGS = [{"sweep": "kill", "i": i} for i in range(200)]

    def expected(config):
        return np.arange(125_000, dtype=np.float64) * (config["i"] + 1)

    def compute(config):
        time.sleep(0.01)
        return {"x": expected(config), "i": np.array(config["i"])}
""")


def test_killed_sweep_resumes(tmp_path):
    root = tmp_path / "store"
    script = _SWEEP_SOURCE + textwrap.dedent(f"""
        from convlab.store import Store
        Store({str(root)!r}).map(CONFIGS, compute)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        # kill once >= 20 entries are complete, preferably while an entry is being written
        deadline, started = time.monotonic() + 60, None
        while True:
            complete = len(list(root.glob("*/manifest.json")))
            if complete >= 20:
                started = started or time.monotonic()
                writing = len(list(root.iterdir())) > complete
                if writing or time.monotonic() > started + 2:
                    break
            assert proc.poll() is None, "the sweep ended before it could be killed"
            assert time.monotonic() < deadline, "the sweep made no progress"
            time.sleep(0.001)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL

    namespace = {}
    exec(_SWEEP_SOURCE, namespace)
    configs, expected, compute = namespace["CONFIGS"], namespace["expected"], namespace["compute"]
    store = Store(root)
    manifests = list(store.entries())
    done = {m["config"]["i"] for m in manifests}
    assert 20 <= len(done) < 200
    keys = {store.key(c) for c in configs}
    for entry in root.iterdir():  # every directory is an entry of the sweep, complete or not
        assert entry.name in keys
    for config in configs:
        complete = (store.path(config) / "manifest.json").is_file()
        assert store.has(config) == complete == (config["i"] in done)
        if complete:
            np.testing.assert_array_equal(store.load(config)["x"], expected(config))

    computed = []

    def counting_compute(config):
        computed.append(config["i"])
        return compute(config)

    results = store.map(configs, counting_compute)
    assert computed == [c["i"] for c in configs if c["i"] not in done]
    assert len(results) == 200
    for config, result in zip(configs, results):
        np.testing.assert_array_equal(result["x"], expected(config))
        assert int(result["i"]) == config["i"]
    assert len(list(store.entries())) == 200
    assert not list(root.glob("*/*.tmp"))  # the killed write's temp file was cleaned up


def test_merge_from_two_roots(tmp_path, key):
    a, b, merged = Store(tmp_path / "a"), Store(tmp_path / "b"), Store(tmp_path / "merged")
    shared = {"who": "both"}
    a.save({"who": "a"}, {"x": np.arange(2)})
    a.save(shared, {"x": np.arange(3)})
    b.save({"who": "b"}, _tiny_trace(key))
    b.save(shared, {"x": np.arange(3)})
    incomplete = b.path({"who": "b-killed"})
    incomplete.mkdir()
    (incomplete / "trace.npz").write_bytes(b"partial")

    assert merged.merge_from(a.root) == 2
    assert merged.merge_from(b.root) == 1  # the shared entry is present, the killed one ignored
    assert merged.merge_from(b.root) == 0
    assert sorted(m["config"]["who"] for m in merged.entries()) == ["a", "b", "both"]
    assert not merged.has({"who": "b-killed"})
    assert sorted(p.name for p in merged.root.iterdir()) == sorted(
        merged.key({"who": w}) for w in ["a", "b", "both"])
    _assert_arrays_equal(merged.load({"who": "b"}).to_arrays(), b.load({"who": "b"}).to_arrays())
    np.testing.assert_array_equal(merged.load({"who": "a"})["x"], np.arange(2))
    assert json.loads((merged.path(shared) / "manifest.json").read_text()) == a.manifest(shared)


def test_merge_replaces_incomplete_entry(tmp_path):
    src, dst = Store(tmp_path / "src"), Store(tmp_path / "dst")
    config = {"a": 1}
    src.save(config, {"x": np.arange(3)})
    dst.path(config).mkdir(parents=True)
    (dst.path(config) / "trace.npz").write_bytes(b"partial")
    (dst.root / ".merge-stale.tmp").mkdir()  # left by a killed merge
    assert dst.merge_from(src.root) == 1
    np.testing.assert_array_equal(dst.load(config)["x"], np.arange(3))
    assert [p.name for p in dst.root.iterdir()] == [dst.key(config)]
