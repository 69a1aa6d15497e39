"""On-chain verification: the embedded EVM and a real anvil node."""

from __future__ import annotations

import pytest

import zkml
from zkml._utils import FIELD_MODULUS

from .conftest import Anvil, Pipeline


def _with(bundle: zkml.ProofBundle, **update: object) -> zkml.ProofBundle:
    return bundle.model_copy(update=update)


def _flip(bundle: zkml.ProofBundle, offset: int) -> zkml.ProofBundle:
    raw = bytearray(bytes.fromhex(bundle.proof[2:]))
    raw[offset] ^= 0x80
    return _with(bundle, proof="0x" + raw.hex())


def _bump(bundle: zkml.ProofBundle, index: int, by: int) -> zkml.ProofBundle:
    inst = list(bundle.instances)
    inst[index] = str(int(inst[index]) + by)
    return _with(bundle, instances=inst)


def test_verifier_fits_mainnet(verifier: zkml.VerifierContract) -> None:
    assert 0 < verifier.runtime_size <= 24_576
    assert verifier.solc_version.startswith("0.8.20+")
    names = {f["name"] for f in verifier.abi if f["type"] == "function"}
    assert "verifyProof" in names


def test_oversize_verifier_refused_unless_allowed(tiny: Pipeline) -> None:
    with pytest.raises(zkml.ContractSizeError, match="over the limit of 1000"):
        zkml.build_verifier(tiny.keys, size_limit=1000)
    assert zkml.build_verifier(tiny.keys, size_limit=1000, allow_oversize=True).runtime_size > 1000


def test_embedded_accepts_good_proof(embedded: zkml.Chain, embedded_deployment: zkml.Deployment,
                                     bundle: zkml.ProofBundle) -> None:
    res = zkml.verify_onchain(embedded, embedded_deployment, bundle)
    assert res.valid
    assert res.gas_used is not None and 200_000 < res.gas_used < 1_500_000
    assert 1_000_000 < embedded_deployment.gas_used < 10_000_000


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda b: _flip(b, 40), id="flipped-proof-bit"),
        pytest.param(lambda b: _with(b, proof=b.proof[:-128]), id="truncated-proof"),
        pytest.param(lambda b: _bump(b, b.output_instance_offset, 1), id="output+1"),
        pytest.param(lambda b: _bump(b, 0, FIELD_MODULUS), id="output+p-aliased"),
    ],
)
def test_embedded_rejects_tampering(embedded: zkml.Chain, embedded_deployment: zkml.Deployment,
                                    bundle: zkml.ProofBundle, mutate: object) -> None:
    bad = mutate(bundle)  # type: ignore[operator]
    assert zkml.verify_onchain(embedded, embedded_deployment, bad).valid is False


def test_verifier_contract_rejects_other_models_proof(
    embedded: zkml.Chain, embedded_deployment: zkml.Deployment, tiny: Pipeline,
    bundle_b: zkml.ProofBundle,
) -> None:
    # relabel so that our client-side model-id check does not short-circuit: the contract
    # itself must reject a proof made with other weights
    relabelled = _with(bundle_b, model_id=tiny.keys.model_id)
    assert zkml.verify_onchain(embedded, embedded_deployment, relabelled).valid is False


def test_anvil_end_to_end(anvil: Anvil, verifier: zkml.VerifierContract,
                          bundle: zkml.ProofBundle) -> None:
    chain = zkml.connect(anvil.url)
    assert chain.account == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # from the env key
    dep = zkml.deploy_verifier(chain, verifier)
    assert dep.chain_id == 31337
    good = zkml.verify_onchain(chain, dep, bundle)
    assert good.valid and good.gas_used and good.gas_used > 200_000
    assert not zkml.verify_onchain(chain, dep, _flip(bundle, 7)).valid
    assert not zkml.verify_onchain(chain, dep, _bump(bundle, 0, 1)).valid
    assert not zkml.verify_onchain(chain, dep, _bump(bundle, 0, FIELD_MODULUS)).valid


def test_anvil_restart_is_reported(anvil: Anvil, verifier: zkml.VerifierContract,
                                   bundle: zkml.ProofBundle) -> None:
    chain = zkml.connect(anvil.url)
    dep = zkml.deploy_verifier(chain, verifier)
    anvil.stop()
    fresh = Anvil()
    try:
        chain2 = zkml.connect(fresh.url)
        moved = dep.model_copy(update={"chain_id": chain2.chain_id})
        with pytest.raises(zkml.ChainError, match="no contract at"):
            zkml.verify_onchain(chain2, moved, bundle)
    finally:
        fresh.stop()


def test_unreachable_rpc_is_a_chain_error() -> None:
    with pytest.raises(zkml.ChainError, match="cannot reach the JSON-RPC node"):
        zkml.connect("http://127.0.0.1:9")
    with pytest.raises(zkml.ChainError, match="is not an RPC URL"):
        zkml.connect("ftp://example")
