"""Split proving: one model cut into segments, proven in parallel, linked by commitments.

Real ezkl, tiny MLP (4-8-2) cut in two. The security rows (issue #16, item 4): a segment
proven on another input, a segment of another model, reordered, dropped, and a boundary
commitment altered must each be rejected.
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest

import zkml
from zkml.artifacts import save_artifact
from zkml.split_artifacts import SegmentProof, SplitBundle, SplitKeys

from .conftest import Pipeline, tiny_zoo


@pytest.fixture(scope="module")
def split_keys(tiny: Pipeline) -> SplitKeys:
    split = zkml.compile_model(tiny.exported, tiny.zoo.calibration, segments=2,
                               config=tiny.zoo.config)
    return zkml.setup(split)


@pytest.fixture(scope="module")
def split_keys_b(tmp_path_factory: pytest.TempPathFactory) -> SplitKeys:
    """Same architecture, other weights."""
    zoo = tiny_zoo(seed=1)
    exported = zkml.export(zoo.model, zoo.example_input,
                           tmp_path_factory.mktemp("split_b") / "b.onnx")
    return zkml.setup(zkml.compile_model(exported, zoo.calibration, segments=2,
                                               config=zoo.config))


@pytest.fixture(scope="module")
def split_bundle(tiny: Pipeline, split_keys: SplitKeys) -> SplitBundle:
    return zkml.prove(split_keys, tiny.zoo.test_inputs[0], workers=2)


@pytest.fixture(scope="module")
def other_input_bundle(tiny: Pipeline, split_keys: SplitKeys) -> SplitBundle:
    return zkml.prove(split_keys, tiny.zoo.test_inputs[1], workers=1)


def _with_segments(bundle: SplitBundle, segments: list[SegmentProof]) -> SplitBundle:
    return bundle.model_copy(update={"segments": segments})


def test_split_compiles_two_linked_segments(split_keys: SplitKeys) -> None:
    split = split_keys.circuit
    assert len(split.segments) == 2 and len(split.boundaries) == 1
    # both segments at one logrows (one SRS), each with its own verifying key
    assert {c.logrows for c in split.segments} == {split.logrows}
    assert len({k.model_id for k in split_keys.segments}) == 2
    # the boundary is committed on both sides; the model output stays public
    assert split_keys.links[0].output_points and split_keys.links[1].input_points
    assert split_keys.links[0].num_instances == 0 and split_keys.links[1].num_instances == 2
    assert split.quantization.argmax_agreement == 1.0


def test_compile_model_with_segments_is_compile_split(tiny: Pipeline,
                                                      split_keys: SplitKeys) -> None:
    split = zkml.compile_model(tiny.exported, tiny.zoo.calibration, segments=2,
                               config=tiny.zoo.config)
    assert split.digest == split_keys.circuit.digest
    with pytest.raises(zkml.ZkmlValueError, match="tune and segments together"):
        zkml.compile_model(tiny.exported, tiny.zoo.calibration, segments=2,
                           tune="quick")  # type: ignore[call-overload]


def test_split_outputs_equal_the_monolithic_proof(tiny: Pipeline, split_keys: SplitKeys,
                                                  split_bundle: SplitBundle,
                                                  bundle: zkml.ProofBundle) -> None:
    assert zkml.verify(split_bundle, split_keys)
    assert zkml.verify(bundle, tiny.keys)
    assert split_bundle.outputs == zkml.decoded_outputs(bundle)


def test_split_bundle_round_trips_through_its_file(split_keys: SplitKeys,
                                                   split_bundle: SplitBundle,
                                                   tmp_path: Path) -> None:
    path = save_artifact(split_bundle, tmp_path / "split.bundle.json")
    assert zkml.verify(path, split_keys)
    path.write_text("{not json")
    with pytest.raises(zkml.BundleError, match="not a zkml split bundle"):
        zkml.verify(path, split_keys)


def test_segment_proven_on_another_input_is_rejected(split_keys: SplitKeys,
                                                     split_bundle: SplitBundle,
                                                     other_input_bundle: SplitBundle) -> None:
    assert zkml.verify(other_input_bundle, split_keys)
    # each segment proof verifies alone; only the link catches the mix
    mixed = _with_segments(split_bundle, [split_bundle.segments[0],
                                          other_input_bundle.segments[1]])
    mixed = mixed.model_copy(update={"outputs": other_input_bundle.outputs})
    v = zkml.verify_detailed(mixed, split_keys)
    assert not v.valid and v.reason is not None and v.reason.startswith("links[0]")


def test_segment_of_another_model_is_rejected(split_keys: SplitKeys, split_keys_b: SplitKeys,
                                              split_bundle: SplitBundle, tiny: Pipeline
                                              ) -> None:
    other = zkml.prove(split_keys_b, tiny.zoo.test_inputs[0], workers=1)
    foreign = other.segments[1]
    swapped = _with_segments(split_bundle, [split_bundle.segments[0], foreign])
    assert not zkml.verify(swapped, split_keys)
    # relabelled as ours: the proof itself fails under our segment's verifying key
    ours = split_bundle.segments[1]
    relabelled = foreign.model_copy(update={"model_id": ours.model_id,
                                            "settings_digest": ours.settings_digest})
    forged = _with_segments(split_bundle, [split_bundle.segments[0], relabelled])
    v = zkml.verify_detailed(forged.model_copy(update={"outputs": other.outputs}),
                                   split_keys)
    assert not v.valid and v.reason is not None
    assert v.reason.startswith(("segments[1].proof", "links[0]"))


def test_reordered_or_dropped_segments_are_rejected(split_keys: SplitKeys,
                                                    split_bundle: SplitBundle) -> None:
    s0, s1 = split_bundle.segments
    v = zkml.verify_detailed(_with_segments(split_bundle, [s1, s0]), split_keys)
    assert not v.valid and v.reason is not None and v.reason.startswith("segments[0].model_id")
    for kept in ([s0], [s1], []):
        v = zkml.verify_detailed(_with_segments(split_bundle, kept), split_keys)
        assert not v.valid and v.reason is not None and v.reason.startswith("segments")


def test_altered_boundary_commitment_is_rejected(split_keys: SplitKeys,
                                                 split_bundle: SplitBundle) -> None:
    s0, s1 = split_bundle.segments
    out_at = split_keys.links[0].output_points[0]
    in_at = split_keys.links[1].input_points[0]
    p0, p1 = bytearray.fromhex(s0.proof[2:]), bytearray.fromhex(s1.proof[2:])
    # the same change on both sides keeps the link "equal": the proofs themselves must fail
    p0[out_at + 5] ^= 1
    p1[in_at + 5] ^= 1
    both = _with_segments(split_bundle, [s0.model_copy(update={"proof": "0x" + p0.hex()}),
                                         s1.model_copy(update={"proof": "0x" + p1.hex()})])
    v = zkml.verify_detailed(both, split_keys)
    assert not v.valid and v.reason is not None and v.reason.startswith("segments[0].proof")
    one = _with_segments(split_bundle, [s0.model_copy(update={"proof": "0x" + p0.hex()}), s1])
    v = zkml.verify_detailed(one, split_keys)
    assert not v.valid and v.reason is not None and v.reason.startswith("links[0]")


def test_stored_outputs_must_match_the_last_segment(split_keys: SplitKeys,
                                                    split_bundle: SplitBundle) -> None:
    forged = split_bundle.model_copy(update={"outputs": [9.0, 9.0]})
    v = zkml.verify_detailed(forged, split_keys)
    assert not v.valid and v.reason is not None and v.reason.startswith("outputs")


def test_killed_segment_worker_is_retried(tiny: Pipeline, split_keys: SplitKeys) -> None:
    killed: list[int] = []

    def kill_worker(done: int, total: int) -> None:
        me = os.getpid()
        for d in Path("/proc").iterdir():
            if not killed and d.name.isdigit():
                try:
                    cmd = (d / "cmdline").read_bytes().decode(errors="replace")
                    ppid = int((d / "stat").read_text().split()[3])
                except (OSError, ValueError):
                    continue
                if ppid == me and "spawn" in cmd:
                    os.kill(int(d.name), signal.SIGKILL)
                    killed.append(int(d.name))

    b = zkml.prove(split_keys, tiny.zoo.test_inputs[2], workers=1, on_segment=kill_worker,
                         reuse=False)
    assert killed, "the test must kill a segment worker"
    assert zkml.verify(b, split_keys)


def test_split_on_a_ray_cluster(tiny: Pipeline, split_keys: SplitKeys,
                                split_bundle: SplitBundle) -> None:
    b = zkml.prove(split_keys, tiny.zoo.test_inputs[0], backend="ray", workers=2,
                         reuse=False)
    assert zkml.verify(b, split_keys)
    assert b.outputs == split_bundle.outputs


def test_a_rerun_proves_only_the_segments_not_kept(tiny: Pipeline,
                                                  split_keys: SplitKeys) -> None:
    from zkml import cache

    store = cache.cache_root() / "segment-proofs"
    before = set(store.iterdir()) if store.exists() else set()
    x = tiny.zoo.test_inputs[3]
    first = zkml.prove(split_keys, x, workers=1)
    kept = sorted(p for p in set(store.iterdir()) - before if p.is_dir())
    assert len(kept) == 2  # every segment proof is kept as it lands
    again = zkml.prove(split_keys, x, workers=1)
    assert again.segments == first.segments  # nothing proven twice
    shutil.rmtree(kept[0])  # as if that segment had failed
    landed: list[tuple[int, int]] = []
    third = zkml.prove(split_keys, x, workers=1, on_segment=lambda d, t: landed.append(
        (d, t)))
    assert zkml.verify(third, split_keys) and third.outputs == first.outputs
    # one segment proven afresh (a new proof: other randomness), the other taken as kept
    same = [a == b for a, b in zip(third.segments, first.segments, strict=True)]
    assert sorted(same) == [False, True]
    assert landed == [(1, 2), (2, 2)]
    fresh = zkml.prove(split_keys, x, workers=1, reuse=False)
    assert all(a != b for a, b in zip(fresh.segments, first.segments, strict=True))


def test_bad_segment_counts_are_refused(tiny: Pipeline) -> None:
    # 4-8-2: two cuts between layers, plus one per channel group of its two Gemms at most
    with pytest.raises(zkml.CompileError, match=r"can be cut in \d+ place\(s\) only .* no "
                       r"Gemm/MatMul/Conv left"):
        zkml.compile_model(tiny.exported, tiny.zoo.calibration, segments=40,
                           config=tiny.zoo.config)
    with pytest.raises(zkml.ZkmlValueError, match="positive integer or 'auto'"):
        zkml.compile_model(tiny.exported, tiny.zoo.calibration, segments=0,
                           config=tiny.zoo.config)


# On-chain: one SplitVerifier call, one registry record (anvil: real pairings, fast) -------

def _attacks(split_bundle: SplitBundle, other_input: SplitBundle, foreign: SplitBundle,
             keys: SplitKeys) -> dict[str, SplitBundle]:
    s0, s1 = split_bundle.segments
    p0 = bytearray.fromhex(s0.proof[2:])
    p0[keys.links[0].output_points[0] + 7] ^= 1
    relabelled = foreign.segments[1].model_copy(update={"model_id": s1.model_id,
                                                        "settings_digest": s1.settings_digest})
    return {
        "other input": _with_segments(split_bundle, [s0, other_input.segments[1]]).model_copy(
            update={"outputs": other_input.outputs}),
        "other model": _with_segments(split_bundle, [s0, relabelled]).model_copy(
            update={"outputs": foreign.outputs}),
        "reordered": _with_segments(split_bundle, [s1, s0]),
        "dropped": _with_segments(split_bundle, [s1]),
        "altered commitment": _with_segments(
            split_bundle, [s0.model_copy(update={"proof": "0x" + p0.hex()}), s1]),
    }


def test_split_on_chain_and_in_the_registry(anvil: object, tiny: Pipeline,
                                            split_keys: SplitKeys, split_keys_b: SplitKeys,
                                            split_bundle: SplitBundle,
                                            other_input_bundle: SplitBundle) -> None:
    from zkml.chain import registry as R
    from zkml.chain import split as S

    chain = zkml.connect(anvil.url)  # type: ignore[attr-defined]
    dep = S.deploy_split_verifier(chain, split_keys)
    ok = S.verify_split_onchain(chain, dep, split_bundle)
    assert ok.valid and ok.gas_used is not None
    mono = zkml.verify_onchain(chain, zkml.deploy_verifier(chain, zkml.build_verifier(
        tiny.keys)), zkml.prove(tiny.keys, tiny.zoo.test_inputs[0]))
    assert mono.valid and mono.gas_used is not None
    # K segment pairings cost about K monolithic verifications, plus the link checks
    assert mono.gas_used < ok.gas_used < 3 * mono.gas_used
    foreign = zkml.prove(split_keys_b, tiny.zoo.test_inputs[0], workers=1)
    attacks = _attacks(split_bundle, other_input_bundle, foreign, split_keys)
    for name, forged in attacks.items():
        assert not zkml.verify(forged, split_keys), name
        assert not S.verify_split_onchain(chain, dep, forged).valid, name

    reg = R.deploy_registry(chain)
    model = S.register_split_model(chain, reg, split_keys, dep)
    # the same account registers a second split model under its own id (an immutable config
    # digest gives each SplitVerifier configuration its own codehash: it was refused before)
    other = S.register_split_model(chain, reg, split_keys_b,
                                   S.deploy_split_verifier(chain, split_keys_b))
    assert other.onchain_model_id != model.onchain_model_id
    # forged first: the reordered one has the valid statement's instances (else "replay")
    for name, forged in attacks.items():
        with pytest.raises(zkml.RegistryError) as e:
            R.submit_inference(chain, reg, model.onchain_model_id, S.onchain_bundle(forged))
        assert e.value.reason in ("invalid proof", "layout mismatch"), name
    receipt = R.submit_inference(chain, reg, model.onchain_model_id,
                                 S.onchain_bundle(split_bundle))
    log = R.audit_log(chain, reg)
    assert [r.inference_id for r in log] == [receipt.inference_id]
    assert log[0].decoded_outputs == split_bundle.outputs


def test_split_cli_pipeline(anvil: object, tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from zkml.cli.main import app

    def run(*args: str) -> tuple[int, str]:
        res = CliRunner().invoke(app, list(args), catch_exceptions=False)
        return res.exit_code, res.stdout if "--json" in args else res.output

    d = str(tmp_path / "tiny")
    url = anvil.url  # type: ignore[attr-defined]
    assert run("export", "tiny-mlp", "--dir", d)[0] == 0
    code, out = run("split", "compile", "--dir", d, "--segments", "2", "--json")
    assert code == 0 and json.loads(out)["segments"] == 2
    # `zkml compile --segments` is the same command: same cached split, same cut
    code, again = run("compile", "--dir", d, "--segments", "2", "--json")
    assert code == 0 and json.loads(again) == json.loads(out)
    code, out = run("split", "setup", "--dir", d, "--json")
    assert code == 0 and len(json.loads(out)["segments"]) == 2
    inp = tmp_path / "in.json"
    inp.write_text(json.dumps([[0.1, -0.2, 0.3, 0.4]]))
    bundle = tmp_path / "split.bundle.json"
    code, out = run("split", "prove", "--dir", d, str(inp), "-o", str(bundle), "--workers",
                    "2", "--json")
    assert code == 0 and len(json.loads(out)["outputs"]) == 2
    assert run("split", "verify", "--dir", d, str(bundle))[0] == 0
    # again: the segment proofs kept by the first run, unless --fresh
    again = tmp_path / "again.bundle.json"
    assert run("split", "prove", "--dir", d, str(inp), "-o", str(again))[0] == 0
    assert json.loads(again.read_text())["segments"] == json.loads(bundle.read_text())[
        "segments"]
    assert run("split", "prove", "--dir", d, str(inp), "-o", str(again), "--fresh")[0] == 0
    assert json.loads(again.read_text())["segments"] != json.loads(bundle.read_text())[
        "segments"]
    b = json.loads(bundle.read_text())
    b["segments"] = b["segments"][::-1]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(b))
    code, out = run("split", "verify", "--dir", d, str(bad))
    assert code == 1 and "INVALID" in out
    assert run("split", "deploy", "--dir", d, "--rpc-url", url)[0] == 0
    code, out = run("split", "verify-onchain", "--dir", d, str(bundle), "--rpc-url", url,
                    "--json")
    assert code == 0 and json.loads(out)["valid"] is True
    code, out = run("split", "verify-onchain", "--dir", d, str(bad), "--rpc-url", url)
    assert code == 1 and "REJECTED" in out


def test_auto_picks_the_fewest_segments_that_fit(tiny: Pipeline) -> None:
    split = zkml.compile_model(tiny.exported, tiny.zoo.calibration, segments="auto",
                               config=tiny.zoo.config)
    assert len(split.segments) == 1  # the whole tiny model fits this machine
    with pytest.raises(zkml.CompileError, match=r"segments fits 0\.0 GB per proof"):
        zkml.compile_model(tiny.exported, tiny.zoo.calibration, segments="auto",
                           max_memory=1000, config=tiny.zoo.config)
