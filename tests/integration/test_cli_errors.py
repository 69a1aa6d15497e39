"""Every sub-command, given bad input, exits 2 with one line saying what to do: never a
traceback. Exit codes: 0 ok/valid, 1 invalid/rejected, 2 error (see `zkml --help`).

The rows run through the real entry point, ``zkml.cli.main.main`` (which handles usage errors
and ``--json`` itself), in-process for speed; a few run as a real ``zkml`` process too, since a
traceback can also come from outside the app (interpreter exit, native code). No circuit is
built here: every row fails before any proving, in well under a second or two (the demo's
out-of-range patient trains the small zoo model first: a few seconds).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from zkml.artifacts import (
    ExportedModel,
    InstanceLayout,
    ModelRegistration,
    ProofBundle,
    RegistryDeployment,
    save_artifact,
)
from zkml.cli.main import main

pytestmark = pytest.mark.timeout(300)

ZKML = Path(sys.executable).with_name("zkml")
DOWN = "http://127.0.0.1:9"  # nothing listens on the discard port
INF = "0x" + "ab" * 32
ADDR = "0x" + "11" * 20
BAD_CHECKSUM = "0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"  # EIP-55 would be 0x5aAeb6...


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace of bad (and a few well-formed but fake) inputs; nothing proven."""
    w = tmp_path_factory.mktemp("cli-errors")
    (w / "empty").mkdir()
    (w / "afile").write_text("a file, not a directory")
    (w / "garbage.json").write_text("not json")
    (w / "garbage.npy").write_bytes(b"not an npy file")
    (w / "garbage.srs").write_bytes(b"not an srs")
    (w / "ok.py").write_text(
        "import torch\n\n\ndef net():\n    return torch.nn.Sequential(torch.nn.Linear(4, 2))\n\n\n"
        "def three():\n    return 3\n\n\ndef needs_args(width):\n    return width\n")
    (w / "raising.py").write_text("raise RuntimeError('broken at import')\n")
    (w / "two.py").write_text(
        "import torch\n\n\nclass Two(torch.nn.Module):\n"
        "    def forward(self, features, mask):\n        return features * mask\n\n\n"
        "def net():\n    return Two()\n")
    (w / "two_wrong.json").write_text(json.dumps({"feats": [[0.1] * 4], "mask": [[1.0] * 4]}))
    (w / "two_ex.json").write_text(json.dumps({"features": [[0.1] * 4], "mask": [[1.0] * 4]}))
    (w / "two_text.json").write_text(json.dumps({"features": "abc", "mask": [[1.0] * 4]}))
    np.save(w / "ex.npy", np.zeros((1, 4)))
    np.save(w / "cal_bad.npy", np.zeros((5, 3)))
    np.save(w / "text.npy", np.array(["a", "b"]))
    (w / "good.jsonl").write_text("[[0.1, 0.2, 0.3, 0.4]]\n")
    (w / "bad_label.csv").write_text("f1,label\n0.1,x\n")
    (w / "labelled.csv").write_text("f1,f2,f3,f4,label\n0.1,0.2,0.3,0.4,1\n")
    (w / "bad.jsonl").write_text('[[0.1, 0.2, 0.3, 0.4]]\n{"id": "x", "input": [1,\n')
    corrupt = w / "corrupt"
    corrupt.mkdir()
    for name in ("exported.json", "circuit.json", "keys.json", "registration.json"):
        (corrupt / name).write_text("{}")
    exported = ExportedModel(name="fake", onnx_path=str(w / "none.onnx"), onnx_sha256="0" * 64,
                             input_shape=[1, 4], output_shape=[1, 2], ops=["Gemm"])
    for d in ("fakeexp", "badzoo"):
        save_artifact(exported, w / d / "exported.json")
    (w / "badzoo" / "zoo.json").write_text("not json")
    np.save(w / "badzoo" / "calibration.npy", np.zeros((4, 1, 4)))
    (w / "withkeys").mkdir()
    (w / "withkeys" / "keys.json").write_text("{}")  # only its presence matters below
    save_artifact(RegistryDeployment(chain_id=31337, address=ADDR, tx_hash=INF, gas_used=1,
                                     abi=[], solc_version="0.8.20"), w / "reg.json")
    layout = InstanceLayout(num_instances=2, output_offset=0, num_outputs=2, output_scale=7)
    save_artifact(ModelRegistration(
        registry=ADDR, chain_id=31337, onchain_model_id=INF, model_id="cd" * 32, verifier=ADDR,
        owner=ADDR, layout=layout, metadata_uri="", tx_hash=INF, gas_used=1),
        w / "regdir" / "registration.json")
    save_artifact(ProofBundle(
        model_id="cd" * 32, settings_digest="ef" * 32, preset="private-input", proof="0x00",
        instances=["1", "2"], output_instance_offset=0, output_scales=[7], outputs=[0.0, 0.0],
        output_shape=[1, 2], srs_source="dev-unsafe", versions={}), w / "bundle.json")
    _two_inputs(w)
    return w


