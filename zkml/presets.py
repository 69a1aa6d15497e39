"""Privacy presets: named visibility choices with their guarantee spelled out."""

from __future__ import annotations

from dataclasses import dataclass

from zkml.errors import UnboundModelError, ZkmlValueError

__all__ = ["Preset", "PRESETS", "get_preset", "visibility_for"]


@dataclass(frozen=True)
class Preset:
    name: str
    input_visibility: str
    param_visibility: str
    output_visibility: str
    binds_model: bool
    commits_input: bool
    guarantee: str


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset(
            "private-input",
            "private",
            "fixed",
            "public",
            binds_model=True,
            commits_input=False,
            guarantee=(
                "Hidden: the input. Public: the outputs. The weights are fixed in the verifying "
                "key, so a proof verifies only for this exact model (model id = vk digest). The "
                "proof says nothing about which input was used beyond the outputs."
            ),
        ),
        Preset(
            "committed-input",
            "hashed",
            "fixed",
            "public",
            binds_model=True,
            commits_input=True,
            guarantee=(
                "Hidden: the input, but its Poseidon hash is a public instance, so the proof "
                "also commits to the exact data used (anyone holding the data can check it). "
                "Weights fixed in the verifying key: bound to this model. Outputs public."
            ),
        ),
        Preset(
            "public",
            "public",
            "fixed",
            "public",
            binds_model=True,
            commits_input=False,
            guarantee=(
                "Nothing hidden about the inference: input and outputs are public instances. "
                "Weights fixed in the verifying key: bound to this model. Use it to prove "
                "correct execution, not privacy."
            ),
        ),
    ]
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ZkmlValueError(
            f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}."
        ) from None


def visibility_for(
    preset: Preset, *, param_visibility: str | None, allow_unbound_model: bool
) -> dict[str, str]:
    """The ezkl visibility run-args for ``preset``, with an optional param override.

    ``param_visibility="private"`` makes the weights a free witness: two different models then
    share one verifying key and each one's proofs verify for the other, so nothing binds the
    proof to a model. It is refused unless ``allow_unbound_model`` is set.
    """
    params = param_visibility or preset.param_visibility
    if params not in {"fixed", "private", "public", "hashed"}:
        raise ZkmlValueError(
            f"param visibility {params!r} is not one of fixed, private, public, hashed."
        )
    if params == "private" and not allow_unbound_model:
        raise UnboundModelError(
            "param visibility 'private' binds no model: any weights of the same architecture "
            "produce proofs that verify against the same key. Use 'fixed' (the default), or "
            "pass allow_unbound_model=True (--allow-unbound-model) if that is really intended."
        )
    return {
        "input_visibility": preset.input_visibility,
        "param_visibility": params,
        "output_visibility": preset.output_visibility,
    }
