"""The whole pipeline on a tiny model with real ezkl: correctness, tampering, cache, bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

import zkml
from zkml import cache
from zkml._utils import FIELD_MODULUS

from .conftest import Pipeline, build_pipeline, tiny_zoo


def _tamper(bundle: zkml.ProofBundle, **update: object) -> zkml.ProofBundle:
    return bundle.model_copy(update=update)


def test_circuit_is_small(tiny: Pipeline) -> None:
    assert tiny.circuit.logrows <= 12
    assert tiny.circuit.num_rows > 0
    assert tiny.keys.srs_source == "dev-unsafe"
    assert len(tiny.keys.model_id) == 64


def test_decoded_output_matches_float_reference(tiny: Pipeline, bundle: zkml.ProofBundle) -> None:
    x = tiny.zoo.test_inputs[0]
    with torch.no_grad():
        ref = tiny.zoo.model(torch.tensor(x, dtype=torch.float32)).numpy().ravel()
    bound = 2 * tiny.circuit.quantization.max_abs_error + 2.0 ** -tiny.circuit.output_scales[0]
    assert np.max(np.abs(np.array(bundle.outputs) - ref)) <= bound
    assert tiny.circuit.quantization.argmax_agreement == 1.0


def test_good_proof_verifies(tiny: Pipeline, bundle: zkml.ProofBundle) -> None:
    assert zkml.verify(bundle, tiny.keys) is True


def test_bundle_file_verifies_by_model_id(bundle: zkml.ProofBundle, tmp_path: Path) -> None:
    path = zkml.save_artifact(bundle, tmp_path / "bundle.json")
    assert zkml.verify(path) is True  # keys found in the cache by model id


@pytest.mark.parametrize("offset", [0, 31, 100, -1])
def test_flipped_proof_byte_rejected(tiny: Pipeline, bundle: zkml.ProofBundle, offset: int
                                     ) -> None:
    raw = bytearray(bytes.fromhex(bundle.proof[2:]))
    raw[offset] ^= 0x01
    assert zkml.verify(_tamper(bundle, proof="0x" + raw.hex()), tiny.keys) is False


def test_truncated_and_empty_proof_rejected(tiny: Pipeline, bundle: zkml.ProofBundle) -> None:
    assert zkml.verify(_tamper(bundle, proof=bundle.proof[:-64]), tiny.keys) is False
    assert zkml.verify(_tamper(bundle, proof="0x"), tiny.keys) is False


def test_tampered_public_output_rejected(tiny: Pipeline, bundle: zkml.ProofBundle) -> None:
    inst = list(bundle.instances)
    i = bundle.output_instance_offset
    inst[i] = str((int(inst[i]) + 1) % FIELD_MODULUS)
    assert zkml.verify(_tamper(bundle, instances=inst), tiny.keys) is False


def test_claimed_float_output_must_match_instances(tiny: Pipeline, bundle: zkml.ProofBundle
                                                    ) -> None:
    outs = list(bundle.outputs)
    outs[0] += 1.0
    assert zkml.verify(_tamper(bundle, outputs=outs), tiny.keys) is False


def test_instance_aliased_by_field_modulus_rejected(tiny: Pipeline, bundle: zkml.ProofBundle
                                                    ) -> None:
    inst = list(bundle.instances)
    inst[0] = str(int(inst[0]) + FIELD_MODULUS)
    assert zkml.verify(_tamper(bundle, instances=inst), tiny.keys) is False


def test_proof_for_another_model_rejected(tiny: Pipeline, tiny_b: Pipeline,
                                          bundle_b: zkml.ProofBundle) -> None:
    assert tiny_b.keys.model_id != tiny.keys.model_id
    assert zkml.verify(bundle_b, tiny_b.keys) is True
    assert zkml.verify(bundle_b, tiny.keys) is False
    # relabelling B's proof as A's does not help: A's verifying key rejects it
    relabelled = _tamper(bundle_b, model_id=tiny.keys.model_id,
                         settings_digest=tiny.circuit.settings_digest)
    assert zkml.verify(relabelled, tiny.keys) is False


def test_second_run_hits_the_cache(tiny: Pipeline) -> None:
    again = build_pipeline(tiny.zoo, Path(tiny.exported.onnx_path).parent)
    assert again.circuit.cache_hit and again.keys.cache_hit
    assert again.keys.model_id == tiny.keys.model_id


def test_compile_is_deterministic(tiny: Pipeline, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # a fresh cache: everything rebuilt from scratch must give the same model id
    monkeypatch.setenv("ZKML_CACHE_DIR", str(tmp_path / "cache2"))
    # the dev SRS differs per machine-cache, so reuse the original SRS file
    fresh_circuit = zkml.compile_model(tiny.exported, tiny.zoo.calibration,
                                       config=tiny.zoo.config)
    assert not fresh_circuit.cache_hit
    assert fresh_circuit.settings_digest == tiny.circuit.settings_digest
    from zkml.proof.srs import SrsFile

    srs = SrsFile(Path(tiny.keys.srs_path), tiny.circuit.logrows, tiny.keys.srs_sha256,
                  "dev-unsafe")
    assert zkml.setup(fresh_circuit, srs=srs).model_id == tiny.keys.model_id


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        ([[0.1, 0.2, 0.3]], zkml.InputShapeError, "but the model takes (1, 4) (4 values)"),
        ([[0.1, float("nan"), 0.3, 0.4]], zkml.InputError, "NaN or infinity"),
        ([[0.1, 0.2, 0.3, 1e6]], zkml.InputRangeError, "outside the calibrated range"),
        ([[True, False, True, False]], zkml.InputError, "give real numbers"),
        ([["a", "b", "c", "d"]], zkml.InputError, "give real numbers"),
        ("/nonexistent/input.json", zkml.InputError, "no such input file"),
    ],
)
def test_bad_input_gets_typed_error(tiny: Pipeline, value: object, error: type, message: str
                                    ) -> None:
    with pytest.raises(error) as e:
        zkml.prove(tiny.keys, value)
    assert message in str(e.value)
    assert not list(cache.cache_root().glob(f"scratch-{os.getpid()}-*")), "no work left behind"


def test_input_from_json_file(tiny: Pipeline, tmp_path: Path) -> None:
    f = tmp_path / "in.json"
    f.write_text(json.dumps({"input_data": tiny.zoo.test_inputs[1].tolist()}))
    b = zkml.prove(tiny.keys, f)
    assert zkml.verify(b, tiny.keys)


def test_bundle_holds_no_private_input(tiny: Pipeline, bundle: zkml.ProofBundle) -> None:
    x = tiny.zoo.test_inputs[0].ravel()
    text = bundle.model_dump_json()
    quantised = [round(v * 2**tiny.circuit.input_scale) for v in x]
    felts = {str(q % FIELD_MODULUS) for q in quantised}
    assert not felts & set(bundle.instances)
    for v in x:
        assert f"{v:.6f}"[:-1] not in text


def test_private_params_need_explicit_flag(tiny: Pipeline) -> None:
    with pytest.raises(zkml.UnboundModelError):
        zkml.compile_model(tiny.exported, tiny.zoo.calibration,
                           config=zkml.CompileConfig(param_visibility="private"))


def test_committed_input_preset(tmp_path: Path) -> None:
    p = build_pipeline(tiny_zoo(), tmp_path, preset="committed-input")
    x0, x1 = p.zoo.test_inputs[0], p.zoo.test_inputs[1]
    b0, b0_again, b1 = (zkml.prove(p.keys, x) for x in (x0, x0, x1))
    assert zkml.verify(b0, p.keys) and zkml.verify(b1, p.keys)
    assert b0.output_instance_offset == 1 and b0.input_commitment == b0.instances[0]
    # a fresh salt per proof: same data, different commitments (see test_commitment.py)
    assert b0.input_commitment != b0_again.input_commitment
    assert b0.input_commitment != b1.input_commitment
    # claiming another input's commitment breaks the proof
    forged = b0.model_copy(update={"instances": [b1.instances[0], *b0.instances[1:]]})
    assert zkml.verify(forged, p.keys) is False


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_big_model_proves_and_verifies(tmp_path: Path) -> None:
    """LeNet-5, the zoo's big model, through the whole pipeline (minutes and ~5 GB on 2 cores):
    its proof verifies, its decoded outputs match the float model, a tampered output fails."""
    import circuits

    zoo, keys = circuits.prepare("lenet5", tmp_path)
    assert "lenet5" in circuits.BIG and keys.circuit.logrows > 12
    x = zoo.test_inputs[0]
    b = zkml.prove(keys, x)
    assert zkml.verify(b, keys) is True
    with torch.no_grad():
        ref = zoo.model(torch.tensor(x, dtype=torch.float32)).numpy().ravel()
    q = keys.circuit.quantization
    assert np.max(np.abs(np.array(b.outputs) - ref)) <= (
        2 * q.max_abs_error + 2.0 ** -keys.circuit.output_scales[0])
    inst = list(b.instances)
    i = b.output_instance_offset
    inst[i] = str((int(inst[i]) + 1) % FIELD_MODULUS)
    assert zkml.verify(_tamper(b, instances=inst), keys) is False


@pytest.mark.parametrize("values,error,match", [
    ([10.0, 0.2, 0.3, 0.1], "WitnessRangeError", "decomposition error"),
    ([0.1, 0.2, 0.3], "WitnessShapeError", "Cannot reshape"),
])
def test_the_adapter_types_ezkls_witness_errors(tiny: Pipeline, tmp_path: Path,
                                                values: list[float], error: str,
                                                match: str) -> None:
    """ezkl's error texts are read in the adapter only: a value past the range checks and
    data of the wrong size each come out as their own ProveError subclass (prove and
    split-prove turn the first into an InputRangeError)."""
    from zkml import _ezkl

    # rescaled rarely (multiplier 10), so an input of 10 overflows the 256^4 range checks
    circuit = zkml.compile_model(tiny.exported, tiny.zoo.calibration, config=zkml.CompileConfig(
        scales=[11], rebase_multipliers=[10]), floor=False)
    data = tmp_path / "input.json"
    data.write_text(json.dumps({"input_data": [values]}))
    with pytest.raises(getattr(_ezkl, error), match=match) as info:
        _ezkl.gen_witness(data, Path(circuit.compiled_path), tmp_path / "w.json", None, None)
    assert isinstance(info.value, zkml.ProveError)
