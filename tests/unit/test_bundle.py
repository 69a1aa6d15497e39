from __future__ import annotations

import json
from pathlib import Path

import pytest

import zkml
from zkml.proof.verify import parse_instances, proof_bytes

GOOD = {
    "model_id": "ab" * 32,
    "settings_digest": "cd" * 32,
    "preset": "private-input",
    "proof": "0x" + "00" * 64,
    "instances": ["1", "2"],
    "output_instance_offset": 0,
    "output_scales": [13],
    "outputs": [0.0, 0.0],
    "output_shape": [1, 2],
    "srs_source": "dev-unsafe",
    "versions": {"zkml": "0.1.0", "ezkl": "23.0.5"},
}


def _write(tmp_path: Path, data: object) -> Path:
    p = tmp_path / "b.json"
    p.write_text(data if isinstance(data, str) else json.dumps(data))
    return p


def test_good_bundle_round_trips(tmp_path: Path) -> None:
    b = zkml.load_bundle(_write(tmp_path, GOOD))
    assert b.instances == ["1", "2"]
    again = zkml.load_bundle(zkml.save_artifact(b, tmp_path / "c.json"))
    assert again == b


def test_not_json(tmp_path: Path) -> None:
    with pytest.raises(zkml.BundleError, match="not a zkml proof bundle"):
        zkml.load_bundle(_write(tmp_path, "{not json"))


def test_missing_field(tmp_path: Path) -> None:
    bad = {k: v for k, v in GOOD.items() if k != "proof"}
    with pytest.raises(zkml.BundleError, match="not a zkml proof bundle"):
        zkml.load_bundle(_write(tmp_path, bad))


def test_extra_field_refused(tmp_path: Path) -> None:
    with pytest.raises(zkml.BundleError):
        zkml.load_bundle(_write(tmp_path, {**GOOD, "witness": [1, 2, 3]}))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(zkml.BundleError, match="cannot read the proof bundle"):
        zkml.load_bundle(tmp_path / "nope.json")


@pytest.mark.parametrize("proof", ["00ff", "0x0", "0xzz", "0x 00"])
def test_proof_must_be_even_0x_hex(proof: str) -> None:
    b = zkml.ProofBundle(**{**GOOD, "proof": proof})
    with pytest.raises(zkml.BundleError, match="0x-prefixed hex"):
        proof_bytes(b)


@pytest.mark.parametrize("inst", ["-1", "0x10", "1.5", "", " 1"])
def test_instances_must_be_decimal(inst: str) -> None:
    b = zkml.ProofBundle(**{**GOOD, "instances": [inst]})
    with pytest.raises(zkml.BundleError, match="not a non-negative decimal integer"):
        parse_instances(b)


def test_instances_are_never_reduced() -> None:
    huge = str(2**255 + 7)
    b = zkml.ProofBundle(**{**GOOD, "instances": [huge]})
    assert parse_instances(b) == [2**255 + 7]
