"""Tests of the results store: round trips, keys, provenance, interruption and merging."""

import hashlib
import io
import json
import os
import re
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
from convlab.store import CorruptEntryError, Store
from toy_problems import quadratic_from


def _loss(problem, x):
    return problem.loss(x)


def _error(problem, x):
    return jnp.linalg.norm(x)


def _tiny_trace(key):
    problem = quadratic_from([1.0, 0.5, 0.1], np.zeros(3))
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
                         "host", "project"}
    assert set(prov["project"]) == {"root", "git_commit", "git_dirty"}
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


def _replace_failing_at(monkeypatch, fail_at, error=OSError("disk full")):
    real_replace, calls = os.replace, []

    def flaky_replace(src, dst):
        calls.append(dst)
        if len(calls) == fail_at:
            raise error
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", flaky_replace)
    return calls


def test_fresh_write_failing_leaves_no_entry(tmp_path, monkeypatch):
    """A fresh save publishes with one rename (temp dir -> entry); fail it."""
    store = Store(tmp_path)
    config = {"a": 1}
    _replace_failing_at(monkeypatch, 1)
    with pytest.raises(OSError, match="disk full"):
        store.save(config, {"x": np.arange(4.0)})
    monkeypatch.undo()
    assert not store.has(config) and list(store.entries()) == []
    with pytest.raises(KeyError):
        store.load(config)
    assert not list((tmp_path / ".tmp").iterdir())  # the failed temp dir was removed
    store.save(config, {"x": np.arange(4.0) + 1})
    np.testing.assert_array_equal(store.load(config)["x"], np.arange(4.0) + 1)


@pytest.mark.parametrize("fail_at", [1, 2])
@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_resave_failing_at_each_step_keeps_the_old_entry(tmp_path, monkeypatch, fail_at, error):
    """A re-save renames entry -> .<key>.old, then temp -> entry: fail either rename."""
    store = Store(tmp_path)
    config = {"a": 1}
    store.save(config, {"x": np.zeros(2)}, extra={"v": "old"})
    calls = _replace_failing_at(monkeypatch, fail_at, error)
    with pytest.raises(type(error)):
        store.save(config, {"x": np.ones(2)}, extra={"v": "new"})
    monkeypatch.undo()
    assert len(calls) >= fail_at  # (a failed 2nd rename is followed by the restoring one)
    np.testing.assert_array_equal(store.load(config)["x"], np.zeros(2))
    assert store.manifest(config)["extra"] == {"v": "old"}
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", ".tmp", store.key(config)]
    assert not list((tmp_path / ".tmp").iterdir())


def test_savez_failing_midway_on_overwrite_keeps_the_old_entry(tmp_path, monkeypatch):
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
    np.testing.assert_array_equal(store.load(config)["x"], np.zeros(2))


def test_a_swap_killed_between_its_renames_is_recovered(tmp_path):
    """State after kill -9 between entry -> .<key>.old and temp -> entry: the old entry is used."""
    store = Store(tmp_path)
    config = {"a": 1}
    store.save(config, {"x": np.zeros(2)})
    os.replace(store.path(config), tmp_path / f".{store.key(config)}.old")
    stray = tmp_path / ".tmp" / f"{store.key(config)}.999999999.dead"  # the killed writer's
    stray.mkdir()
    assert store.has(config)
    np.testing.assert_array_equal(store.load(config)["x"], np.zeros(2))
    assert [m["key"] for m in store.entries()] == [store.key(config)]
    store.save(config, {"x": np.ones(2)})
    np.testing.assert_array_equal(store.load(config)["x"], np.ones(2))
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", ".tmp", store.key(config)]
    assert not stray.exists()


def test_legacy_incomplete_entry_is_replaced(tmp_path):
    store = Store(tmp_path)
    config = {"a": 1}
    entry = store.path(config)
    entry.mkdir(parents=True)
    (entry / ".trace.npz.abc123.tmp").write_bytes(b"junk")
    (entry / "trace.npz").write_bytes(b"truncated")  # no manifest: incomplete, not corrupt
    assert not store.has(config) and list(store.entries()) == []
    store.save(config, {"x": np.arange(3)})
    assert sorted(p.name for p in entry.iterdir()) == ["manifest.json", "trace.npz"]
    np.testing.assert_array_equal(store.load(config)["x"], np.arange(3))


