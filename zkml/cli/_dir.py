"""Reading a build directory's artifacts, refusing stale combinations.

A build directory holds one model's chain of artifacts (exported.json -> circuit.json ->
keys.json -> verifier.json ...). Re-running an earlier stage (e.g. `zkml compile --preset
public`) leaves later artifacts made for the previous version; using them would prove or
publish the wrong circuit, so they are refused with the command that rebuilds them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from zkml.errors import ArtifactError

if TYPE_CHECKING:
    from zkml.artifacts import Keys


class StaleArtifactError(ArtifactError):
    """An artifact in the build directory was made for an earlier version of another one."""


def load_keys(dir: Path) -> Keys:
    """``dir/keys.json``, checked against ``dir/circuit.json`` when both exist.

    Raises:
        ArtifactError: keys.json missing or unreadable.
        StaleArtifactError: the keys were set up for another compile of the circuit.
    """
    from zkml.artifacts import Circuit, Keys, load_artifact

    if not (dir / "keys.json").is_file():
        raise ArtifactError(f"{dir}/keys.json: no keys in this build directory; run "
                            f"`zkml setup --dir {dir}` first.")
    try:
        keys = load_artifact(Keys, dir / "keys.json")
    except ArtifactError as e:
        raise ArtifactError(f"{e} Run `zkml setup --dir {dir}` to make the keys again.") from e
    if (dir / "circuit.json").is_file():
        circuit = load_artifact(Circuit, dir / "circuit.json")
        if circuit.digest != keys.circuit.digest:
            raise StaleArtifactError(
                f"{dir}/keys.json was set up for an earlier compile (preset "
                f"{keys.circuit.preset}, circuit {keys.circuit.digest[:12]}) but circuit.json "
                f"is now preset {circuit.preset}, circuit {circuit.digest[:12]}: run "
                f"`zkml setup --dir {dir}` to make keys for it."
            )
    return keys
