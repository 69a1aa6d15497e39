"""The example notebook runs top to bottom in a real Jupyter kernel (which runs an event loop).

examples/quickstart.ipynb exports a tiny model, compiles, proves, verifies locally and on the
embedded chain; here it is executed with nbclient in an ipykernel on this venv's interpreter,
and its printed summary is checked.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "quickstart.ipynb"

#: Appended to the executed copy only: proves which interpreter the kernel ran on.
_PROBE = "import sys; print('KERNEL-PYTHON=' + sys.executable)"


def _kernel_manager(tmp_path: Path) -> KernelManager:
    """A kernel manager whose only kernelspec, ``python3``, runs ipykernel on sys.executable
    (a user's own ``python3`` kernelspec could point at another interpreter)."""
    spec_dir = tmp_path / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "zkml test kernel",
        "language": "python",
    }))
    ksm = KernelSpecManager(kernel_dirs=[str(spec_dir.parent)], ensure_native_kernel=False)
    return KernelManager(kernel_name="python3", kernel_spec_manager=ksm)


def _stdout(cell: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", [])
                   if o.get("output_type") == "stream" and o.get("name") == "stdout")


@pytest.mark.timeout(600)
def test_quickstart_notebook_runs_in_a_kernel(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # the kernel inherits this environment: a private cache, IPython profile and runtime dir
    monkeypatch.setenv("ZKML_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))  # the notebook's mkdtemp goes here
    work = tmp_path / "cwd"
    work.mkdir()

    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") and c.get("execution_count") is None
               for c in nb.cells if c.cell_type == "code"), "commit the notebook without outputs"
    nb.cells.append(nbformat.v4.new_code_cell(_PROBE))

    client = NotebookClient(nb, km=_kernel_manager(tmp_path), timeout=600,
                            kernel_name="python3", resources={"metadata": {"path": str(work)}})
    client.execute()  # raises CellExecutionError with the traceback if any cell fails

    code = [c for c in nb.cells if c.cell_type == "code"]
    probe = _stdout(code[-1])
    assert f"KERNEL-PYTHON={sys.executable}" in probe, probe

    # the kernel's loop was running, before the calls that await ezkl's coroutines
    # (setup and build_verifier generate the Solidity verifier) ran in that same kernel
    loop_cell = next(c for c in code if "get_running_loop()" in c.source)
    assert "running: True" in _stdout(loop_cell)
    for call in ("zkml.setup(", "zkml.build_verifier("):
        assert code.index(loop_cell) < next(i for i, c in enumerate(code) if call in c.source)

    summary = json.loads(_stdout(code[-2]).strip().splitlines()[-1])
    assert summary["valid_local"] is True
    assert summary["valid_onchain"] is True
    outputs, reference = summary["outputs"], summary["reference"]
    assert len(outputs) == len(reference) == 2
    assert all(abs(o - r) <= 0.05 for o, r in zip(outputs, reference, strict=True)), summary
    assert not list(work.iterdir()), "the notebook wrote into its working directory"
    assert list((tmp_path / "tmp").glob("zkml-quickstart-*/tiny.onnx"))
