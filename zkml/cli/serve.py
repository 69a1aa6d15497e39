"""`zkml index` and `zkml serve`: the registry's audit trail in SQLite and in a browser.

Both are read-only: they connect without a key (``--key-env`` is not offered) and send no
transaction. FastAPI and uvicorn (the `serve` extra) are imported inside the commands.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from zkml.cli.common import JsonOpt, emit, err, handle_errors
from zkml.errors import ChainError, ZkmlValueError

if TYPE_CHECKING:
    from zkml.serve.indexer import Indexer
    from zkml.serve.store import ModelInfo

app = typer.Typer()  # commands merged into the top-level `zkml` app

DbOpt = Annotated[Path, typer.Option("--db", help="The SQLite index file.")]
RegistryOpt = Annotated[str, typer.Option(
    "--registry", help="The registry: its deployment JSON (from `zkml registry deploy`) or its "
    "0x address.")]
ClaimRegistryOpt = Annotated[str | None, typer.Option(
    "--claim-registry", help="Also index this ClaimRegistry (over --registry): its deployment "
    "JSON (from `zkml claim deploy-registry`) or its 0x address.")]
ReorgOpt = Annotated[int, typer.Option(
    "--reorg-depth", min=1, help="Blocks re-read on every run, to survive reorgs.")]
DEFAULT_DB = Path("build/index.sqlite")


def _indexer(rpc_url: str | None, registry: str, db: Path, reorg_depth: int,
             from_block: int = 0, claim_registry: str | None = None) -> Indexer:
    if not rpc_url or rpc_url == "embedded":
        raise ChainError("indexing needs a persistent chain: pass --rpc-url (or set "
                         "ZKML_RPC_URL), e.g. a local anvil at http://127.0.0.1:8545.")
    from zkml.chain.evm import connect
    from zkml.serve.indexer import Indexer, registry_from

    # read before connecting: a wrong file is named without a round trip. A bare address
    # gets chain id 0 (not checked): it is whatever is at that address on the chain connected
    reg = registry_from(registry)
    claims = None if claim_registry is None else registry_from(
        claim_registry, contract="ClaimRegistry", option="--claim-registry")
    chain = connect(rpc_url, read_only=True)
    return Indexer(chain, reg, db, reorg_depth=reorg_depth, from_block=from_block,
                   claim_registry=claims)


@app.command("index")
@handle_errors
def index(
    rpc_url: Annotated[str | None, typer.Option("--rpc-url", envvar="ZKML_RPC_URL",
                                                help="JSON-RPC URL of the chain.")] = None,
    registry: RegistryOpt = "build/registry.json",
    claim_registry: ClaimRegistryOpt = None,
    db: DbOpt = DEFAULT_DB,
    reorg_depth: ReorgOpt = 12,
    from_block: Annotated[int, typer.Option(min=0, help="First block to read on a fresh "
                                            "index (the registry's deployment block).")] = 0,
    follow: Annotated[bool, typer.Option(help="Keep following new blocks (Ctrl-C stops).")]
    = False,
    interval: Annotated[float, typer.Option(min=0.2, help="Seconds between runs with "
                                            "--follow.")] = 2.0,
    as_json: JsonOpt = False,
) -> None:
    """Follow the registry's events (and a claim registry's, with --claim-registry) into a
    SQLite index: resumes from its last block, re-reads the last --reorg-depth blocks,
    re-indexes when the chain or a registry changed; running it again adds nothing."""
    ix = _indexer(rpc_url, registry, db, reorg_depth, from_block, claim_registry)
    while True:
        r = ix.sync()
        note = f"; re-indexed: {r.reindexed}" if r.reindexed else ""
        emit(r.__dict__, as_json, f"indexed blocks {r.from_block}..{r.to_block}: "
             f"+{r.new_models} model(s), +{r.new_inferences} inference(s), "
             + (f"+{r.new_claims} claim(s), " if claim_registry else "") +
             f"{r.total_inferences} inferences in total ({r.seconds:.2f}s){note} -> {db}")
        if not follow:
            return
        time.sleep(interval)


def _packages(paths: list[Path]) -> tuple[dict[str, Path], dict[str, ModelInfo]]:
    from zkml.proof.package import load_package
    from zkml.serve.store import ModelInfo

    folders: dict[str, Path] = {}
    infos: dict[str, ModelInfo] = {}
    for p in paths:
        pkg = load_package(p)
        m = pkg.manifest
        folders[m.vk_digest] = pkg.root
        infos[m.vk_digest] = ModelInfo(m.name, m.preset, m.binds, m.labels)
    return folders, infos


@app.command("serve")
@handle_errors
def serve(
    rpc_url: Annotated[str | None, typer.Option(
        "--rpc-url", envvar="ZKML_RPC_URL", help="Keep the index fresh from this chain (with "
        "--registry and --claim-registry); without it, serve the index as it is.")] = None,
    registry: RegistryOpt = "build/registry.json",
    claim_registry: ClaimRegistryOpt = None,
    db: DbOpt = DEFAULT_DB,
    host: Annotated[str, typer.Option(help="Interface to bind: 127.0.0.1 (this machine only) "
                                      "unless you mean to publish the page.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535)] = 8000,
    package: Annotated[list[Path] | None, typer.Option(
        "--package", help="A model's verification package (repeatable): names its preset and "
        "output labels, and verifies its bundles on the verify page.")] = None,
    refresh: Annotated[float, typer.Option(min=0.5, help="Seconds between index updates.")]
    = 5.0,
    reorg_depth: ReorgOpt = 12,
    as_json: JsonOpt = False,
) -> None:
    """Serve the audit trail read-only: models, inferences (filters, CSV/JSON), per-model
    charts, a verify page for proof bundles, and a JSON API (OpenAPI docs at /docs)."""
    try:
        import uvicorn

        from zkml.serve.app import Background, create_app
        from zkml.serve.store import Store
    except ImportError as e:
        raise ZkmlValueError(f"`zkml serve` needs the `serve` extra ({e.name} is missing): "
                             "pip install 'zkml[serve]'.") from e
    folders, infos = _packages(package or [])
    background = None
    if rpc_url:
        ix = _indexer(rpc_url, registry, db, reorg_depth, claim_registry=claim_registry)
        r = ix.sync()
        err.print(f"indexed to block {r.to_block}: {r.total_inferences} inference(s) -> {db}")
        background = Background(ix.sync, refresh)
    store = Store(db, infos)
    from zkml.serve.indexer import open_db

    open_db(db, readonly=True).close()  # no index: a clear error now, not a 500 per page
    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(f"[yellow]warning:[/yellow] binding {host}: the page is reachable from "
                  "other machines.")
    if as_json:  # one line a supervising program can read before the server blocks
        emit({"url": f"http://{host}:{port}", "db": str(db), "packages": len(folders)}, True, "")
    err.print(f"serving the audit trail on http://{host}:{port} (Ctrl-C stops)")
    uvicorn.run(create_app(store, background=background, server_packages=folders),
                host=host, port=port, log_level="warning")
