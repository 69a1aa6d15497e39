"""What every `zkml` sub-command shares: options (defined once), the error handling of a
command (output itself is zkml.cli.output's), and the checks of user-given values (ids,
addresses, files). The build directory is zkml.cli._dir's."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, ParamSpec, TypeVar

import typer

from zkml.chain import DEFAULT_KEY_ENV
from zkml.cli.output import (
    emit,
    err,
    exit_code_for,
    out,
    report_error,
    report_internal,
    setup_cli,
)
from zkml.errors import ArtifactError, ZkmlError, ZkmlValueError
from zkml.presets import PRESETS

if TYPE_CHECKING:
    from pydantic import BaseModel

    from zkml.artifacts import RegistryDeployment
    from zkml.chain.evm import Chain

__all__ = ["DirOpt", "JsonOpt", "RpcOpt", "RegistryRpcOpt", "KeyEnvOpt", "Backend",
           "BackendOpt", "backend_name", "TuneMode", "SearchMode", "PresetName",
           "DEFAULT_PRESET", "Visibility", "emit", "err",
           "out", "setup_cli", "handle_errors", "report_error", "DEFAULT_KEY_ENV",
           "check_address", "check_bytes32", "need_file", "need_registry", "make_dir",
           "RegistryOpt", "DEFAULT_REGISTRY", "registry_chain", "ClickException"]

try:  # recent typer vendors click as typer._click; older versions use click itself
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover - depends on the installed typer
    from click.exceptions import ClickException  # type: ignore[assignment,no-redef]

P = ParamSpec("P")
R = TypeVar("R")
A = TypeVar("A", bound="BaseModel")


DirOpt = Annotated[Path, typer.Option("--dir", "-d", help="Build directory of the model.")]
JsonOpt = Annotated[bool, typer.Option(
    "--json", help="Print machine-readable JSON on stdout (errors too: {\"error\", \"type\"}).")]
RpcOpt = Annotated[
    str | None,
    typer.Option("--rpc-url", envvar="ZKML_RPC_URL",
                 help="JSON-RPC URL of the chain; default: the embedded in-process EVM."),
]
#: registry commands (and `prove-batch --submit`) need a chain that outlives the process
RegistryRpcOpt = Annotated[
    str | None,
    typer.Option("--rpc-url", envvar="ZKML_RPC_URL",
                 help="JSON-RPC URL of a persistent chain, e.g. a local anvil at "
                 "http://127.0.0.1:8545 (required: the embedded EVM lives only inside one "
                 "process)."),
]
KeyEnvOpt = Annotated[
    str,
    typer.Option("--key-env", help="Environment variable holding the sender's private key "
                 "(never pass a key on the command line)."),
]

class Backend(StrEnum):
    """Where a command's proofs run (``--backend``)."""

    local = "local"
    ray = "ray"


BackendOpt = Annotated[Backend, typer.Option(
    metavar="BACKEND", help="Where the proofs run: local (a process pool here) or ray (a Ray "
    "cluster).")]


def backend_name(backend: Backend) -> Literal["local", "ray"]:
    """The library's spelling of ``backend``."""
    return "ray" if backend is Backend.ray else "local"


class TuneMode(StrEnum):
    """`zkml compile --tune`: none (zkml's settings) or a search mode."""

    none = "none"
    quick = "quick"
    thorough = "thorough"


class SearchMode(StrEnum):
    """`zkml tune --tune`: the search modes (zkml.tuning.common.MODES)."""

    quick = "quick"
    thorough = "thorough"


if TYPE_CHECKING:
    class PresetName(StrEnum):
        """A privacy preset's name."""
else:  # the privacy presets by name (zkml.presets.PRESETS): a choice `--help` lists, checks
    PresetName = StrEnum("PresetName", {name: name for name in PRESETS})

#: the preset a command takes when none is given
DEFAULT_PRESET = PresetName("private-input")


class Visibility(StrEnum):
    """ezkl's parameter visibilities (`--param-visibility`)."""

    fixed = "fixed"
    hashed = "hashed"
    public = "public"
    private = "private"


def internal(e: BaseException, as_json: bool = False) -> typer.Exit:
    """An exception zkml did not anticipate: one line, no traceback (ZKML_DEBUG=1 shows it)."""
    report_internal(e, as_json)
    return typer.Exit(2)