def _two_inputs(w: Path) -> None:
    """A graph of two inputs (features, mask), bad input files for it, and fake build
    directories of it (exported / keys): the rows fail on the inputs, before anything runs."""
    import onnx
    from onnx import TensorProto, helper

    from zkml.artifacts import Circuit, InputSpec, Keys, QuantizationReport

    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 4])
          for n in ("features", "mask", "y")]
    graph = helper.make_graph([helper.make_node("Mul", ["features", "mask"], ["y"])], "two",
                              io[:2], io[2:])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
              w / "two.onnx")
    (w / "two_missing.json").write_text(json.dumps({"features": [[0.1, 0.2, 0.3, 0.4]]}))
    (w / "two_short.json").write_text(json.dumps({"input_data": [[0.1] * 4, [1, 0]]}))
    (w / "two_extra.jsonl").write_text(json.dumps(
        {"features": [0.1] * 4, "mask": [1] * 4, "extra": [0]}) + "\n")
    specs = [InputSpec(name="features", shape=[1, 4]), InputSpec(name="mask", shape=[1, 4])]
    exported = ExportedModel(name="two", onnx_path=str(w / "two.onnx"), onnx_sha256="0" * 64,
                             input_shape=[1, 4], output_shape=[1, 4], ops=["Mul"],
                             inputs=specs)
    save_artifact(exported, w / "twoexp" / "exported.json")
    np.save(w / "twoexp" / "calibration.npy", np.zeros((4, 8)))  # packed rows
    circuit = Circuit(
        exported=exported, preset="private-input", digest="0" * 64, dir=str(w), logrows=9,
        settings_path=str(w / "none"), compiled_path=str(w / "none"), settings_digest="0" * 64,
        num_rows=1, input_scale=7, param_scale=7, output_scales=[7], input_range=(-1.0, 1.0),
        quantization=QuantizationReport(samples=1, max_abs_error=0, mean_abs_error=0,
                                        output_range=1, argmax_agreement=1))
    save_artifact(Keys(circuit=circuit, dir=str(w), pk_path=str(w / "none"),
                       vk_path=str(w / "none"), srs_path=str(w / "none"), srs_sha256="0" * 64,
                       srs_source="dev-unsafe", model_id="0" * 64, proof_length=1),
                  w / "twokeys" / "keys.json")


