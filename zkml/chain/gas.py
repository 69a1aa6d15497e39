"""Verify gas of a keyed model: its verifier deployed on a local chain, one verifyProof sent.

The tuner weighs candidates by it (it cannot import the chain package itself: the CLI hands it
a :class:`VerifyGasMeter`). A local anvil node is started on first use when the npm package is
installed (~0.01 s per verifyProof); otherwise the embedded EVM is used (~2.5 s per call).
"""

from __future__ import annotations

from types import TracebackType

from zkml.artifacts import Deployment, Keys, ProofBundle
from zkml.chain.contract import build_verifier
from zkml.chain.devnode import Anvil
from zkml.chain.evm import Chain, connect, deploy_verifier, verify_onchain
from zkml.errors import ChainError, ToolchainError

__all__ = ["VerifyGasMeter"]


class VerifyGasMeter:
    """``meter(keys, bundle)`` -> gas of ``verifyProof`` for that proof (a valid one).

    Verifiers are built with :func:`build_verifier` (cached) and deployed once per model on a
    chain started on first use and stopped by :meth:`close` (or leaving the ``with`` block).
    """

    def __init__(self) -> None:
        self._node: Anvil | None = None
        self._chain: Chain | None = None
        self._deployed: dict[str, Deployment] = {}

    def _connect(self) -> Chain:
        if self._chain is None:
            try:
                self._node = Anvil()
                self._chain = connect(self._node.url)
            except ToolchainError:  # anvil not installed: the embedded EVM (same gas rules)
                self._chain = connect()
        return self._chain

    def __call__(self, keys: Keys, bundle: ProofBundle) -> int:
        chain = self._connect()
        deployment = self._deployed.get(keys.model_id)
        if deployment is None:
            contract = build_verifier(keys, allow_oversize=True)  # a local chain takes any size
            deployment = self._deployed[keys.model_id] = deploy_verifier(chain, contract)
        result = verify_onchain(chain, deployment, bundle)
        if not result.valid or result.gas_used is None:
            raise ChainError(f"measuring verify gas: the verifier rejected the proof "
                             f"({result.reason}).")
        return result.gas_used

    def close(self) -> None:
        if self._node is not None:
            self._node.stop()
        self._node, self._chain = None, None
        self._deployed.clear()

    def __enter__(self) -> VerifyGasMeter:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