def handle_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Wrap a sub-command: progress and warnings on stderr; any :class:`ZkmlError` turned into
    one line and exit code 2, and so is any other exception (an internal error: please
    report it) unless ZKML_DEBUG=1. With ``--json`` the line is JSON on stdout.
    (typer reads the signature through ``__wrapped__``.)"""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        setup_cli()
        as_json = kwargs.get("as_json") is True
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, ClickException):
            raise  # exit codes and usage errors: typer's (see zkml.cli.main.main)
        except Exception as e:
            raise typer.Exit(exit_code_for(e, as_json)) from e

    return run


# Checks of user-given values: a typed error with advice before anything reaches a library.

_HEX = re.compile(r"[0-9a-fA-F]*")


def check_address(value: str, what: str) -> str:
    """``value`` as a 0x address (EIP-55 checksum checked when mixed case).

    Raises:
        ZkmlValueError: not 0x + 40 hex digits, or a mixed-case address with a wrong checksum.
    """
    v = value.strip()
    if not (v[:2] in ("0x", "0X") and len(v) == 42 and _HEX.fullmatch(v[2:])):
        raise ZkmlValueError(f"{what} {value[:80]!r} is not an address: give 0x followed by 40 "
                             "hex digits.")
    body = v[2:]
    if body != body.lower() and body != body.upper():
        from eth_utils.address import is_checksum_address

        if not is_checksum_address("0x" + body):
            raise ZkmlValueError(f"{what} {value!r} fails its EIP-55 checksum (a typo?): check "
                                 "it, or give it all lower case.")
    return "0x" + body


def check_bytes32(value: str, what: str, advice: str, *, require_0x: bool = False) -> str:
    """``value`` as 0x + 64 lower-case hex digits (the 0x is optional unless ``require_0x``).

    Raises:
        ZkmlValueError: not 32 bytes of hex; the message ends with ``advice``.
    """
    v = value.strip()
    body = v[2:] if v[:2] in ("0x", "0X") else v
    if not _HEX.fullmatch(body) or len(body) != 64 or (require_0x and body == v):
        size = (f"{len(body) / 2:g} bytes" if _HEX.fullmatch(body) and body
                else "not hex")
        raise ZkmlValueError(f"{what} {value[:80]!r} is not 32 bytes of hex ({size}): "
                             f"{advice}")
    return "0x" + body.lower()


def need_file(path: Path, what: str, error: type[ZkmlError] = ArtifactError) -> Path:
    """``path`` if it is a file, else ``error`` saying what to give instead."""
    if path.is_dir():
        raise error(f"{path} is a directory; give {what}.")
    if not path.is_file():
        raise error(f"{path}: no such file; give {what}.")
    return path


def need_registry(path: Path) -> RegistryDeployment:
    """The registry deployment JSON given by ``--registry``, or the command that writes it."""
    from zkml.artifacts import RegistryDeployment, load_artifact

    cmd = f"zkml registry deploy --rpc-url URL --registry {path}"
    if not path.is_file():
        raise ArtifactError(f"{path}: no such registry deployment; run `{cmd}` first (or pass "
                            "--registry FILE).")
    try:
        return load_artifact(RegistryDeployment, path)
    except ArtifactError as e:
        raise ArtifactError(f"{str(e).rstrip('.')}: `{cmd}` writes it.") from e


def make_dir(path: Path, what: str = "--dir") -> Path:
    """Create the directory ``path`` (parents too), or say why it cannot be."""
    if path.exists() and not path.is_dir():
        raise ZkmlValueError(f"{what} {path} is a file, not a directory; choose another path.")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ZkmlValueError(f"{what} {path}: cannot create it ({e.strerror}); choose another "
                             "path.") from e
    return path


RegistryOpt = Annotated[Path, typer.Option("--registry", help="The registry deployment JSON "
                                           "(written by `zkml registry deploy`).")]
DEFAULT_REGISTRY = Path("build/registry.json")


def registry_chain(rpc_url: str | None, key_env: str) -> Chain:
    """The persistent chain registry commands need (the embedded EVM dies with the process)."""
    from zkml.errors import ChainError

    if not rpc_url or rpc_url == "embedded":
        raise ChainError(
            "registry commands need a persistent chain: pass --rpc-url (or set ZKML_RPC_URL), "
            "e.g. a local anvil at http://127.0.0.1:8545. The embedded EVM lives only inside "
            "one process (`zkml demo` uses it end to end)."
        )
    from zkml.chain.evm import connect

    return connect(rpc_url, key_env=key_env)