# -- 1. non-finite numbers --------------------------------------------------------------------
def _strict_json(text):
    def reject(name):
        raise ValueError(f"non-standard JSON constant {name}")
    return json.loads(text, parse_constant=reject)


def test_nonfinite_extra_and_arrays_are_stored_faithfully(tmp_path, key):
    store = Store(tmp_path)
    config = {"problem": "diverging", "h": 1e308}
    nan, inf = float("nan"), float("inf")
    arrays = {"loss": np.array([1.0, inf, nan]), "neg": np.array([-inf])}
    extra = {"summary": {"final_gap": nan, "bound": inf, "low": -inf, "ok": 1.5},
             "curve": [1.0, nan, -inf], "np": np.array([inf, 2.0]), "text": "nan"}
    store.save(config, arrays, extra=extra)
    text = (store.path(config) / "manifest.json").read_text()
    raw = _strict_json(text)  # standard JSON, no NaN/Infinity tokens
    assert raw["extra"]["summary"]["final_gap"] == {"$float": "nan"}
    got = store.manifest(config)["extra"]
    assert np.isnan(got["summary"]["final_gap"]) and got["summary"]["bound"] == inf
    assert got["summary"]["low"] == -inf and got["summary"]["ok"] == 1.5
    assert got["curve"][0] == 1.0 and np.isnan(got["curve"][1]) and got["curve"][2] == -inf
    assert got["np"] == [inf, 2.0] and got["text"] == "nan"  # a string stays a string
    _assert_arrays_equal(store.load(config), arrays)
    # a diverging Trace is saved like any other result
    problem = quadratic_from([1.0, 2.0], np.zeros(2))
    trace = convlab.run(convlab.gd(1e3), problem, jnp.ones(2), key=key, num_steps=200,
                        record_every=50, metrics={"loss": _loss})
    assert not np.all(np.isfinite(np.asarray(trace["loss"])))
    store.save({"diverging": True}, trace, extra={"final": trace["loss"][-1]})
    _assert_arrays_equal(store.load({"diverging": True}).to_arrays(), trace.to_arrays())
    assert not np.isfinite(store.manifest({"diverging": True})["extra"]["final"])


def test_reserved_float_tag_is_rejected(tmp_path):
    with pytest.raises(TypeError, match=r"extra.*\$float"):
        Store(tmp_path).save({"a": 1}, {"x": np.zeros(1)}, extra={"v": {"$float": "nan"}})


