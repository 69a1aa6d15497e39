"""Faults: corrupt artifacts, concurrent provers, killed writers, nodes that go away."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import zkml
from zkml import cache
from zkml.chain import registry as R
from zkml.chain.devnode import ANVIL_DEV_KEY, Anvil

from .conftest import Pipeline, build_pipeline, tiny_zoo


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("ZKML_CACHE_DIR", str(root))
    return root


def _corrupt(path: str | Path) -> None:
    """Flip a byte in place (same size), and move the mtime on by a second explicitly: that the
    change is seen must not depend on the clock ticking between the write and the check."""
    p = Path(path)
    before = p.stat()
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF
    p.write_bytes(bytes(data))
    os.utime(p, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))


@pytest.mark.parametrize("victim", ["pk", "vk", "settings", "compiled", "srs"])
def test_corrupt_artifact_is_a_typed_error_then_rebuilt(victim: str, fresh_cache: Path,
                                                       tmp_path: Path) -> None:
    p = build_pipeline(tiny_zoo(), tmp_path)
    x = p.zoo.test_inputs[0]
    good = zkml.prove(p.keys, x)
    target = {"pk": p.keys.pk_path, "vk": p.keys.vk_path, "srs": p.keys.srs_path,
              "settings": p.circuit.settings_path, "compiled": p.circuit.compiled_path}[victim]
    _corrupt(target)
    with pytest.raises(zkml.ArtifactError, match="corrupt"):
        zkml.prove(p.keys, x)
    with pytest.raises(zkml.ArtifactError, match="corrupt"):
        zkml.verify(good, p.keys)
    if victim == "srs":
        return  # a dev SRS is never silently regenerated: keys made with it would break
    # a later run does not trust the corrupt entry: it rebuilds it
    again = build_pipeline(p.zoo, tmp_path)
    assert not (again.circuit.cache_hit and again.keys.cache_hit)
    assert zkml.verify(zkml.prove(again.keys, x), again.keys)


def _prove_in_process(args: tuple[str, str]) -> str:
    cache_dir, work = args
    os.environ["ZKML_CACHE_DIR"] = cache_dir
    import warnings

    warnings.simplefilter("ignore")
    p = build_pipeline(tiny_zoo(), Path(work))
    return zkml.prove(p.keys, p.zoo.test_inputs[1]).model_dump_json()


def test_two_processes_share_one_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                       ) -> None:
    cache_dir = str(tmp_path / "shared-cache")
    jobs = [(cache_dir, str(tmp_path / f"w{i}")) for i in range(2)]
    with mp.get_context("spawn").Pool(2) as pool:
        results = pool.map(_prove_in_process, jobs)
    monkeypatch.setenv("ZKML_CACHE_DIR", cache_dir)  # verify by model id from the shared cache
    bundles = [zkml.ProofBundle.model_validate_json(r) for r in results]
    assert bundles[0].model_id == bundles[1].model_id
    assert all(zkml.verify(b) for b in bundles)
    for kind in ("circuits", "keys"):
        entries = [d for d in (Path(cache_dir) / kind).iterdir()
                   if d.is_dir() and not d.name.startswith(".")]
        assert len(entries) == 1, kind


def test_writer_killed_mid_write_leaves_nothing_trusted(fresh_cache: Path) -> None:
    script = textwrap.dedent("""
        import time, sys
        from pathlib import Path
        from zkml import cache
        def build(tmp: Path):
            (tmp / "pk.key").write_bytes(b"half a proving key")
            Path(sys.argv[1]).write_text("started")
            time.sleep(60)
            return {}
        cache.get_or_build("keys", "victim", build)
    """)
    flag = fresh_cache.parent / "started"
    proc = subprocess.Popen([sys.executable, "-c", script, str(flag)],
                            env={**os.environ, "ZKML_CACHE_DIR": str(fresh_cache)})
    deadline = time.time() + 60
    while not flag.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert flag.exists()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert cache.lookup("keys", "victim") is None  # the half-written entry is not visible

    def build(tmp: Path) -> dict[str, object]:
        (tmp / "pk.key").write_bytes(b"a whole proving key")
        return {"ok": True}

    entry = cache.get_or_build("keys", "victim", build)  # the dead writer's lock is released
    assert not entry.hit and entry.file("pk.key").read_bytes() == b"a whole proving key"


@pytest.fixture
def key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZKML_PRIVATE_KEY", ANVIL_DEV_KEY)


@pytest.mark.anvil
def test_rpc_gone_before_submit_keeps_the_bundle(tiny: Pipeline, bundle: zkml.ProofBundle,
                                                 tmp_path: Path, key_env: None) -> None:
    path = zkml.save_artifact(bundle, tmp_path / "bundle.json")
    node = Anvil()
    try:
        chain = zkml.connect(node.url)
        reg = R.deploy_registry(chain)
        model = R.register_model(chain, reg, tiny.keys)
    finally:
        node.stop()
    with pytest.raises(zkml.ChainError) as e:
        R.submit_inference(chain, reg, model.onchain_model_id, zkml.load_bundle(path))
    assert not isinstance(e.value, zkml.RegistryError)
    assert "RPC endpoint is unreachable" in str(e.value)
    assert "proof bundle on disk is unchanged" in str(e.value)
    assert zkml.verify(zkml.load_bundle(path), tiny.keys)  # still there, still valid


@pytest.mark.anvil
def test_anvil_restarted_between_deploy_and_submit(tiny: Pipeline, bundle: zkml.ProofBundle,
                                                   key_env: None) -> None:
    node = Anvil()
    chain = zkml.connect(node.url)
    reg = R.deploy_registry(chain)
    model = R.register_model(chain, reg, tiny.keys)
    node.stop()
    restarted = Anvil(port=node.port)  # same URL, fresh state
    try:
        chain = zkml.connect(restarted.url)
        with pytest.raises(zkml.ChainError, match="was the chain restarted"):
            R.submit_inference(chain, reg, model.onchain_model_id, bundle)
    finally:
        restarted.stop()


def test_compile_twice_gives_identical_verifier(tiny: Pipeline, fresh_cache: Path) -> None:
    from zkml.proof.srs import SrsFile

    circuit = zkml.compile_model(tiny.exported, tiny.zoo.calibration, config=tiny.zoo.config)
    assert not circuit.cache_hit
    srs = SrsFile(Path(tiny.keys.srs_path), circuit.logrows, tiny.keys.srs_sha256, "dev-unsafe")
    keys = zkml.setup(circuit, srs=srs)
    assert Path(circuit.settings_path).read_bytes() == Path(
        tiny.circuit.settings_path).read_bytes()
    assert keys.model_id == tiny.keys.model_id
    assert zkml.build_verifier(keys).bytecode == zkml.build_verifier(tiny.keys).bytecode
    assert cache.cache_root() == fresh_cache
