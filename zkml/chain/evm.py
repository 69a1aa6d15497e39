"""Stage 8: EVM chains through web3.py: the embedded in-process EVM or any JSON-RPC node.

The only module that builds web3 objects. A transaction's private key comes only from the
environment (``ZKML_PRIVATE_KEY`` by default), never from arguments shown in argv or logs.
"""

from __future__ import annotations

import ast
import contextlib
import math
import os
import re
from dataclasses import dataclass
from typing import Any, Literal

from eth_account import Account
from web3 import EthereumTesterProvider, HTTPProvider, Web3
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractCustomError, ContractLogicError
from web3.middleware import SignAndSendRawMiddlewareBuilder

from zkml._progress import step
from zkml.artifacts import Deployment, ProofBundle, VerifierContract
from zkml.errors import ChainError
from zkml.proof.bundle import bundle_problem, parse_instances, proof_bytes

__all__ = [
    "Chain",
    "connect",
    "deploy_verifier",
    "verify_onchain",
    "OnchainResult",
    "Reverted",
    "DEFAULT_KEY_ENV",
]

from zkml.chain import DEFAULT_KEY_ENV

EMBEDDED = "embedded"
#: the state a call or a gas estimate runs on (None: the node's default, "latest")
BlockTag = Literal["latest", "pending"] | None
_EMBEDDED_GAS_LIMIT = 30_000_000


class Reverted(ChainError):
    """A call or transaction reverted; ``data`` is the revert data (custom error, if any)."""

    def __init__(self, message: str, data: bytes) -> None:
        super().__init__(message)
        self.data = data


def _revert_data(e: BaseException) -> bytes:
    """The revert data (e.g. a custom error) carried by web3's or eth-tester's exception."""
    data: Any = getattr(e, "data", None)
    if isinstance(data, bytes):
        return data
    if isinstance(data, str) and data.startswith("0x"):
        with contextlib.suppress(ValueError):
            return bytes.fromhex(data[2:])
    # eth-tester puts the raw bytes' repr in the message: "execution reverted: b'...'"
    m = re.search(r"execution reverted: (b'.*'|b\".*\")", str(e), re.S)
    if m:
        with contextlib.suppress(ValueError, SyntaxError):
            raw = ast.literal_eval(m.group(1))
            if isinstance(raw, bytes):
                return raw
    return b""


def _is_revert(e: BaseException) -> bool:
    if isinstance(e, (ContractLogicError, ContractCustomError)):
        return True
    return type(e).__name__ == "TransactionFailed"  # eth-tester's revert