# -- 2. corrupt entries -----------------------------------------------------------------------
def _npz_bytes(**arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _rewrite_manifest(entry, **changes):
    manifest = json.loads((entry / "manifest.json").read_text())
    manifest.update(changes)
    (entry / "manifest.json").write_text(json.dumps(manifest))


def _missing_array(entry):  # a valid archive lacking "y", checksum updated: the list differs
    data = _npz_bytes(x=np.arange(3.0))
    (entry / "trace.npz").write_bytes(data)
    _rewrite_manifest(entry, sha256=hashlib.sha256(data).hexdigest())


def _wrong_dtype(entry):
    data = _npz_bytes(x=np.arange(3, dtype=np.float32), y=np.ones(2))
    (entry / "trace.npz").write_bytes(data)
    _rewrite_manifest(entry, sha256=hashlib.sha256(data).hexdigest())


CORRUPTIONS = {
    "empty manifest": lambda e: (e / "manifest.json").write_bytes(b""),
    "garbage manifest": lambda e: (e / "manifest.json").write_bytes(b"{not json"),
    "manifest not a dict": lambda e: (e / "manifest.json").write_text("[1, 2]"),
    "manifest without checksum": lambda e: _rewrite_manifest(e, sha256=None),
    "manifest of another key": lambda e: _rewrite_manifest(e, key="0" * 16),
    "garbage trace": lambda e: (e / "trace.npz").write_bytes(b"garbage"),
    "empty trace": lambda e: (e / "trace.npz").write_bytes(b""),
    "missing trace": lambda e: (e / "trace.npz").unlink(),
    "checksum mismatch": lambda e: (e / "trace.npz").write_bytes(
        _npz_bytes(x=np.arange(3.0) + 1, y=np.ones(2))),
    "missing array": _missing_array,
    "wrong dtype": _wrong_dtype,
}


@pytest.mark.parametrize("corrupt", CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_corrupt_entry_is_reported_with_its_path_and_recomputed(tmp_path, corrupt):
    store = Store(tmp_path)
    config = {"a": 1}
    good = {"x": np.arange(3.0), "y": np.ones(2)}
    store.save(config, good)
    entry = store.path(config)
    corrupt(entry)
    for call in (store.has, store.load, store.manifest):
        with pytest.raises(CorruptEntryError, match=re.escape(str(entry))) as info:
            call(config)
        assert info.value.path == entry and info.value.reason
    with pytest.warns(RuntimeWarning, match="corrupt"):
        assert list(store.entries()) == []
    # resume: set aside with a warning naming the path, then recomputed
    calls = []
    with pytest.warns(RuntimeWarning, match=re.escape(str(entry)) + ".*set aside"):
        got = store.get_or_compute(config, lambda: calls.append(1) or good)
    assert calls == [1]
    _assert_arrays_equal(got, good)
    _assert_arrays_equal(store.load(config), good)
    aside = [p.name for p in tmp_path.iterdir() if ".corrupt-" in p.name]
    assert len(aside) == 1 and aside[0].startswith(store.key(config) + ".corrupt-")


def test_map_and_has_set_aside_recompute_corrupt_entries(tmp_path):
    store = Store(tmp_path)
    configs = [{"i": i} for i in range(4)]
    compute = lambda c: {"v": np.full(2, float(c["i"]))}
    store.map(configs, compute)
    (store.path(configs[1]) / "trace.npz").write_bytes(b"garbage")
    (store.path(configs[3]) / "manifest.json").write_bytes(b"")
    computed = []
    with pytest.warns(RuntimeWarning, match="set aside"):
        results = store.map(configs, lambda c: computed.append(c["i"]) or compute(c))
    assert computed == [1, 3]
    assert [r["v"][0] for r in results] == [0, 1, 2, 3]
    (store.path(configs[0]) / "trace.npz").write_bytes(b"")
    with pytest.warns(RuntimeWarning, match="set aside"):
        assert store.has(configs[0], set_aside=True) is False
    assert store.has(configs[1], set_aside=True) is True
    assert len([p for p in tmp_path.iterdir() if ".corrupt-" in p.name]) == 3


def test_merge_skips_corrupt_sources_and_replaces_corrupt_targets(tmp_path):
    src, dst = Store(tmp_path / "src"), Store(tmp_path / "dst")
    src.save({"a": 1}, {"x": np.arange(3)})
    src.save({"a": 2}, {"x": np.arange(4)})
    (src.path({"a": 2}) / "trace.npz").write_bytes(b"junk")
    dst.save({"a": 1}, {"x": np.arange(9)})
    (dst.path({"a": 1}) / "manifest.json").write_bytes(b"")
    with pytest.warns(RuntimeWarning, match="corrupt"):
        assert dst.merge_from(src.root) == 1
    np.testing.assert_array_equal(dst.load({"a": 1})["x"], np.arange(3))
    assert not dst.has({"a": 2})


# -- 4. precision in the key ------------------------------------------------------------------
def test_precision_is_part_of_the_key(tmp_path):
    store = Store(tmp_path)
    config = {"run": "same"}
    assert store.key(config) == store.key(config, precision="float64")  # conftest: x64
    assert store.key(config, precision="float32") != store.key(config)
    with pytest.raises(ValueError, match="precision"):
        store.key(config, precision="bfloat16")
    try:
        jax.config.update("jax_enable_x64", False)
        store.save(config, {"x": jnp.ones(3)})
        assert store.manifest(config)["precision"] == "float32"
        assert store.manifest(config)["arrays"] == {"x": {"dtype": "float32", "shape": [3]}}
    finally:
        jax.config.update("jax_enable_x64", True)
    assert not store.has(config)  # a float64 process misses the float32 entry
    with pytest.raises(KeyError, match="float64"):
        store.load(config)
    store.save(config, {"x": jnp.ones(3)})
    assert store.load(config)["x"].dtype == np.float64
    assert store.manifest(config)["arrays"]["x"]["dtype"] == "float64"
    try:
        jax.config.update("jax_enable_x64", False)
        assert store.load(config)["x"].dtype == np.float32
    finally:
        jax.config.update("jax_enable_x64", True)
    assert sorted(m["precision"] for m in store.entries()) == ["float32", "float64"]


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
        import jax
        jax.config.update("jax_enable_x64", True)
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
                writing = any((root / ".tmp").iterdir())
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
    for entry in root.glob("[!.]*"):  # every directory is an entry of the sweep
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
    assert not list((root / ".tmp").iterdir())  # the killed write's temp dir was cleaned up


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
    assert sorted(p.name for p in merged.root.iterdir() if not p.name.startswith(".")) == sorted(
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
    assert [p.name for p in dst.root.iterdir() if not p.name.startswith(".")] == [dst.key(config)]


# -- 3. atomic re-save under kill -9 and concurrent writers -----------------------------------
_WRITER_SOURCE = textwrap.dedent("""
    import sys
    import jax
    jax.config.update("jax_enable_x64", True)
    import numpy as np
    from convlab.store import Store

    root, writer, saves, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    store, i = Store(root), 0
    while saves < 0 or i < saves:
        v = writer * 100_000 + i
        store.save({"same": "key"}, {"x": np.full(size, float(v)), "v": np.array(v)},
                   extra={"v": v})
        i += 1
""")
_CONFIG = {"same": "key"}


def _writer(root, writer, saves, size):
    return subprocess.Popen([sys.executable, "-c", _WRITER_SOURCE, str(root), str(writer),
                             str(saves), str(size)], stderr=subprocess.PIPE)


def _check_consistent(store):
    """The entry's manifest and arrays come from one save (one writer, one iteration)."""
    manifest, arrays = store._get(_CONFIG)
    v = manifest["extra"]["v"]
    assert int(arrays["v"]) == v and np.all(arrays["x"] == v), "torn entry"
    return v


def test_kill_9_during_resaves_never_loses_the_entry(tmp_path):
    """8 processes re-save one key each in a loop (2 MB entries), each killed at a random time."""
    rng = np.random.default_rng(0)
    roots = [tmp_path / f"s{i}" for i in range(8)]
    procs = [_writer(root, i, -1, 250_000) for i, root in enumerate(roots)]
    mid_swap = 0
    try:
        for i, (root, proc) in enumerate(zip(roots, procs)):
            store, deadline = Store(root), time.monotonic() + 60
            while True:  # wait for at least two re-saves, then kill at a random moment
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, "the writer made no progress"
                try:
                    if _check_consistent(store) % 100_000 >= 2:
                        break
                except KeyError:
                    pass
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.03))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            assert proc.returncode == -signal.SIGKILL
            mid_swap += any((root / ".tmp").iterdir()) or any(root.glob(".*.old"))
            v = _check_consistent(store)  # a complete entry survives every kill
            assert v // 100_000 == i and v % 100_000 >= 2
            store.save(_CONFIG, {"x": np.full(3, -1.0), "v": np.array(-1)}, extra={"v": -1})
            assert _check_consistent(store) == -1
            assert not any((root / ".tmp").iterdir()) and not any(root.glob(".*.old"))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    print(f"{len(procs)} kills, {mid_swap} left a write in flight")


def test_concurrent_writers_and_a_reader_never_see_a_torn_entry(tmp_path):
    """4 processes save one key 25 times each (100 saves) while this process keeps reading it."""
    store = Store(tmp_path)
    store.save(_CONFIG, {"x": np.full(10, -1.0), "v": np.array(-1)}, extra={"v": -1})
    procs = [_writer(tmp_path, i + 1, 25, 20_000) for i in range(4)]
    reads, seen = 0, set()
    try:
        while any(proc.poll() is None for proc in procs):
            seen.add(_check_consistent(store))
            reads += 1
    finally:
        for proc in procs:
            proc.wait()
    for proc in procs:
        assert proc.returncode == 0, proc.stderr.read().decode()  # no FileNotFoundError on temps
    last = _check_consistent(store)
    assert last // 100_000 in {1, 2, 3, 4} and last % 100_000 == 24
    assert reads > 0 and len(seen) > 1
    assert not any((tmp_path / ".tmp").iterdir()) and not any(tmp_path.glob(".*.old"))
    print(f"100 concurrent saves, {reads} consistent reads of {len(seen)} distinct versions")


# --- listing, loading by key, export, the caller's provenance ----------------------------------
def _git_project(path):
    path.mkdir()
    env = {**os.environ, "GIT_AUTHOR_NAME": "r", "GIT_AUTHOR_EMAIL": "r@x", "GIT_COMMITTER_NAME": "r",
           "GIT_COMMITTER_EMAIL": "r@x"}
    run = lambda *a: subprocess.run(["git", *a], cwd=path, check=True, capture_output=True, env=env)
    run("init", "-q")
    (path / "theorem.py").write_text("x = 1\n")
    run("add", "theorem.py")
    run("commit", "-q", "-m", "first")
    return path, subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True,
                                text=True, check=True).stdout.strip()


