"""Execute every notebook in ``notebooks/`` at small sizes and require that no cell fails.

Papermill-style parameters: each notebook has a cell tagged ``parameters`` holding its sizes;
a cell injected right after it overrides the names it defines with the small values below
(names a notebook does not define are left out) and points ``OUT_DIR`` at a temporary
directory, so the figure-saving branch runs too. The kernel is this interpreter's own
ipykernel (from the ``[test]`` extra), whatever kernelspecs the machine has installed.
"""

from __future__ import annotations

import ast
import pathlib
import time

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
from jupyter_client.kernelspec import KernelSpecManager  # noqa: E402  (installed with nbclient)
from jupyter_client.manager import KernelManager  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

SMALL = {"dim": 10, "num_samples": 5, "num_steps": 40, "num_seeds": 2}
"""Small sizes for the names a notebook's parameters cell defines."""

SMALL_FOR = {"monotone": {"n_grid": (16, 64, 256), "epochs": 40}}
"""Notebook-specific small sizes (the monotone notebook took 64 s at its own n_grid and epochs)."""

TIMEOUT_S = 300  # per cell


def _parameters_cell(nb) -> int:
    tagged = [i for i, cell in enumerate(nb.cells)
              if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, f"want exactly one code cell tagged 'parameters', found {len(tagged)}"
    return tagged[0]


def _assigned_names(source: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def _inject(nb, overrides: dict) -> None:
    """Insert a cell setting ``overrides`` right after the parameters cell (papermill-style)."""
    index = _parameters_cell(nb)
    defined = _assigned_names(nb.cells[index].source)
    lines = [f"{name} = {value!r}" for name, value in overrides.items() if name in defined]
    cell = nbformat.v4.new_code_cell("# injected by tests/test_notebooks.py\n" + "\n".join(lines),
                                     metadata={"tags": ["injected-parameters"]})
    nb.cells.insert(index + 1, cell)
    # the kernel is a fresh process: the same XLA CPU pool setting as the plugin's (xla_cpu.py)
    # and the suite's shared compilation cache (conftest.py)
    nb.cells.insert(0, nbformat.v4.new_code_cell(
        "import os, jax\n"
        "from convlab import xla_cpu; xla_cpu.avoid_lapack_pool_hang()\n"
        "if os.environ.get('CONVLAB_CACHE_DIR'):\n"
        "    jax.config.update('jax_compilation_cache_dir', os.environ['CONVLAB_CACHE_DIR'])\n"
        "    jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.5)",
        metadata={"tags": ["injected-parameters"]}))


def _kernel_manager() -> KernelManager:
    # kernel_dirs=[]: only the native kernel, which ipykernel describes with sys.executable, so
    # the notebook runs in this environment even if a stale "python3" kernelspec is installed
    # (or none at all); nothing needs `python -m ipykernel install`.
    return KernelManager(kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=[]))


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no .ipynb"


def test_notebooks_are_saved_without_outputs():
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        dirty = [i for i, c in enumerate(nb.cells)
                 if c.cell_type == "code" and (c.outputs or c.execution_count is not None)]
        assert not dirty, f"{path.name}: cells {dirty} have outputs; clear them before saving"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_at_small_size(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    out_dir = tmp_path / "figures"
    _inject(nb, {**SMALL, **SMALL_FOR.get(path.stem, {}), "OUT_DIR": str(out_dir)})
    client = nbclient.NotebookClient(nb, km=_kernel_manager(), timeout=TIMEOUT_S,
                                     resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as err:  # names the failing cell's traceback
        pytest.fail(f"{path.name}: a cell failed:\n{err}", pytrace=False)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert not errors, f"{path.name}: {[(e.ename, e.evalue) for e in errors]}"
    print(f"{path.name}: {time.perf_counter() - start:.1f} s")
    defined = _assigned_names(nb.cells[_parameters_cell(nb)].source)
    if "OUT_DIR" in defined:  # the figure cells save PNGs when OUT_DIR is set
        pngs = sorted(out_dir.glob("*.png"))
        assert pngs, f"{path.name}: OUT_DIR was set but no PNG was written"
        assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
