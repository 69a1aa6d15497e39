"""The CLI's checks of user-given ids, addresses and files (zkml.cli.common): one place."""

from __future__ import annotations

from pathlib import Path

import pytest

from zkml.cli.common import check_address, check_bytes32, make_dir, need_file, report_error
from zkml.errors import ArtifactError, InputError, ZkmlValueError

ADVICE = "give 0x + 64 hex."


@pytest.mark.parametrize("value", ["0x" + "ab" * 32, "AB" * 32, " 0X" + "Ab" * 32 + " "])
def test_bytes32_accepted_and_normalised(value: str) -> None:
    assert check_bytes32(value, "id", ADVICE) == "0x" + "ab" * 32


@pytest.mark.parametrize(("value", "said"), [
    ("0xdeadbeef", "(4 bytes)"), ("0x73005c", "(3 bytes)"), ("zzz", "(not hex)"),
    ("0x" + "ab" * 33, "(33 bytes)"), ("", "(not hex)"), ("0x", "(not hex)"),
    ("0x" + "g" * 64, "(not hex)"),
])
def test_bytes32_refused_with_its_size_and_advice(value: str, said: str) -> None:
    with pytest.raises(ZkmlValueError, match="is not 32 bytes of hex") as e:
        check_bytes32(value, "inference id", ADVICE)
    assert said in str(e.value) and str(e.value).endswith(ADVICE)


def test_bytes32_can_require_the_prefix() -> None:
    with pytest.raises(ZkmlValueError):
        check_bytes32("ab" * 32, "id", ADVICE, require_0x=True)


@pytest.mark.parametrize("value", [
    "0x" + "11" * 20,
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",  # EIP-55 checksummed
    "0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED",  # all upper case: no checksum to check
])
def test_addresses_accepted(value: str) -> None:
    assert check_address(value, "owner").lower() == value.lower()


@pytest.mark.parametrize(("value", "said"), [
    ("bad", "is not an address"), ("0x1234", "is not an address"),
    ("11" * 20, "is not an address"), ("0x" + "zz" * 20, "is not an address"),
    ("0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "EIP-55 checksum"),
])
def test_addresses_refused(value: str, said: str) -> None:
    with pytest.raises(ZkmlValueError, match=said):
        check_address(value, "--submitter")


def test_need_file_and_make_dir(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file; give an input"):
        need_file(tmp_path / "x.json", "an input", InputError)
    with pytest.raises(ArtifactError, match="is a directory; give a bundle"):
        need_file(tmp_path, "a bundle")
    (tmp_path / "f").write_text("")
    with pytest.raises(ZkmlValueError, match="is a file, not a directory"):
        make_dir(tmp_path / "f")
    assert make_dir(tmp_path / "a" / "b").is_dir()


def test_an_error_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    report_error("first\n  second\n", "ZkmlError", False)
    assert capsys.readouterr().err == "error (ZkmlError): first second\n"
    report_error("first\nsecond", "ZkmlError", True)
    assert capsys.readouterr().out.count("\n") == 4  # {, error, type, }: a JSON document


def test_tune_equals_mode_is_split_for_the_parser() -> None:
    """A bare `--tune` (thorough, as before `--tune MODE` took a value) gets its mode; a given
    mode, `--tune=quick` and other args are left as they are."""
    from zkml.cli.main import _split_tune_value

    assert _split_tune_value(["compile", "--dir", "d", "--tune=quick", "--json"]) == [
        "compile", "--dir", "d", "--tune=quick", "--json"]
    assert _split_tune_value(["compile", "--tune", "--dir", "d"]) == [
        "compile", "--tune", "thorough", "--dir", "d"]
    assert _split_tune_value(["compile", "--dir", "d", "--tune"]) == [
        "compile", "--dir", "d", "--tune", "thorough"]
    assert _split_tune_value(["compile", "--tune", "quick"]) == ["compile", "--tune", "quick"]
    assert _split_tune_value(["tune", "--tuned=x"]) == ["tune", "--tuned=x"]


def test_names_that_read_as_markup_are_printed_as_they_are(
        capsys: pytest.CaptureFixture[str]) -> None:
    from zkml.cli.common import emit

    # torch names its tensors "/net/net.0/Gemm_output_0": in brackets, a closing tag to rich
    emit({}, False, "cut at [/net/net.0/Gemm_output_0, /net/Relu]")
    assert "cut at [/net/net.0/Gemm_output_0, /net/Relu]" in capsys.readouterr().out