def test_provenance_records_the_calling_projects_commit_and_dirtiness(tmp_path, monkeypatch):
    project, head = _git_project(tmp_path / "project")
    monkeypatch.chdir(project)
    store = Store(tmp_path / "store")
    store.save({"a": 1}, {"x": np.zeros(2)})
    prov = store.manifest({"a": 1})["provenance"]
    assert prov["project"] == {"root": str(project), "git_commit": head, "git_dirty": False}
    (project / "theorem.py").write_text("x = 2\n")  # an uncommitted change to a tracked file
    store.save({"a": 2}, {"x": np.zeros(2)})
    assert store.manifest({"a": 2})["provenance"]["project"]["git_dirty"] is True
    outside = tmp_path / "nogit"
    outside.mkdir()
    assert convlab.store.project_provenance(outside) == {"root": None, "git_commit": None,
                                                         "git_dirty": None}


def test_keys_and_load_by_key(tmp_path, key):
    store = Store(tmp_path)
    trace = _tiny_trace(key)
    store.save({"run": "a"}, trace)
    store.save({"run": "b"}, {"x": np.arange(3)})
    assert store.keys() == sorted([store.key({"run": "a"}), store.key({"run": "b"})])
    loaded = store.load(store.key({"run": "a"}))
    _assert_arrays_equal(loaded.to_arrays(), trace.to_numpy().to_arrays())
    assert store.manifest(store.key({"run": "b"}))["config"] == {"run": "b"}
    with pytest.raises(ValueError, match="key must be 16 hex digits"):
        store.load("not-a-key")
    with pytest.raises(KeyError, match="0123456789abcdef"):
        store.load("0123456789abcdef")


