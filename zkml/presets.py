"""Privacy presets: named visibility choices with their guarantee spelled out."""

from __future__ import annotations

from dataclasses import dataclass

from zkml.errors import CompileError, UnboundModelError, ZkmlValueError

__all__ = ["Preset", "PRESETS", "get_preset", "visibility_for", "input_visibilities"]


@dataclass(frozen=True)
class Preset:
    """A named visibility choice. ``input_visibility`` applies to every graph input of a
    model with several (ezkl applies one input visibility to all of them); ``multi_input``
    says whether the preset supports more than one."""

    name: str
    input_visibility: str
    param_visibility: str
    output_visibility: str
    binds_model: bool
    commits_input: bool
    guarantee: str
    multi_input: bool = True


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
                "Hidden: the input, but a hiding commitment to it is a public instance: the "
                "Poseidon hash of the input and a fresh 144-bit random salt, so the proof "
                "commits to the exact data used, two proofs of one input do not look alike, and "
                "only the holder of the opening (input + salt, a private file) can show which "
                "data it was (`zkml commitment check`). Weights fixed in the verifying key: "
                "bound to this model. Outputs public. A model of several inputs: one "
                "commitment covers them all and the salt."
            ),
            # several graph inputs are packed into one salted tensor (zkml/model/salt.py), so
            # one hash and one commitment index cover them all (the registry's layout has one)
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


def input_visibilities(preset: Preset, names: list[str]) -> dict[str, str]:
    """Each graph input's visibility under ``preset``: the preset's input visibility, for
    every input (public ones are instances in the graph's input order, before the outputs).

    Raises:
        CompileError: several inputs under a preset that supports one (``committed-input``).

    Example:
        >>> input_visibilities(get_preset("public"), ["features", "mask"])
        {'features': 'public', 'mask': 'public'}
    """
    if len(names) > 1 and not preset.multi_input:
        works = ", ".join(p.name for p in PRESETS.values() if p.multi_input)
        raise CompileError(
            f"the {preset.name} preset commits to one graph input; this model takes "
            f"{len(names)} ({', '.join(names)}). Several inputs are not supported with it "
            f"yet: use {works}.")
    return {n: preset.input_visibility for n in names}