class Chain:
    """A connection to one chain with one sending account."""

    def __init__(self, w3: Web3, account: str, *, embedded: bool, label: str) -> None:
        self.w3 = w3
        self.account = account
        self.embedded = embedded
        self.label = label

    def __repr__(self) -> str:  # never shows the key
        return f"Chain({self.label}, chain_id={self.chain_id}, account={self.account})"

    def with_account(self, address: str) -> Chain:
        """The same chain, sending from another unlocked account (dev nodes, embedded)."""
        return Chain(self.w3, Web3.to_checksum_address(address), embedded=self.embedded,
                     label=self.label)

    @property
    def chain_id(self) -> int:
        try:
            return int(self.w3.eth.chain_id)
        except Exception as e:
            raise _failure(self.label, "reading the chain id", e) from e

    def _gas(self, fn: Any, gas: int | None, block: BlockTag = None) -> int:
        if gas is not None:
            return gas
        if self.embedded:  # py-evm's estimation takes seconds; the block limit is generous
            return _EMBEDDED_GAS_LIMIT // 2
        try:
            return math.ceil(int(fn.estimate_gas({"from": self.account},
                                                 block_identifier=block)) * 1.2)
        except Exception as e:
            if _is_revert(e):
                raise Reverted(f"{self.label}: the call would revert", _revert_data(e)) from e
            raise _failure(self.label, "gas estimation", e) from e

    def call(self, fn: ContractFunction, *, gas: int | None = 10_000_000,
             block: BlockTag = None) -> Any:
        """eth_call (on ``block``: None is the node's default, "latest"); a revert raises
        :class:`Reverted` with its data."""
        try:
            return fn.call({"from": self.account, "gas": gas} if gas else {"from": self.account},
                           block_identifier=block)
        except Exception as e:
            if _is_revert(e):
                raise Reverted(f"{self.label}: call reverted", _revert_data(e)) from e
            raise _failure(self.label, "a call", e) from e

    def call_raw(self, to: str, data: bytes, *, gas: int = 1_000_000) -> bytes:
        """eth_call of raw calldata (to probe a contract whose ABI is unknown): the raw
        return data; a revert raises :class:`Reverted`, a node failure :class:`ChainError`."""
        tx: Any = {"from": self.account, "to": Web3.to_checksum_address(to),
                   "data": "0x" + data.hex(), "gas": gas}
        try:
            return bytes(self.w3.eth.call(tx))
        except Exception as e:
            if _is_revert(e):
                raise Reverted(f"{self.label}: call reverted", _revert_data(e)) from e
            raise _failure(self.label, "a call", e) from e

    def transact(self, fn: Any, *, gas: int | None = None, preflight: bool = False,
                 block: BlockTag = None) -> Any:
        """Send a transaction and wait for its receipt; a revert raises :class:`Reverted`.

        With ``preflight``, the call is simulated first so a revert carries its reason (a
        mined failed transaction returns no revert data). ``block`` is the state the preflight
        and the gas estimate run on: "pending" when the contract compares the block number
        with one just written (a call on "latest" runs with the latest block's number).
        """
        if preflight:
            self.call(fn, gas=gas or _EMBEDDED_GAS_LIMIT // 2, block=block)
        try:
            tx = fn.transact({"from": self.account, "gas": self._gas(fn, gas, block)})
            receipt = self.w3.eth.wait_for_transaction_receipt(tx, timeout=120)
        except Reverted:
            raise
        except Exception as e:
            if _is_revert(e):
                raise Reverted(f"{self.label}: transaction reverted", _revert_data(e)) from e
            raise _failure(self.label, "a transaction", e) from e
        if receipt["status"] != 1:
            raise Reverted(f"{self.label}: transaction {receipt['transactionHash'].hex()} "
                           "reverted", b"")
        return receipt

    def deploy(
        self, abi: list[dict[str, Any]], bytecode: str, *args: Any, gas: int | None = None
    ) -> tuple[str, str, int]:
        """Deploy a contract; returns (address, tx hash, gas used)."""
        factory = self.w3.eth.contract(abi=abi, bytecode=bytecode)
        receipt = self.transact(factory.constructor(*args), gas=gas)
        return (
            str(receipt["contractAddress"]),
            "0x" + bytes(receipt["transactionHash"]).hex().removeprefix("0x"),
            int(receipt["gasUsed"]),
        )

    def logs(self, event: Any, *, from_block: int = 0, to_block: int | str = "latest",
             argument_filters: dict[str, Any] | None = None) -> list[Any]:
        """An event's logs; an RPC failure is a :class:`ChainError`, never a raw web3 error."""
        try:
            return list(event.get_logs(from_block=from_block, to_block=to_block,
                                       argument_filters=argument_filters))
        except Exception as e:
            raise _failure(self.label, "reading event logs", e) from e

    def contract(self, address: str, abi: list[dict[str, Any]]) -> Any:
        try:
            code = self.w3.eth.get_code(Web3.to_checksum_address(address))
        except Exception as e:
            raise _failure(self.label, "reading contract code", e) from e
        if not code:
            raise ChainError(
                f"{self.label}: no contract at {address} (was the chain restarted or is this "
                "another chain?); deploy it again."
            )
        return self.w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi)


def _brief(e: BaseException) -> str:
    return (str(e).splitlines() or [type(e).__name__])[0][:240]


def _failure(label: str, what: str, e: BaseException) -> ChainError:
    """A ChainError that says whether the node is gone (retry later) or refused the request."""
    if isinstance(e, (ConnectionError, OSError)) or type(e).__name__ in {
        "ConnectionError", "ConnectTimeout", "ReadTimeout", "MaxRetryError",
    }:
        return ChainError(
            f"{label}: the RPC endpoint is unreachable during {what} ({_brief(e)}); the "
            "transaction was not confirmed and your proof bundle on disk is unchanged: retry "
            "when the node is back."
        )
    return ChainError(f"{label}: {what} failed: {_brief(e)}")