def test_store_exports_entries_and_records_as_dataframes(tmp_path, key):
    pytest.importorskip("pandas")
    pytest.importorskip("xarray")
    store = Store(tmp_path)
    keys = jax.random.split(key, 3)
    grid = {"step": [0.2, 0.5]}
    problem = quadratic_from([1.0, 0.5, 0.1], np.zeros(3))

    def make_run(k, hp):
        return convlab.run(convlab.gd(hp["step"]), problem, jnp.ones(3), key=k, num_steps=10,
                           metrics={"loss": _loss})

    traces = convlab.sweep(make_run, keys, grid)
    store.save({"family": "toy", "n": 3, "opts": {"depth": 2}}, traces, extra={"grid": grid, "seconds": 1.0})
    store.save({"family": "toy", "n": 4}, {"x": np.zeros(2)})
    table = store.to_dataframe()
    assert list(table["key"]) == store.keys() and set(table["kind"]) == {"trace", "arrays"}
    assert {"n", "opts.depth", "extra.seconds", "convlab_commit", "project_commit"} <= set(table.columns)
    records = store.to_dataframe(records=True)
    assert len(records) == 2 * 3 * 11 and set(records["step"]) == {0.2, 0.5}
    assert list(records.columns[:4]) == ["key", "step", "seed", "k"] and set(records["n"]) == {3}
    mean = records.groupby(["step", "k"])["loss"].mean()
    np.testing.assert_allclose(mean.loc[(0.5, 10)], np.asarray(traces["loss"])[1, :, -1].mean())
