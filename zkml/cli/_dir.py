"""The build directory: one model's chain of artifacts, their file names, loading, staleness.

A build directory holds one model's artifacts (exported.json -> circuit.json -> keys.json ->
verifier.json -> deployment.json -> registration.json) next to the files they describe. Every
command reads and writes them through :class:`BuildDir`, which knows each file's name and the
command that writes it, so a missing or unreadable file is reported with that command.
Re-running an earlier stage (e.g. `zkml compile --preset public`) leaves later artifacts made
for the previous version; using them would prove or publish the wrong circuit, so they are
refused with the command that rebuilds them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, NoReturn, TypeVar

from zkml.errors import ArtifactError

if TYPE_CHECKING:
    from pydantic import BaseModel

    from zkml.artifacts import (
        Circuit,
        Deployment,
        ExportedModel,
        Keys,
        ModelRegistration,
        VerifierContract,
    )

__all__ = ["BuildDir", "StaleArtifactError"]

A = TypeVar("A", bound="BaseModel")

_EXPORT = "`zkml export MODEL --dir {d}` (or `zkml import MODEL.onnx --dir {d}`)"


class StaleArtifactError(ArtifactError):
    """An artifact in the build directory was made for an earlier version of another one."""


class BuildDir:
    """One model's build folder (``--dir``).

    Example:
        >>> d = BuildDir(Path("build/mlp"))
        >>> keys = d.keys()            # refused if circuit.json was compiled again since
        >>> d.save(bundle, d.BUNDLE)
    """

    MODEL = "model.onnx"
    EXPORTED = "exported.json"
    CALIBRATION = "calibration.npy"
    EVAL = "eval.npy"
    ZOO = "zoo.json"
    CIRCUIT = "circuit.json"
    SPLIT = "split.json"
    KEYS = "keys.json"
    VERIFIER = "verifier.json"
    DEPLOYMENT = "deployment.json"
    REGISTRATION = "registration.json"
    BUNDLE = "bundle.json"

    #: the command that writes each artifact (``{d}``: the directory)
    PRODUCERS: ClassVar[dict[str, str]] = {
        EXPORTED: _EXPORT,
        CALIBRATION: _EXPORT,
        EVAL: _EXPORT,
        CIRCUIT: "`zkml compile --dir {d}`",
        SPLIT: "`zkml split compile --dir {d}`",
        KEYS: "`zkml setup --dir {d}`",
        VERIFIER: "`zkml contract --dir {d}`",
        DEPLOYMENT: "`zkml deploy --dir {d} --rpc-url URL`",
        REGISTRATION: "`zkml registry register --dir {d} --rpc-url URL`",
    }

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    def has(self, name: str) -> bool:
        return (self.path / name).is_file()

    def producer(self, name: str) -> str:
        """The command that writes ``name`` here ("" for a file no command writes)."""
        return self.PRODUCERS[name].format(d=self.path) if name in self.PRODUCERS else ""

    def missing(self, name: str) -> NoReturn:
        """Raise the error for a missing ``name``: which command writes it."""
        where = "" if self.path.is_dir() else f" ({self.path} does not exist: check --dir)"
        raise ArtifactError(f"{self.path / name}: no such file{where}; run the stage that "
                            f"writes it first: {self.producer(name)}.")

    def load(self, cls: type[A], name: str) -> A:
        """``name`` as a ``cls`` artifact; if missing or unreadable, the error names the
        command writing it."""
        from zkml.artifacts import load_artifact

        path = self.path / name
        if not path.is_file():
            self.missing(name)
        try:
            return load_artifact(cls, path)
        except ArtifactError as e:
            cmd = self.producer(name)
            raise ArtifactError(f"{str(e).rstrip('.')}: {cmd} writes it." if cmd else str(e)) \
                from e

    def save(self, artifact: BaseModel, name: str) -> Path:
        """Write ``artifact`` as ``name`` (a temp file, then a rename)."""
        from zkml.artifacts import save_artifact

        return save_artifact(artifact, self.path / name)

    def exported(self) -> ExportedModel:
        from zkml.artifacts import ExportedModel

        return self.load(ExportedModel, self.EXPORTED)

    def circuit(self) -> Circuit:
        from zkml.artifacts import Circuit

        return self.load(Circuit, self.CIRCUIT)

    def verifier(self) -> VerifierContract:
        from zkml.artifacts import VerifierContract

        return self.load(VerifierContract, self.VERIFIER)

    def deployment(self) -> Deployment:
        from zkml.artifacts import Deployment

        return self.load(Deployment, self.DEPLOYMENT)

    def registration(self) -> ModelRegistration:
        from zkml.artifacts import ModelRegistration

        return self.load(ModelRegistration, self.REGISTRATION)

    def keys(self) -> Keys:
        """``keys.json``, checked against ``circuit.json`` when both exist.

        Raises:
            ArtifactError: keys.json missing or unreadable.
            StaleArtifactError: the keys were set up for another compile of the circuit.
        """
        from zkml.artifacts import Circuit, Keys, load_artifact

        d = self.path
        if not self.has(self.KEYS):
            raise ArtifactError(f"{d}/keys.json: no keys in this build directory; run "
                                f"`zkml setup --dir {d}` first.")
        try:
            keys = load_artifact(Keys, d / self.KEYS)
        except ArtifactError as e:
            raise ArtifactError(f"{e} Run `zkml setup --dir {d}` to make the keys again.") \
                from e
        if self.has(self.CIRCUIT):
            circuit = load_artifact(Circuit, d / self.CIRCUIT)
            if circuit.digest != keys.circuit.digest:
                raise StaleArtifactError(
                    f"{d}/keys.json was set up for an earlier compile (preset "
                    f"{keys.circuit.preset}, circuit {keys.circuit.digest[:12]}) but "
                    f"circuit.json is now preset {circuit.preset}, circuit "
                    f"{circuit.digest[:12]}: run `zkml setup --dir {d}` to make keys for it."
                )
        return keys

