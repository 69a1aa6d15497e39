"""`zkml prove` makes the witness and proof in a lean process image (zkml/cli/prover.py):
the same process (pid, exit code, output), with ezkl loaded and neither numpy nor pydantic,
so its peak memory is ezkl's own (issue #22)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from zkml.artifacts import save_artifact
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


def test_the_proof_is_made_in_an_image_without_numpy_or_pydantic(tiny: Pipeline,
                                                                  tmp_path: Path) -> None:
    d, inp = _build_dir(tiny, tmp_path)
    cache = Path(os.environ["ZKML_CACHE_DIR"])
    # run from a folder holding a `zkml` folder: it must not shadow the installed package
    # in the re-executed image
    (tmp_path / "zkml").mkdir()
    proc = subprocess.Popen([ZKML, "prove", "--dir", str(d), str(inp), "-o",
                             str(tmp_path / "b.json"), "--json"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: list[tuple[bool, bool]] = []  # (ezkl mapped, numpy or pydantic mapped) per look
    proc_dir = Path(f"/proc/{proc.pid}")
    while proc.poll() is None:
        try:
            cmdline = (proc_dir / "cmdline").read_bytes()
            maps = (proc_dir / "maps").read_text() if b"zkml.cli.prover" in cmdline else None
        except (OSError, UnicodeDecodeError):
            break
        if maps is not None:
            seen.append(("/ezkl/" in maps, "_multiarray_umath" in maps or
                         "pydantic_core" in maps))
        time.sleep(0.002)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert seen, "the process never ran the lean prover's image"
    # ezkl in memory, numpy and pydantic not: the witness and proof are made there
    assert any(ezkl and not heavy for ezkl, heavy in seen), seen[:5]
    result = json.loads(out)
    assert result["bundle"] == str(tmp_path / "b.json") and len(result["outputs"]) > 0
    assert "✓ Proving (logrows" in err
    verify = subprocess.run([ZKML, "verify", str(tmp_path / "b.json"), "--json"],
                            capture_output=True, text=True, timeout=120)
    assert verify.returncode == 0 and json.loads(verify.stdout)["valid"] is True
    assert not _scratch(cache)  # the private work folder (input, witness) is gone


def test_a_failure_in_the_lean_image_is_one_line_exit_2_and_leaves_nothing(
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
    r = subprocess.run([sys.executable, "-m", "zkml.cli.prover", str(work / "handoff.json")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error (ProveError): witness generation "
                                                   "failed"), r.stderr
    assert "Traceback" not in r.stderr
    assert not work.exists() and not (tmp_path / "b.json").exists()