@pytest.fixture
def env(ws: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(ws)
    for var in ("ZKML_RPC_URL", "ZKML_DEBUG", "ZKML_PRIVATE_KEY"):
        monkeypatch.delenv(var, raising=False)
    return ws


def run_main(args: list[str], capsys: pytest.CaptureFixture[str],
             monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    """Exit code, stdout, stderr of ``zkml ARGS`` through the real entry point."""
    monkeypatch.setattr(sys, "argv", ["zkml", *args])
    with pytest.raises(SystemExit) as exc:
        main()
    cap = capsys.readouterr()
    code = exc.value.code
    return (code if isinstance(code, int) else 0), cap.out, cap.err


# (args, a fragment of the message that says what to do, also run with --json)
ROWS: list[tuple[str, str, bool]] = [
    # export
    ("export nosuch-model", "choose one of: tiny-mlp", True),
    ("export missing.py:net", "no such file; give a Python file", False),
    ("export raising.py:net", "importing it raised RuntimeError: broken at import", True),
    ("export ok.py:nofn", "has no function 'nofn' (it defines: needs_args, net, three)", False),
    ("export ok.py:needs_args", "must take no arguments", False),
    ("export ok.py:three", "returned int; return a torch nn.Module", False),
    ("export ok.py:net", "pass --example FILE", True),
    ("export ok.py:net --example missing.npy", "no such file; give --example", False),
    ("export ok.py:net --example garbage.json", "--example garbage.json: not a readable", False),
    ("export ok.py:net --example text.npy", "not an array of numbers", False),
    ("export two.py:net --example two_wrong.json", "inputs ['feats', 'mask'] are not "
     "forward's arguments (features, mask)", False),
    ("export two.py:net --example two_text.json", "input 'features' is not an array of "
     "numbers", False),
    ("export two.py:net --example two_ex.json --calibration ex.npy", "the model takes several "
     "inputs: give a .npz", False),
    ("export ok.py:net --example ex.npy --calibration cal_bad.npy",
     "give samples shaped (n, 1, 4)", False),
    ("export ok.py:net --example ex.npy --calibration garbage.json", "give a .npy", False),
    ("export model.onnx", "use `zkml import model.onnx --input FILE`", False),
    ("export ok.py", "name the function too", False),
    ("export tiny-mlp --dir afile", "is a file, not a directory", False),
    # compile
    ("compile --dir empty", "run the stage that writes it first: `zkml export MODEL --dir "
     "empty`", True),
    ("compile --dir nowhere", "nowhere does not exist: check --dir", False),
    ("compile --dir empty --preset bogus", "'bogus' is not one of 'private-input'", True),
    ("compile --dir corrupt", "`zkml export MODEL --dir corrupt` (or `zkml import", False),
    ("compile --dir fakeexp", "fakeexp/calibration.npy: no such file; run the stage", False),
    ("compile --dir fakeexp --calibration missing.npy", "no such file; give --calibration",
     False),
    ("compile --dir badzoo", "zoo.json: not readable JSON", False),
    ("compile --dir fakeexp --param-visibility bogus", "bogus", False),
    # tune
    ("tune --dir empty", "`zkml export MODEL --dir empty`", True),
    ("tune --dir fakeexp", "calibration.npy: no such file", False),
    ("tune --dir badzoo", "zoo.json: not readable JSON", False),
    ("tune --dir empty --max-error abc", "Invalid value for '--max-error'", True),
    ("tune --dir fakeexp --mode bogus", "'bogus' is not one of 'quick', 'thorough'", True),
    ("tune --dir fakeexp --tune bogus", "'bogus' is not one of 'quick', 'thorough'", True),
    ("compile --dir fakeexp --tune bogus", "'bogus' is not one of 'none', 'quick'", True),
    ("compile --dir fakeexp --tune=bogus", "'bogus' is not one of 'none', 'quick'", True),
    ("compile --dir fakeexp quick", "Got unexpected extra argument(s) (quick)", True),
    ("compile --dir fakeexp --tune", "calibration.npy: no such file", False),  # = thorough
    ("compile --dir empty --tune", "`zkml export MODEL --dir empty`", True),  # = thorough
    # srs
    ("srs import missing.srs --logrows 9", "give the public Powers-of-Tau file", True),
    ("srs import garbage.srs --logrows 9", "is not the public Powers-of-Tau SRS", False),
    ("srs import garbage.srs --logrows 99", "between 1 and 26", False),
    ("srs import garbage.srs", "Missing option '--logrows'", True),
    ("srs dev --logrows 0", "between 1 and 26", True),
    ("srs dev --logrows abc", "Invalid value for '--logrows'", False),
    ("srs fetch --logrows 40", "between 1 and 26", False),
    ("srs list --bogus", "No such option: --bogus", True),
    # setup / prove / verify
    ("setup --dir empty", "run the stage that writes it first: `zkml compile --dir empty`",
     True),
    ("setup --dir corrupt", "not a valid Circuit artifact", False),
    ("prove --dir empty missing.json", "no such file; give an input file", True),
    ("prove --dir empty garbage.json", "run `zkml setup --dir empty` first", False),
    ("prove --dir corrupt garbage.json", "not a valid Keys artifact", False),
    ("verify missing.json", "no such file; give a proof bundle", True),
    ("verify garbage.json", "use the file written by `zkml prove`", False),
    ("verify", "Missing argument", False),
    # contract / deploy / verify-onchain
    ("contract --dir empty", "run `zkml setup --dir empty` first", True),
    ("contract --dir corrupt", "not a valid Keys artifact", False),
    ("deploy --dir empty", "run the stage that writes it first: `zkml setup --dir empty`",
     True),
    (f"deploy --dir withkeys --rpc-url {DOWN}", "cannot reach the JSON-RPC node", True),
    ("deploy --dir withkeys --rpc-url ftp://x", "is not an RPC URL", False),
    ("verify-onchain missing.json --dir empty", "no such file; give a proof bundle", False),
    ("verify-onchain garbage.json --dir empty", "use the file written by `zkml prove`", False),
    ("verify-onchain bundle.json --dir empty", "`zkml setup --dir empty`", True),
    (f"verify-onchain bundle.json --dir withkeys --rpc-url {DOWN}",
     "cannot reach the JSON-RPC node", False),
    # prove-batch
    ("prove-batch --dir empty missing.jsonl", "give a .jsonl or .npy file, or a directory",
     True),
    ("prove-batch --dir empty bad.jsonl", "bad.jsonl, line 2: not JSON", True),
    ("prove-batch --dir empty garbage.npy", "not a readable .npy array", False),
    ("prove-batch --dir empty good.jsonl", "run `zkml setup --dir empty` first", False),
    ("prove-batch --dir empty good.jsonl --backend foo", "'foo' is not one of 'local', 'ray'",
     True),
    ("prove-batch --dir regdir good.jsonl --submit --registry nope.json",
     "run `zkml registry deploy --rpc-url URL --registry nope.json` first", False),
    ("prove-batch --dir empty good.jsonl --submit --registry reg.json",
     "`zkml registry register --dir empty --rpc-url URL`", False),
    ("prove-batch --dir regdir good.jsonl --submit --registry reg.json",
     "need a persistent chain: pass --rpc-url", False),
    ("prove-batch --dir empty good.jsonl --workers many", "Invalid value for '--workers'",
     False),
    ("prove-batch --dir regdir good.jsonl --consent-dir empty",
     "--consent-dir is used when submitting: add --submit", True),
    ("prove-batch --dir regdir good.jsonl --submit --consent-dir nope --registry reg.json",
     "--consent-dir nope: no such directory", False),
    # commitment
    ("commitment check --bundle missing.json --opening garbage.json",
     "no such file; give a proof bundle", True),
    ("commitment check --bundle garbage.json --opening garbage.json",
     "use the file written by `zkml prove`", False),
    ("commitment check --bundle bundle.json --opening missing.json",
     "no such file; give an opening file", True),
    ("commitment check --bundle bundle.json --opening garbage.json",
     "not a commitment opening", False),
    ("commitment check --bundle bundle.json --opening bundle.json",
     "not a commitment opening", False),
    ("commitment check --bundle bundle.json", "Missing option '--opening'", False),
    ("commitment check --bundle bundle.json --opening empty",
     "empty is a directory; give an opening file", False),
    (f"consent sign --processor {ADDR} --purpose x --model {INF} --commitment 12 "
     "--opening garbage.json", "--opening checks a bundle: give it with --bundle", True),
    # demo
    ("demo --patient abc", "Invalid value for '--patient'", True),
    ("demo --patient -1", "give the index of a held-out patient", True),
    ("demo --dir afile", "is a file, not a directory", False),
    (f"demo --dir demo-out --rpc-url {DOWN}", "cannot reach the JSON-RPC node", False),
    # registry
    ("registry deploy", "need a persistent chain: pass --rpc-url", True),
    ("registry deploy --rpc-url embedded", "need a persistent chain", False),
    (f"registry deploy --rpc-url {DOWN}", "cannot reach the JSON-RPC node", True),
    ("registry deploy --registry empty", "is a directory; give the JSON file", False),
    ("registry register --dir empty", "run `zkml setup --dir empty` first", True),
    ("registry register --dir corrupt", "not a valid Keys artifact", False),
    ("registry submit missing.json --dir regdir", "no such file; give a proof bundle", False),
    ("registry submit bundle.json --dir empty",
     "`zkml registry register --dir empty --rpc-url URL`", True),
    ("registry submit bundle.json --dir corrupt", "not a valid ModelRegistration artifact",
     False),
    ("registry submit bundle.json --dir regdir --registry nope.json",
     "`zkml registry deploy --rpc-url URL --registry nope.json`", False),
    (f"registry submit bundle.json --dir regdir --registry reg.json --rpc-url {DOWN}",
     "cannot reach the JSON-RPC node", False),
    ("registry log --model 0x73005c", "(3 bytes): give a registry model id", True),
    ("registry log --model zzz", "(not hex)", False),
    ("registry log --submitter bad", "is not an address: give 0x followed by 40 hex", True),
    (f"registry log --submitter {BAD_CHECKSUM}", "fails its EIP-55 checksum", False),
    ("registry log --format xml", "format must be table, json or csv", False),
    ("registry log --from-block -1", "Invalid value for '--from-block'", False),
    ("registry log --registry nope.json", "`zkml registry deploy", False),
    (f"registry log --registry reg.json --rpc-url {DOWN}", "cannot reach the JSON-RPC node",
     True),
    ("registry show 0xdeadbeef", "(4 bytes): give 0x + 64 hex", True),
    ("registry show zzz", "(not hex): give 0x + 64 hex", True),
    (f"registry show {INF} --registry nope.json", "`zkml registry deploy", False),
    (f"registry show {INF} --registry reg.json", "need a persistent chain", False),
    (f"registry show {INF} --registry reg.json --rpc-url {DOWN}", "cannot reach", False),
    ("registry check missing.json --dir regdir", "no such file; give a proof bundle", True),
    ("registry check bundle.json --dir empty", "`zkml registry register --dir empty", False),
    ("registry check bundle.json --dir regdir", "run `zkml setup --dir regdir` first", False),
    ("registry check bundle.json --dir regdir --data-owner bad",
     "--data-owner 'bad' is not an address", False),
    ("registry retire --dir empty", "`zkml registry register --dir empty", True),
    ("registry retire --dir regdir --registry reg.json", "need a persistent chain", False),
    (f"registry retire --dir regdir --registry reg.json --rpc-url {DOWN}", "cannot reach",
     False),
    ("registry transfer --dir regdir bad", "NEW_OWNER 'bad' is not an address", True),
    (f"registry transfer --dir empty {ADDR}", "`zkml registry register --dir empty", False),
    (f"registry transfer --dir regdir {ADDR} --registry reg.json --rpc-url {DOWN}",
     "cannot reach", False),
    ("registry transfer --dir regdir", "Missing argument 'new_owner'", False),
    # index / serve (the audit-trail web app)
    ("index", "indexing needs a persistent chain: pass --rpc-url", True),
    (f"index --rpc-url {DOWN} --registry reg.json", "cannot reach the JSON-RPC node", False),
    ("index --reorg-depth 0", "Invalid value for '--reorg-depth'", False),
    # --claim-registry: read before connecting, so a wrong file is named with no chain up
    (f"index --rpc-url {DOWN} --registry reg.json --claim-registry nope.json",
     "--claim-registry nope.json: neither a ClaimRegistry deployment JSON nor a 0x address",
     True),
    (f"index --rpc-url {DOWN} --registry reg.json --claim-registry empty",
     "neither a ClaimRegistry deployment JSON", False),
    (f"index --rpc-url {DOWN} --registry reg.json --claim-registry garbage.json",
     "garbage.json: not a valid RegistryDeployment artifact", False),
    (f"index --rpc-url {DOWN} --registry reg.json --claim-registry reg.json",
     "not a ClaimRegistry deployment (its ABI has no recordClaim)", True),
    (f"index --rpc-url {DOWN} --registry reg.json --claim-registry 0x{'zz' * 20}",
     "--claim-registry '0xzzzz", False),
    (f"index --rpc-url {DOWN} --registry reg.json --claim-registry {ADDR}",
     "cannot reach the JSON-RPC node", False),
    (f"serve --rpc-url {DOWN} --registry reg.json --claim-registry nope.json",
     "--claim-registry nope.json: neither a ClaimRegistry deployment JSON", True),
    (f"serve --rpc-url {DOWN} --registry reg.json --claim-registry reg.json",
     "not a ClaimRegistry deployment", False),
    ("serve --db missing.sqlite", "build it with `zkml index --rpc-url URL", True),
    ("serve --db garbage.json", "garbage.json is not a zkml index", True),
    ("serve --db missing.sqlite --package empty", "not a verification package", False),
    ("serve --port 70000", "Invalid value for '--port'", False),
    # the other commands, and the app itself
    ("import missing.onnx --input garbage.json", "cannot read the ONNX file", True),
    # graphs of several inputs: the input at fault is named
    ("import two.onnx --input two_missing.json", "inputs by name: missing 'mask'", True),
    ("import two.onnx --input two_short.json", "graph input 'mask': values of shape (2,)",
     False),
    ("import two.onnx --input two_extra.jsonl", "two_extra.jsonl:1: inputs by name: unknown "
     "'extra'", False),
    ("prove --dir twokeys two_missing.json", "missing 'mask'; the model takes 'features', "
     "'mask'", True),
    ("prove --dir twokeys two_short.json", "graph input 'mask'", False),
    ("inspect missing.onnx", "cannot read the ONNX file", False),
    ("publish --dir empty --out pkg", "run `zkml setup --dir empty` first", True),
    ("nosuch-command", "No such command 'nosuch-command'", True),
    # split proving
    ("split compile --dir empty --segments 0", "give a positive integer or 'auto'", True),
    ("compile --dir empty --segments 0", "give a positive integer or 'auto'", True),
    ("compile --dir empty --segments 2 --tune", "--segments takes --max-memory and --preset",
     True),
    ("compile --dir empty --segments 2 --max-memory 4", "with --segments auto", False),
    ("split compile --dir empty --segments two", "give a positive integer or 'auto'", False),
    ("split compile --dir empty --segments 2 --max-memory 4", "with --segments auto", False),
    ("split compile --dir empty", "`zkml export MODEL --dir empty`", True),
    ("split compile --dir badzoo --preset secret", "'secret' is not one of 'private-input'",
     False),
    ("split setup --dir empty", "run `zkml split compile --dir empty` first", True),
    ("split prove --dir empty missing.json", "no such file; give an input file", False),
    ("split prove --dir empty garbage.json", "run `zkml split setup --dir empty` first", True),
    ("split prove --dir empty garbage.json --backend gpu", "'gpu' is not one of 'local', 'ray'",
     False),
    ("split verify --dir empty garbage.json", "run `zkml split setup --dir empty` first", False),
    ("split verify --dir empty missing.json", "no such file; give a split bundle", False),
    ("split deploy --dir empty", "run `zkml split setup --dir empty` first", False),
    ("split verify-onchain --dir empty garbage.json --rpc-url http://127.0.0.1:9",
     "run `zkml split deploy --dir empty` first", False),    # claims
    ("claim commit missing.csv --dir empty", "no such file; give a labelled evaluation set",
     True),
    ("claim commit good.jsonl --dir empty", "run `zkml setup --dir empty` first", True),
    ("claim commit garbage.json --dir twokeys", "unknown format '.json'", False),
    ("claim commit bad_label.csv --dir twokeys", "line 2: label 'x' is not a class number",
     False),
    ("claim commit labelled.csv --dir twokeys --label-column y", "no column 'y'", False),
    ("claim commit labelled.csv --dir twokeys --opening garbage.json",
     "garbage.json exists: it opens a set you may have published", True),
    ("claim commit labelled.csv --dir twokeys --opening new.json",
     "a claim needs the committed-input preset", True),
    ("claim prove --dir twokeys --opening missing.json", "give the set opening from `zkml "
     "claim commit`", True),
    ("claim prove --dir twokeys --opening garbage.json", "not an evaluation-set opening", False),
    ("claim prove --dir twokeys --opening bundle.json", "not an evaluation-set opening (format "
     "'zkml-proof-bundle/1'", False),
    ("claim prove --dir twokeys --backend gpu", "'gpu' is not one of 'local', 'ray'", False),
    ("claim prove --dir twokeys --workers 0", "--workers 0: give 1 or more", False),
    ("claim verify missing --package empty", "no such claim", True),
    ("claim verify garbage.json --package empty", "not a claim", False),
    ("claim verify bundle.json --package empty", "not a claim (format is not", False),
    ("claim verify garbage.json", "give the model's --package (or --keys)", True),
    ("claim verify garbage.json --package empty --set missing.json",
     "no such file; give the set commitment", False),
    ("claim open missing.json garbage.json", "no such file; give the set commitment", True),
    ("claim open garbage.json garbage.json", "not an evaluation-set commitment", False),
    ("claim open", "Missing argument", False),
    ("claim deploy-registry --registry nope.json", "`zkml registry deploy --rpc-url URL "
     "--registry nope.json` first", True),
    ("claim deploy-registry --claim-registry empty", "is a directory; give the JSON file",
     False),
    ("claim deploy-registry --registry reg.json", "need a persistent chain", False),
    ("claim publish-set missing.json", "no such file; give the set commitment", True),
    ("claim publish-set garbage.json", "not an evaluation-set commitment", False),
    ("claim record missing --dir regdir", "no such claim", True),
    ("claim record garbage.json --dir regdir --set-committer bad",
     "--set-committer 'bad' is not an address", True),
    (f"claim check-onchain garbage.json --model-id 0x12 --set-committer {ADDR}",
     "--model-id '0x12' is not 32 bytes of hex (1 bytes)", True),
    (f"claim check-onchain garbage.json --model-id {INF} --set-committer {ADDR}",
     "not a claim", False),
    (f"claim check-onchain garbage.json --model-id {INF}", "Missing option '--set-committer'",
     False),
    # collaborative models
    ("collab join missing.onnx --party-dir p --name a --position 0 --parties 2 --calibration "
     "ex.npy", "no such file; give this party's segment", True),
    ("collab join two.onnx --party-dir p --name a --position 0 --parties 2 --calibration "
     "missing.npy", "no such file; give calibration samples", False),
    ("collab join two.onnx --party-dir p --name a --position 2 --parties 2 --calibration "
     "ex.npy", "position 2 is not in 0..1", True),
    ("collab join two.onnx --party-dir p --name a --position 1 --parties 2 --calibration "
     "ex.npy", "give input_scale (the previous party's output scale)", False),
    ("collab join two.onnx --party-dir afile --name a --position 0 --parties 2 --calibration "
     "ex.npy", "is a file, not a directory", False),
    ("collab agree missing.json", "no such file; give a draft.json", True),
    ("collab agree garbage.json", "not a draft", False),
    ("collab finalize --party-dir empty --logrows 9 --srs missing.srs",
     "no such file; give the agreed SRS file", True),
    ("collab finalize --party-dir empty --logrows 9 --srs garbage.srs",
     "no draft; run join for this party first", False),
    ("collab assemble empty --srs garbage.srs", "no contribution.json", True),
    ("collab prove --party-dir empty --model empty --input ex.npy", "no model.json", True),
    ("collab verify missing.json --model empty --srs garbage.srs",
     "no such file; give a collaborative bundle", True),
    ("collab verify garbage.json --model empty --srs garbage.srs", "not a collaborative bundle",
     False),
    ("collab verify bundle.json --model empty --srs garbage.srs", "not a collaborative bundle "
     "(format is not", False),
    ("collab deploy --model empty --srs garbage.srs", "no model.json", True),
    (f"collab deploy --model empty --srs garbage.srs --contributors {ADDR},0x12",
     "--contributors '0x12' is not an address", True),
    ("collab submit missing.json --model empty", "no such file; give a collaborative bundle",
     True),
    ("collab submit bundle.json --model empty", "not a collaborative bundle (format is not",
     False),
]


def _assert_clean(code: int, out: str, err: str, fragment: str) -> None:
    text = out + err
    assert code == 2, f"exit code {code}:\n{text}"
    assert "Traceback" not in text and "Fatal Python error" not in text, text
    # a usage error is click's box, wrapped to the terminal: read as one line of words
    words = " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())
    assert fragment in words, f"{fragment!r} not in:\n{text}"


@pytest.mark.parametrize(("args", "fragment", "_json"), ROWS, ids=[r[0] for r in ROWS])
def test_bad_input_exits_2_with_advice(args: str, fragment: str, _json: bool, env: Path,
                                       capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = run_main(args.split(), capsys, monkeypatch)
    _assert_clean(code, out, err, fragment)
    if "Usage:" not in err:  # zkml's own errors: one line, last (usage errors: click's panel)
        lines = err.strip().splitlines()
        assert lines[-1].startswith("error (") and "".join(lines).count("error (") == 1, err


JSON_ROWS = [r for r in ROWS if r[2]]


@pytest.mark.parametrize(("args", "fragment", "_json"), JSON_ROWS,
                         ids=[r[0] for r in JSON_ROWS])
def test_bad_input_with_json_prints_a_json_error(args: str, fragment: str, _json: bool,
                                                 env: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = run_main([*args.split(), "--json"], capsys, monkeypatch)
    assert code == 2 and "Traceback" not in out + err
    doc = json.loads(out)
    assert set(doc) == {"error", "type"} and fragment in doc["error"], doc
    assert doc["type"][0].isupper() and "\n" not in doc["error"]


# A few rows as a real process: what happens outside the app function (interpreter start and
# exit, native threads) shows here too.
PROCESS_ROWS: list[tuple[str, str, bool]] = [
    ("export raising.py:net", "importing it raised RuntimeError", False),
    ("registry show zzz --json", "not 32 bytes of hex", True),
    ("prove-batch --dir empty bad.jsonl", "line 2: not JSON", False),
    ("demo --patient abc --json", "Invalid value for '--patient'", True),
    (f"deploy --dir withkeys --rpc-url {DOWN}", "cannot reach the JSON-RPC node", False),
    ("setup --dir empty", "`zkml compile --dir empty`", False),
    # trains the zoo model first (seconds), which sets torch's variables: a process of its own
    ("demo --dir demo-out --patient 100000", "held-out patients; give 0 to", False),
    # ezkl's download: offline here, and forced to fail fast anywhere through a dead proxy
    ("srs fetch --logrows 9 --timeout 60", "zkml srs import", False),
    ("srs fetch --logrows 9 --json", "zkml srs import", True),
]


def _process_env(ws: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("ZKML_RPC_URL", "ZKML_DEBUG", "ZKML_PRIVATE_KEY")}
    dead = "http://127.0.0.1:9"
    env.update(HTTPS_PROXY=dead, https_proxy=dead, HTTP_PROXY=dead, http_proxy=dead,
               ALL_PROXY=dead, NO_PROXY="", no_proxy="", COLUMNS="200")
    return env


@pytest.mark.parametrize(("args", "fragment", "as_json"), PROCESS_ROWS,
                         ids=[r[0] for r in PROCESS_ROWS])
def test_bad_input_in_a_real_process(args: str, fragment: str, as_json: bool, ws: Path) -> None:
    r = subprocess.run([str(ZKML), *args.split()], cwd=ws, env=_process_env(ws),
                       capture_output=True, text=True, timeout=90, check=False)
    _assert_clean(r.returncode, r.stdout, r.stderr, fragment)
    if as_json:
        doc = json.loads(r.stdout)
        assert fragment in doc["error"] and doc["type"], doc


def test_version_names_zkml_and_ezkl(capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib.metadata import version

    from zkml.version import __version__

    code, out, _ = run_main(["--version"], capsys, monkeypatch)
    assert code == 0 and out.strip() == f"zkml {__version__} (ezkl {version('ezkl')})"


def test_help_documents_exit_codes_and_json(capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    code, out, _ = run_main(["--help"], capsys, monkeypatch)
    assert code == 0
    assert "Exit codes: 0 ok / valid; 1 invalid / rejected" in out and "2 error" in out
    assert "--json" in out and '{"error": ..., "type": ...}' in out


def test_registry_help_does_not_offer_the_embedded_evm(capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    for cmd in ("deploy", "register", "submit", "log", "show", "check", "retire", "transfer"):
        code, out, _ = run_main(["registry", cmd, "--help"], capsys, monkeypatch)
        assert code == 0 and "--rpc-url" in out and "--json" in out, cmd
        assert "embedded in-process EVM" not in out and "persistent chain" in out, cmd
    code, out, _ = run_main(["deploy", "--help"], capsys, monkeypatch)
    assert "default: the embedded in-process EVM" in out


def test_an_unexpected_exception_is_one_line_unless_zkml_debug(
        env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import zkml.proof.srs

    def broken() -> None:
        raise KeyError("surprise")

    monkeypatch.setattr(zkml.proof.srs, "list_srs", broken)
    code, out, err = run_main(["srs", "list"], capsys, monkeypatch)
    assert code == 2 and "Traceback" not in out + err
    line = err.strip()
    assert line.startswith("error (internal, KeyError): 'surprise' — please report this")
    assert "\n" not in line
    code, out, err = run_main(["srs", "list", "--json"], capsys, monkeypatch)
    assert code == 2 and json.loads(out)["type"] == "KeyError"
    monkeypatch.setenv("ZKML_DEBUG", "1")
    monkeypatch.setattr(sys, "argv", ["zkml", "srs", "list"])
    with pytest.raises(KeyError, match="surprise"):
        main()


def test_export_a_plain_module_from_a_file(env: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The most natural thing to try: a function returning an nn.Module, with --example."""
    before = set(sys.modules)
    np.save(env / "cal.npy", np.random.default_rng(0).uniform(-1, 1, size=(8, 4)))
    code, out, err = run_main(["export", "ok.py:net", "--example", "ex.npy", "--calibration",
                               "cal.npy", "--dir", "plain", "--json"], capsys, monkeypatch)
    assert code == 0, out + err
    doc = json.loads(out)
    assert doc["input_shape"] == [1, 4] and doc["output_shape"] == [1, 2]
    assert np.load(env / "plain" / "calibration.npy").shape == (8, 1, 4)
    assert not (env / "plain" / "zoo.json").exists()
    new = set(sys.modules) - before
    assert "ok" not in new and not [m for m in new if m.startswith("zkml_user_model")]
    assert all(not m.startswith("zkml_user_") or m.endswith("_ok") for m in new)
    # without --calibration: the example alone, and zkml says so
    code, out, err = run_main(["export", "ok.py:net", "--example", "ex.npy", "--dir",
                               "plain1"], capsys, monkeypatch)
    assert code == 0 and "note: calibrated on the --example input only" in err
    assert np.load(env / "plain1" / "calibration.npy").shape == (1, 1, 4)


def test_every_command_takes_json() -> None:
    import typer

    from zkml.cli.main import app

    def leaves(cmd: object, path: str) -> list[tuple[str, object]]:
        subs = getattr(cmd, "commands", None)
        if subs is None:
            return [(path, cmd)]
        return [leaf for name, sub in subs.items() for leaf in leaves(sub, f"{path} {name}")]

    commands = leaves(typer.main.get_command(app), "zkml")
    assert len(commands) >= 25
    missing = [path for path, cmd in commands
               if not any("--json" in p.opts for p in cmd.params)]  # type: ignore[attr-defined]
    assert not missing, f"no --json on: {missing}"
