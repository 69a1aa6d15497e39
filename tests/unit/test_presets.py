from __future__ import annotations

import pytest

import zkml
from zkml.presets import get_preset, visibility_for


def test_presets_state_their_guarantee() -> None:
    assert set(zkml.PRESETS) >= {"private-input", "committed-input", "public"}
    for p in zkml.PRESETS.values():
        # every shipped preset fixes the weights in the verifying key, and says so
        assert p.binds_model and p.param_visibility == "fixed"
        assert "verifying key" in p.guarantee
        assert "hidden" in p.guarantee.lower()
    assert get_preset("committed-input").commits_input
    assert not get_preset("private-input").commits_input


def test_private_params_refused_without_flag() -> None:
    with pytest.raises(zkml.UnboundModelError, match="binds no model"):
        visibility_for(get_preset("private-input"), param_visibility="private",
                       allow_unbound_model=False)


def test_private_params_allowed_with_flag() -> None:
    vis = visibility_for(get_preset("private-input"), param_visibility="private",
                         allow_unbound_model=True)
    assert vis == {"input_visibility": "private", "param_visibility": "private",
                   "output_visibility": "public"}


def test_unknown_preset_lists_choices() -> None:
    with pytest.raises(zkml.ZkmlValueError) as e:
        get_preset("secret")
    assert str(e.value) == (
        "unknown preset 'secret'; choose one of: private-input, committed-input, public."
    )
