"""`zkml prove` makes the witness and proof in a lean process (zkml/cli/prover.py): the
process the user started (pid, exit code, output), with ezkl loaded and neither numpy nor
pydantic, while its forked child runs the CLI's checks; its peak memory is ezkl's own
(issue #22)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from zkml.artifacts import ProofBundle, save_artifact
from zkml.proof.bundle import load_bundle
from zkml.proof.job import ProveJob

from .conftest import Pipeline

ZKML = str(Path(sys.executable).with_name("zkml"))


def _build_dir(tiny: Pipeline, tmp_path: Path) -> tuple[Path, Path]:
    d = tmp_path / "build"
    d.mkdir()
    save_artifact(tiny.keys, d / "keys.json")
    inp = tmp_path / "input.json"
    inp.write_text(json.dumps([float(v) for v in tiny.zoo.test_inputs[0].reshape(-1)]))
    return d, inp


def _scratch(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir() if p.name.startswith("scratch-"))


def _maps(pid: int | str) -> str | None:
    try:
        return Path(f"/proc/{pid}/maps").read_text()
    except (OSError, UnicodeDecodeError):
        return None


HEAVY = ("_multiarray_umath", "pydantic_core")  # numpy's and pydantic's native modules


def test_the_proof_is_made_in_a_process_without_numpy_or_pydantic(tiny: Pipeline,
                                                                   tmp_path: Path) -> None:
    d, inp = _build_dir(tiny, tmp_path)
    cache = Path(os.environ["ZKML_CACHE_DIR"])
    proc = subprocess.Popen([ZKML, "prove", "--dir", str(d), str(inp), "-o",
                             str(tmp_path / "b.json"), "--json"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: list[tuple[bool, bool]] = []  # the zkml process: (ezkl mapped, numpy/pydantic mapped)
    cli_heavy = False  # its child, the CLI, had numpy or pydantic mapped
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    while proc.poll() is None:
        maps = _maps(proc.pid)
        if maps is None:
            break
        seen.append(("/ezkl/" in maps, any(h in maps for h in HEAVY)))
        try:
            kids = children.read_text().split()
        except OSError:
            kids = []
        cli_heavy |= any(any(h in (_maps(k) or "") for h in HEAVY) for k in kids)
        time.sleep(0.002)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    # the process the user started (its pid) loads ezkl and proves, never numpy or pydantic;
    # the CLI's checks ran in its child, with them
    assert any(ezkl for ezkl, _ in seen) and not any(heavy for _, heavy in seen), seen[:5]
    assert cli_heavy
    result = json.loads(out)
    assert result["bundle"] == str(tmp_path / "b.json") and len(result["outputs"]) > 0
    assert "✓ Proving (logrows" in err
    # written without pydantic, read with it: the same document, field for field
    written = json.loads((tmp_path / "b.json").read_text())
    assert list(written) == list(ProofBundle.model_fields)
    assert load_bundle(tmp_path / "b.json").outputs == result["outputs"]
    verify = subprocess.run([ZKML, "verify", str(tmp_path / "b.json"), "--json"],
                            capture_output=True, text=True, timeout=120)
    assert verify.returncode == 0 and json.loads(verify.stdout)["valid"] is True
    assert not _scratch(cache)  # the private work folder (input, witness) is gone


def test_what_the_cli_refuses_ends_the_process_with_its_code(tiny: Pipeline,
                                                             tmp_path: Path) -> None:
    """No job reaches the prover: the CLI's own output and exit code are the process's."""
    d, inp = _build_dir(tiny, tmp_path)
    missing = subprocess.run([ZKML, "prove", "--dir", str(d), str(tmp_path / "none.json")],
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and missing.stdout == ""
    assert missing.stderr.startswith("error (InputError): ") and "Traceback" not in \
        missing.stderr and len(missing.stderr.strip().splitlines()) == 1
    usage = subprocess.run([ZKML, "prove", "--dir", str(d), str(inp), "--no-such-flag"],
                           capture_output=True, text=True, timeout=120)
    assert usage.returncode == 2 and "--no-such-flag" in usage.stderr
    helped = subprocess.run([ZKML, "prove", "--help"], capture_output=True, text=True,
                            timeout=120)
    assert helped.returncode == 0 and "--opening" in helped.stdout
    assert not (tmp_path / "build" / "bundle.json").exists()


def test_a_failure_in_the_lean_prover_is_one_line_exit_2_and_leaves_nothing(
        tiny: Pipeline, tmp_path: Path) -> None:
    d, _ = _build_dir(tiny, tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    job = ProveJob(work=str(work), compiled=str(tmp_path / "gone.compiled"),
                   pk=tiny.keys.pk_path, srs=tiny.keys.srs_path, logrows=tiny.circuit.logrows,
                   preset="private-input", commits=False)
    job.data.write_text(json.dumps({"input_data": [[0.0]]}))
    (work / "handoff.json").write_text(json.dumps({
        "job": job.as_dict(),
        "then": {"dir": str(d), "output": str(tmp_path / "b.json"), "as_json": False,
                 "opening": None}}))
    r = subprocess.run([sys.executable, "-c", "import json, sys\n"
                        "from zkml.cli.prover import claim_process, run_handoff\n"
                        "claim_process()\nrun_handoff(json.load(open(sys.argv[1])))",
                        str(work / "handoff.json")], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error (ProveError): witness generation "
                                                   "failed"), r.stderr
    assert "Traceback" not in r.stderr
    assert not work.exists() and not (tmp_path / "b.json").exists()