def connect(rpc_url: str | None = None, *, key_env: str = DEFAULT_KEY_ENV,
            read_only: bool = False) -> Chain:
    """Connect to a chain.

    Args:
        rpc_url: ``None`` or ``"embedded"`` for the in-process EVM (py-evm, no server); else a
            JSON-RPC URL (http:// or https://).
        key_env: the environment variable holding the sender's private key for an RPC chain.
            If unset, the node's first unlocked account is used (anvil, dev nodes).
        read_only: only read (calls, logs): no key is loaded and no account is needed, so a
            public node works; a transaction through this chain fails.

    Returns:
        A :class:`Chain`.

    Raises:
        ChainError: the node cannot be reached, or it has no account to send from.

    Example:
        >>> chain = zkml.connect()            # embedded
        >>> chain = zkml.connect("http://127.0.0.1:8545")
    """
    if rpc_url in (None, EMBEDDED):
        return _embedded()
    assert rpc_url is not None
    provider: Any
    if rpc_url.startswith(("http://", "https://")):
        provider = HTTPProvider(rpc_url, request_kwargs={"timeout": 60})
    else:
        raise ChainError(f"{rpc_url!r} is not an RPC URL (http:// or https://) or 'embedded'.")
    w3 = Web3(provider)
    try:
        _ = w3.eth.chain_id
    except Exception as e:
        raise ChainError(f"cannot reach the JSON-RPC node at {rpc_url}: {_brief(e)}; is it "
                         "running?") from e
    if read_only:  # calls are sent "from" the zero address; nothing can be signed
        return Chain(w3, "0x" + "00" * 20, embedded=False, label=rpc_url)
    key = os.environ.get(key_env)
    if key:
        try:
            acct = Account.from_key(key.strip())
        except Exception:  # noqa: BLE001 - its message could echo the key: dropped on purpose
            raise ChainError(f"${key_env} is not a valid private key (32 bytes hex).") from None
        w3.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(acct), layer=0)
        return Chain(w3, acct.address, embedded=False, label=rpc_url)
    accounts = w3.eth.accounts
    if not accounts:
        raise ChainError(
            f"{rpc_url} has no unlocked account and ${key_env} is not set; export the sender's "
            f"private key in {key_env}."
        )
    return Chain(w3, accounts[0], embedded=False, label=rpc_url)


def _embedded() -> Chain:
    from eth_tester import EthereumTester, PyEVMBackend

    params = PyEVMBackend.generate_genesis_params(overrides={"gas_limit": _EMBEDDED_GAS_LIMIT})
    tester = EthereumTester(PyEVMBackend(genesis_parameters=params))
    w3 = Web3(EthereumTesterProvider(tester))
    return Chain(w3, w3.eth.accounts[0], embedded=True, label="embedded EVM")


@dataclass(frozen=True)
class OnchainResult:
    """Outcome of an on-chain verification: ``valid`` is False when rejected, and ``reason``
    says by what (the bundle's own fields, checked before any call, or the contract)."""

    valid: bool
    gas_used: int | None
    reason: str | None = None


_REJECTED = "proof: the verifier contract rejected it for these instances"


def deploy_verifier(chain: Chain, contract: VerifierContract) -> Deployment:
    """Deploy the verifier contract; returns the :class:`Deployment` with its gas."""
    with step(f"Deploying verifier to {chain.label}", "deploy"):
        address, tx, gas = chain.deploy(contract.abi, contract.bytecode)
    return Deployment(
        model_id=contract.model_id,
        chain_id=chain.chain_id,
        address=address,
        tx_hash=tx,
        gas_used=gas,
        abi=contract.abi,
    )


def verify_onchain(
    chain: Chain, deployment: Deployment, bundle: ProofBundle, *, measure_gas: bool = True
) -> OnchainResult:
    """Call the deployed verifier's ``verifyProof`` with the bundle's proof and instances.

    Instances are sent exactly as written (never reduced modulo the field). A revert or a
    ``false`` return means rejected. With ``measure_gas``, a valid proof is also sent as a
    transaction to report its gas.

    Raises:
        ChainError: the chain is unreachable or the contract is missing.
    """
    if deployment.chain_id != chain.chain_id:
        raise ChainError(
            f"the deployment is on chain {deployment.chain_id}, connected to {chain.chain_id}."
        )
    # The contract sees only proof and instances: a bundle whose stored outputs are not what
    # the instances encode would be "accepted" while its reader is shown other numbers.
    problem = bundle_problem(bundle)
    if problem:
        return OnchainResult(False, None, problem)
    if bundle.model_id != deployment.model_id:
        return OnchainResult(False, None, "model_id: the verifier deployed at "
                             f"{deployment.address} is for another model")
    proof = proof_bytes(bundle)
    instances = parse_instances(bundle)
    verifier = chain.contract(deployment.address, deployment.abi)
    fn = verifier.functions.verifyProof(proof, instances)
    with step(f"Verifying on {chain.label}", "verify_onchain"):
        try:
            ok = bool(chain.call(fn))
        except Reverted:
            return OnchainResult(False, None, _REJECTED)
        if not ok or not measure_gas:
            return OnchainResult(ok, None, None if ok else _REJECTED)
        try:
            # estimated, not capped: a split model's SplitVerifier runs K verifiers in one
            # call (3.6M gas for dense-784 in 4 segments with its 784 public inputs)
            receipt = chain.transact(fn)
        except Reverted:
            return OnchainResult(False, None, _REJECTED)
    return OnchainResult(True, int(receipt["gasUsed"]))
