"""What compare.py measures besides wall-clock time: a process's resident memory, and the gas
of each flow's verifyProof transaction."""

from __future__ import annotations

import json
import os
import resource
from pathlib import Path
from typing import Any


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def current_rss() -> int:
    """Resident memory now. The baseline for "RSS added": the peak so far would include
    transient import memory that later allocations reuse, and under-count what proving adds."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return peak_rss()


def verify_gas(work: Path, chain: Any) -> dict[str, int | None]:
    """Gas of verifyProof for (a) the default flow's proof and (b) the tuned flow's proof, each
    on its own verifier deployed to ``chain``. ZKML_CACHE_DIR is as before on return."""
    import zkml
    from zkml import _solc
    from zkml._utils import felt_from_le_hex

    out: dict[str, int | None] = {}
    # (a) the default flow's verifier, compiled with the same pinned solc
    src = (work / "default_verifier.sol").read_text()
    art = next(iter(_solc.compile_standard({"V.sol": src})["contracts"]["V.sol"].values()))
    addr, _, _ = chain.deploy(art["abi"], "0x" + art["evm"]["bytecode"]["object"])
    proof = json.loads((work / "default_proof.json").read_text())
    inst = [felt_from_le_hex(v) for col in proof["instances"] for v in col]
    fn = chain.w3.eth.contract(address=addr, abi=art["abi"]).functions.verifyProof(
        bytes(proof["proof"]), inst)
    out["default"] = int(chain.transact(fn, gas=5_000_000)["gasUsed"])
    # (b) the tuned flow's keys live in its own cache
    keys = zkml.load_artifact(zkml.Keys, work / "tuned_keys.json")
    cache_env = os.environ.get("ZKML_CACHE_DIR")
    os.environ["ZKML_CACHE_DIR"] = str(work / "tuned-cache")
    try:
        dep = zkml.deploy_verifier(chain, zkml.build_verifier(keys, allow_oversize=True))
        res = zkml.verify_onchain(chain, dep, zkml.load_bundle(work / "tuned_bundle.json"))
    finally:
        if cache_env is None:
            os.environ.pop("ZKML_CACHE_DIR", None)
        else:
            os.environ["ZKML_CACHE_DIR"] = cache_env
    out["tuned"] = res.gas_used
    return out
