"""The end-to-end demo: prove one patient's breast-cancer diagnosis, verify it on-chain and
record it in the inference registry.

The patient's 30 features stay private; the model is bound by its verifying key; the
diagnosis (two logits) is public. Uses only scikit-learn's bundled dataset.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zkml import _progress
from zkml.artifacts import save_artifact
from zkml.chain.contract import build_verifier
from zkml.chain.evm import connect, deploy_verifier, verify_onchain
from zkml.chain.registry import deploy_registry, get_record, register_model, submit_inference
from zkml.cli._dir import BuildDir
from zkml.errors import ZkmlValueError
from zkml.model.export import export
from zkml.pipeline import compile_model, publish
from zkml.proof.keys import setup
from zkml.proof.prove import prove
from zkml.proof.verify import verify

__all__ = ["DemoResult", "run_demo"]


@dataclass
class DemoResult:
    patient: int
    diagnosis: str
    probability: float
    true_label: str
    outputs: list[float]
    reference: list[float]
    model_id: str
    logrows: int
    proof_bytes: int
    verified_locally: bool
    verified_onchain: bool
    deploy_gas: int
    verify_gas: int | None
    bundle_path: str
    registry_gas: dict[str, int] = field(default_factory=dict)
    audit_entry: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def run_demo(out_dir: str | Path = "build/demo", *, patient: int = 0, rpc_url: str | None = None
             ) -> DemoResult:
    """Run the whole pipeline on the breast-cancer model; artifacts go to ``out_dir``."""
    import circuits  # the zoo lives beside the package; imported late to keep `zkml` light

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    chain = connect(rpc_url)  # first: an unreachable node fails before minutes of proving
    _progress.timings.clear()
    t0 = time.perf_counter()
    with _progress.step("Training the diagnosis MLP on scikit-learn's breast-cancer data",
                        "train"):
        zoo = circuits.build("breast-cancer")
    if not 0 <= patient < len(zoo.test_inputs):
        raise ZkmlValueError(f"--patient {patient}: there are {len(zoo.test_inputs)} held-out "
                             f"patients; give 0 to {len(zoo.test_inputs) - 1}.")
    with _progress.step("Exporting to ONNX", "export"):
        exported = export(zoo.model, zoo.example_input, out / BuildDir.MODEL, name=zoo.name)
    circuit = compile_model(exported, zoo.calibration, preset=zoo.preset, config=zoo.config)
    keys = setup(circuit)
    BuildDir(out).save(keys, BuildDir.KEYS)
    x = zoo.test_inputs[patient]
    bundle = prove(keys, x)
    bundle_path = BuildDir(out).save(bundle, BuildDir.BUNDLE)
    with _progress.step("Verifying the proof locally", "verify"):
        ok_local = verify(bundle, keys)
    contract = build_verifier(keys, out_dir=out)
    deployment = deploy_verifier(chain, contract)
    BuildDir(out).save(deployment, BuildDir.DEPLOYMENT)
    onchain = verify_onchain(chain, deployment, bundle)
    # The audit trail: record the diagnosis in the inference registry and read it back.
    registry = deploy_registry(chain)
    registration = register_model(chain, registry, keys, deployment,
                                  metadata_uri="zkml://circuits/breast-cancer")
    receipt = submit_inference(chain, registry, registration.onchain_model_id, bundle)
    entry = get_record(chain, registry, receipt.inference_id)
    # what an auditor needs afterwards: the registry's address (to index it) and the model's
    # verification package (its preset, labels and verifying key)
    save_artifact(registry, out / "registry.json")
    BuildDir(out).save(registration, BuildDir.REGISTRATION)
    publish(keys, out / "package", verifier=contract, registrations=[registration],
            with_srs=True, labels=list(zoo.labels))
    _progress.timings["total"] = time.perf_counter() - t0
    logits = bundle.outputs
    exps = [math.exp(v - max(logits)) for v in logits]
    cls = max(range(len(logits)), key=lambda i: logits[i])
    label = zoo.test_labels[patient] if zoo.test_labels is not None else -1
    from zkml.model.export import run_onnx

    reference = run_onnx(Path(exported.onnx_path).read_bytes(), x.reshape(exported.input_shape))
    return DemoResult(
        patient=patient,
        diagnosis=zoo.labels[cls],
        probability=exps[cls] / sum(exps),
        true_label=zoo.labels[int(label)] if label >= 0 else "?",
        outputs=logits,
        reference=[float(v) for v in reference.reshape(-1)],
        model_id=keys.model_id,
        logrows=circuit.logrows,
        proof_bytes=len(bytes.fromhex(bundle.proof[2:])),
        verified_locally=ok_local,
        verified_onchain=onchain.valid,
        deploy_gas=deployment.gas_used,
        verify_gas=onchain.gas_used,
        bundle_path=str(bundle_path),
        registry_gas={"deploy": registry.gas_used, "register": registration.gas_used,
                      "submit": receipt.gas_used},
        audit_entry=entry.model_dump(),
        timings=dict(_progress.timings),
        extra={
            "cache_hits": {"circuit": circuit.cache_hit, "keys": keys.cache_hit},
            "max_abs_error": circuit.quantization.max_abs_error,
            "runtime_size": contract.runtime_size,
            "srs": keys.srs_source,
            "chain": chain.label,
        },
    )
