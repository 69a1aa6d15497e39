"""solc adapter: compiles Solidity with the pinned solc-js from the project's node_modules."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from zkml.errors import ContractError, ToolchainError

__all__ = ["SOLC_VERSION", "compile_standard", "find_node_modules", "node_bin", "solc_version"]

SOLC_VERSION = "0.8.20"  # the version ezkl's generated verifiers target; pinned in package.json


def find_node_modules(package: str) -> Path:
    """Locate ``node_modules/<package>``: $ZKML_NODE_MODULES, then the project and cwd parents."""
    candidates: list[Path] = []
    env = os.environ.get("ZKML_NODE_MODULES")
    if env:
        candidates.append(Path(env))
    for start in (Path(__file__).resolve().parent, Path.cwd().resolve()):
        candidates.extend(p / "node_modules" for p in [start, *start.parents])
    for nm in candidates:
        if (nm / package / "package.json").is_file():
            return nm / package
    raise ToolchainError(
        f"npm package {package!r} not found in any node_modules; run `make setup` (npm ci) in "
        "the zkml checkout or set ZKML_NODE_MODULES to a node_modules folder that has it."
    )


def node_bin(name: str, package: str) -> Path:
    """The executable ``node_modules/.bin/<name>`` installed by ``package``."""
    binary = find_node_modules(package).parents[package.count("/")] / ".bin" / name
    if not binary.exists():
        raise ToolchainError(f"{binary} is missing; run `make setup` (npm ci).")
    return binary


def _node() -> str:
    node = shutil.which("node")
    if not node:
        raise ToolchainError("node (Node.js) is not on PATH; install Node.js 18+ (e.g. apt-get "
                             "install nodejs).")
    return node


def _run(args: list[str], stdin: str) -> str:
    script = resources.files("zkml").joinpath("data/solc_compile.js")
    with resources.as_file(script) as js:
        proc = subprocess.run(
            [_node(), str(js), str(find_node_modules("solc")), *args],
            input=stdin, capture_output=True, text=True, timeout=600,
        )
    if proc.returncode != 0:
        raise ContractError(f"solc-js failed: {proc.stderr.strip()[:400]}")
    return proc.stdout


@cache
def solc_version() -> str:
    version = _run(["--version"], "").strip()
    if not version.startswith(SOLC_VERSION + "+"):
        raise ToolchainError(
            f"solc-js {version} found, but zkml pins {SOLC_VERSION}; run `make setup` (npm ci)."
        )
    return version


def compile_standard(sources: dict[str, str], *, optimize_runs: int = 200) -> dict[str, Any]:
    """Compile with solc's standard JSON; raise ContractError listing the compiler errors."""
    solc_version()
    request = {
        "language": "Solidity",
        "sources": {name: {"content": src} for name, src in sources.items()},
        "settings": {
            "optimizer": {"enabled": True, "runs": optimize_runs},
            "outputSelection": {
                "*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}
            },
        },
    }
    out: dict[str, Any] = json.loads(_run([], json.dumps(request)))
    errors = [e for e in out.get("errors", []) if e.get("severity") == "error"]
    if errors:
        msgs = "; ".join(e.get("formattedMessage", e.get("message", "?"))[:300] for e in errors)
        raise ContractError(f"solc {SOLC_VERSION} rejected the source: {msgs}")
    return out
