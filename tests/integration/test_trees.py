"""Fitted scikit-learn, XGBoost and LightGBM estimators through zkml.export -> compile -> setup
-> prove -> verify, on scikit-learn's bundled breast-cancer data (no download). The proven
probabilities must be what the estimator's own predict_proba says."""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import zkml

pytestmark = pytest.mark.timeout(900)

#: how far the proven probabilities may be from predict_proba: fixed point at the calibrated
#: scale (13 bits for the trees: 2e-4 measured; 7 for LogisticRegression: 4e-3 at worst)
PROOF_TOLERANCE = 0.02


@dataclass
class Data:
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray


@pytest.fixture(scope="module")
def data() -> Data:
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, _ = train_test_split(X, y, test_size=0.25, random_state=0,
                                                   stratify=y)
    scaler = StandardScaler().fit(X_train)  # fixed point wants features of similar size
    return Data(scaler.transform(X_train), y_train, scaler.transform(X_test))


def _logistic() -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=5000)


def _tree() -> Any:
    from sklearn.tree import DecisionTreeClassifier

    return DecisionTreeClassifier(max_depth=4, random_state=0)


def _forest() -> Any:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=5, max_depth=4, random_state=0)


def _boosting() -> Any:
    from sklearn.ensemble import GradientBoostingClassifier

    return GradientBoostingClassifier(n_estimators=5, max_depth=3, random_state=0)


def _xgboost() -> Any:
    from xgboost import XGBClassifier

    return XGBClassifier(n_estimators=5, max_depth=3, random_state=0)


def _lightgbm() -> Any:
    from lightgbm import LGBMClassifier

    return LGBMClassifier(n_estimators=5, max_depth=3, random_state=0, verbose=-1)


ESTIMATORS: dict[str, Callable[[], Any]] = {
    "logistic-regression": _logistic, "decision-tree": _tree, "random-forest": _forest,
    "gradient-boosting": _boosting, "xgboost": _xgboost, "lightgbm": _lightgbm,
}

#: LogisticRegression's sigmoid is a lookup over the calibrated logits (+-38 here) times
#: 2**scale: at the default scale 13 that is logrows 17 (setup 77 s, prove 114 s); scale 7 is
#: logrows 14 (setup 11 s, prove 4 s). The trees compile at logrows 9 to 15 with the defaults.
CONFIGS: dict[str, zkml.CompileConfig | None] = {"logistic-regression":
                                                 zkml.CompileConfig(scales=[7])}


def _fit(name: str, data: Data) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ESTIMATORS[name]().fit(data.X_train, data.y_train)


def _proba(est: Any, rows: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(est.predict_proba(rows), dtype=np.float64)


def _row_to_prove(est: Any, data: Data, input_range: tuple[float, float]) -> int:
    """The held-out row inside the calibrated range with the least certain prediction whose
    top class still leads by 0.2 (a saturated 0/1 would test little; a near tie, the argmax)."""
    lo, hi = input_range
    p = _proba(est, data.X_test).max(axis=1)
    fits = (data.X_test.min(axis=1) >= lo) & (data.X_test.max(axis=1) <= hi) & (p >= 0.6)
    return int(np.flatnonzero(fits)[np.argmin(p[fits])])


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_estimator_proves_its_predict_proba(name: str, data: Data, tmp_path: Path) -> None:
    est = _fit(name, data)
    exported = zkml.export(est, data.X_test[:1], tmp_path / "m.onnx", check_rows=data.X_test)
    assert exported.input_shape == [1, 30] and exported.output_shape == [1, 2]
    assert "Sigmoid" in exported.ops or name in ("decision-tree", "random-forest")
    circuit = zkml.compile_model(exported, data.X_train[:64], preset="private-input",
                                 config=CONFIGS.get(name))
    keys = zkml.setup(circuit)
    i = _row_to_prove(est, data, circuit.input_range)
    bundle = zkml.prove(keys, data.X_test[i])
    assert zkml.verify(bundle, keys) is True
    proven = np.array(zkml.decoded_outputs(bundle))
    expected = _proba(est, data.X_test[i:i + 1]).ravel()
    assert np.abs(proven - expected).max() <= PROOF_TOLERANCE, (name, i, proven, expected)
    assert proven.argmax() == expected.argmax()


def test_xgboost_base_score_correction_matters(data: Data) -> None:
    """XGBoost >= 2 fits base_score to the labels; hummingbird alone leaves it out of the
    margin, and its probabilities are then off by exactly logit(base_score) in margin space."""
    import torch

    from zkml.model.trees import to_torch

    est = _fit("xgboost", data)
    config = json.loads(est.get_booster().save_config())["learner"]["learner_model_param"]
    base_score = float(str(config["base_score"]).strip("[]"))
    assert abs(base_score - 0.5) > 0.05  # estimated from the labels (212 of 569 malignant)
    rows = data.X_test[:32].astype(np.float32)
    expected = _proba(est, rows.astype(np.float64))
    with torch.no_grad():
        corrected = to_torch(est, rows[:1]).forward(torch.from_numpy(rows)).numpy()
        plain = to_torch(est, rows[:1], correct_base_score=False).forward(
            torch.from_numpy(rows)).numpy()
    assert np.abs(corrected - expected).max() < 1e-4
    assert np.abs(plain - expected).max() > 0.05
    logit = np.log(expected[:, 1] / expected[:, 0]) - np.log(plain[:, 1] / plain[:, 0])
    np.testing.assert_allclose(logit, math.log(base_score / (1 - base_score)), atol=1e-3)


def test_a_conversion_that_disagrees_is_refused(data: Data, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Were the correction lost, the check against predict_proba refuses the graph."""
    from zkml.model import trees

    est = _fit("xgboost", data)
    real = trees.to_torch
    monkeypatch.setattr(trees, "to_torch", lambda model, x: real(model, x,
                                                                correct_base_score=False))
    with pytest.raises(zkml.ExportError, match=r"disagrees with its predict_proba: max "
                                               r"\|onnx - predict_proba\| = 0\.\d+"):
        zkml.export(est, data.X_test[:1], tmp_path / "m.onnx", check_rows=data.X_test[:20])
    assert not (tmp_path / "m.onnx").exists()
    # the default check rows (the example and perturbations of it) catch it as well
    with pytest.raises(zkml.ExportError, match="disagrees"):
        zkml.export(est, data.X_test[:1], tmp_path / "m.onnx")


def test_unsupported_estimator_is_refused_naming_the_supported_ones(data: Data,
                                                                    tmp_path: Path) -> None:
    from sklearn.neighbors import KNeighborsClassifier

    est = KNeighborsClassifier().fit(data.X_train, data.y_train)
    with pytest.raises(zkml.ExportError, match="KNeighborsClassifier") as err:
        zkml.export(est, data.X_test[:1], tmp_path / "m.onnx")
    for supported in ("LogisticRegression", "DecisionTreeClassifier", "RandomForestClassifier",
                      "GradientBoostingClassifier", "XGBClassifier", "LGBMClassifier"):
        assert supported in str(err.value)
    assert not (tmp_path / "m.onnx").exists()


def test_unfitted_estimator_and_bad_rows_are_refused(data: Data, tmp_path: Path) -> None:
    import torch

    with pytest.raises(zkml.ExportError, match="not fitted"):
        zkml.export(_forest(), data.X_test[:1], tmp_path / "m.onnx")
    est = _fit("decision-tree", data)
    with pytest.raises(zkml.InputShapeError, match=r"\(1, 30\)"):
        zkml.export(est, data.X_test[:2], tmp_path / "m.onnx")
    with pytest.raises(zkml.InputShapeError, match="check_rows"):
        zkml.export(est, data.X_test[0], tmp_path / "m.onnx", check_rows=data.X_test[:, :5])
    with pytest.raises(zkml.ExportError, match="check_rows is for estimators"):
        zkml.export(torch.nn.Linear(30, 2), data.X_test[:1], tmp_path / "m.onnx",
                    check_rows=data.X_test)


def _other_estimators() -> list[tuple[str, Any]]:
    from lightgbm import LGBMRegressor
    from sklearn import ensemble, linear_model, tree
    from xgboost import XGBRegressor

    return [
        ("iris", linear_model.LogisticRegression(max_iter=5000)),  # softmax, 3 classes
        ("iris", ensemble.ExtraTreesClassifier(n_estimators=5, max_depth=4, random_state=0)),
        ("iris", ensemble.HistGradientBoostingClassifier(max_iter=5, max_depth=3)),
        ("iris", ensemble.RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0)),
        ("diabetes", linear_model.Ridge()),
        ("diabetes", tree.DecisionTreeRegressor(max_depth=4, random_state=0)),
        ("diabetes", ensemble.GradientBoostingRegressor(n_estimators=5, random_state=0)),
        ("diabetes", LGBMRegressor(n_estimators=5, verbose=-1)),
        # XGBoost 3 writes base_score as a list, which hummingbird 0.4.12 cannot parse
        ("diabetes", XGBRegressor(n_estimators=5, max_depth=3, random_state=0)),
    ]


def test_other_supported_estimators_export_faithfully(tmp_path: Path) -> None:
    """The rest of SUPPORTED, exported only (no proof): multiclass and regression outputs,
    checked against predict_proba / predict on all rows of the data they were fitted on."""
    from sklearn.datasets import load_diabetes, load_iris

    from zkml.model.trees import SUPPORTED

    sets = {"iris": load_iris(return_X_y=True), "diabetes": load_diabetes(return_X_y=True)}
    for data_name, est in _other_estimators():
        X, y = sets[data_name]
        assert (type(est).__module__.split(".")[0], type(est).__name__) in SUPPORTED
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(X, y)
        booster_config = est.get_booster().save_config() if hasattr(est, "get_booster") \
            else None
        exported = zkml.export(est, X[0], tmp_path / "m.onnx", check_rows=X)
        if booster_config is not None:  # the user's estimator is left as it was
            assert est.get_booster().save_config() == booster_config
        width = 3 if data_name == "iris" else 1
        assert exported.input_shape == [1, X.shape[1]], type(est).__name__
        assert exported.output_shape == [1, width], type(est).__name__
