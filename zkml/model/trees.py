"""Stage 1 for fitted estimators: scikit-learn, XGBoost, LightGBM -> a checked ONNX graph.

Trees and boosted ensembles go through hummingbird-ml's torch backend
(``hummingbird.ml.convert(est, "torch", x).model``); linear models are rebuilt here as a torch
``Linear`` from ``coef_``/``intercept_`` (with a sigmoid or softmax for LogisticRegression:
hummingbird's multiclass logistic regression does not match sklearn's softmax). Either module
is exported like any other (``torch.onnx.export``, opset 17, the TorchScript exporter). The
graph outputs what the estimator's ``predict_proba`` returns (classifiers) or ``predict``
(regressors), and is accepted only after its float reference (onnxruntime, or onnx's
reference evaluator for a graph onnxruntime refuses) agrees with the estimator itself on check
rows (the caller's held-out rows, or the example and perturbations of it).

XGBoost >= 2 estimates ``base_score`` from the labels, and hummingbird 0.4.12 ignores it for
classifiers: its margins are off by logit(base_score) (0.81 against 0.71 on a breast-cancer
row, base_score 0.627).
The offset is read from the booster's config and handed back to hummingbird, and the check
against ``predict_proba`` would refuse the graph if that ever stopped sufficing.

hummingbird-ml, xgboost and lightgbm are optional (the ``trees`` extra) and imported here, on
use: ``import zkml`` never loads them (linear models need none of them).
"""

from __future__ import annotations

import io
import json
import math
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from zkml._utils import atomic_write_bytes
from zkml.artifacts import ExportedModel
from zkml.errors import ExportError, InputError, InputShapeError, NoReferenceError

if TYPE_CHECKING:
    import torch

__all__ = ["Estimator", "SUPPORTED", "export_estimator", "supported_names", "TOLERANCE"]

#: (top-level package, class name) -> True for a classifier (probabilities are exported),
#: False for a regressor (the prediction). Exact classes: hummingbird dispatches on the type.
#: Each was checked against predict_proba / predict on breast-cancer, iris and diabetes. Left
#: out: HistGradientBoostingRegressor (hummingbird's graph is off by ~1.7 on diabetes).
SUPPORTED: dict[tuple[str, str], bool] = {
    **{("sklearn", n): True for n in (
        "LogisticRegression", "DecisionTreeClassifier", "RandomForestClassifier",
        "ExtraTreesClassifier", "GradientBoostingClassifier",
        "HistGradientBoostingClassifier")},
    **{("sklearn", n): False for n in (
        "LinearRegression", "Ridge", "Lasso", "ElasticNet", "DecisionTreeRegressor",
        "RandomForestRegressor", "ExtraTreesRegressor", "GradientBoostingRegressor")},
    ("xgboost", "XGBClassifier"): True,
    ("xgboost", "XGBRegressor"): False,
    ("lightgbm", "LGBMClassifier"): True,
    ("lightgbm", "LGBMRegressor"): False,
}

#: rebuilt here from coef_ / intercept_ (no hummingbird)
_LINEAR = frozenset({"LogisticRegression", "LinearRegression", "Ridge", "Lasso", "ElasticNet"})

#: how far onnxruntime may be from the estimator: absolute for probabilities; for a regressor,
#: relative to the prediction's size once that exceeds 1 (float32 carries ~7 digits)
TOLERANCE = 1e-4

#: hummingbird's tree strategy where it would pick "gemm" (trees of depth <= 3): ezkl proves
#: the gemm graph, but its leaf selection (an Equal on path counts) never matches in fixed
#: point, so the proven outputs are the base score alone (0.627 for every breast-cancer row).
#: perf_tree_trav is hummingbird's own choice for depths 4 to 10 and proves within 2e-4.
TREE_IMPLEMENTATION = "perf_tree_trav"

#: default check rows besides the example: this many perturbations of it
_PERTURBATIONS = 7


class Estimator(Protocol):
    """A fitted scikit-learn-style estimator (see ``SUPPORTED`` for the accepted classes)."""

    def predict(self, X: Any) -> Any: ...


def supported_names() -> str:
    """The supported estimator classes, grouped by package, for messages and docs."""
    groups: dict[str, list[str]] = {}
    for pkg, cls in SUPPORTED:
        groups.setdefault(pkg, []).append(cls)
    return "; ".join(f"{pkg}: {', '.join(names)}" for pkg, names in groups.items())


def _kind(model: Any) -> tuple[str, str, bool]:
    cls = type(model)
    key = (cls.__module__.split(".")[0], cls.__name__)
    if key not in SUPPORTED:
        raise ExportError(
            f"zkml.export cannot convert a {cls.__module__}.{cls.__name__}: give a torch.nn."
            f"Module or one of these fitted estimators ({supported_names()}), or export the "
            "model to ONNX yourself and use zkml.load_onnx.")
    return key[0], key[1], SUPPORTED[key]


def _one_row(example_input: Any, n_features: int | None) -> np.ndarray:
    try:
        x = np.asarray(example_input, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise InputError(f"example_input is not an array of numbers: {e}") from e
    if x.ndim == 1:
        x = x.reshape(1, -1)
    if x.ndim != 2 or x.shape[0] != 1 or (n_features is not None and x.shape[1] != n_features):
        want = n_features if n_features is not None else "n_features"
        raise InputShapeError(
            f"example_input has shape {x.shape}; give one row of shape (1, {want}) or ({want},).")
    if not np.isfinite(x).all():
        raise InputError("example_input contains NaN or infinity; give finite numbers.")
    return x


def _check_rows(check_rows: Any, x: np.ndarray) -> np.ndarray:
    """The rows onnxruntime and the estimator must agree on, as float32 values (what the graph
    receives), in float64 arrays: the example, then the caller's rows or, by default, seeded
    perturbations of the example (25% of each value's size plus 0.05), which move some of them
    across split thresholds."""
    n = x.shape[1]
    if check_rows is None:
        rng = np.random.default_rng(0)
        noise = rng.standard_normal((_PERTURBATIONS, n)) * (0.25 * np.abs(x) + 0.05)
        rows = x + noise
    else:
        try:
            rows = np.asarray(check_rows, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise InputError(f"check_rows is not an array of numbers: {e}") from e
        rows = rows.reshape(1, -1) if rows.ndim == 1 else rows
        if rows.ndim != 2 or rows.shape[1] != n or not len(rows):
            raise InputShapeError(
                f"check_rows has shape {rows.shape}; give rows of shape (m, {n}), m >= 1.")
        if not np.isfinite(rows).all():
            raise InputError("check_rows contains NaN or infinity; give finite numbers.")
    return np.concatenate([x, rows]).astype(np.float32).astype(np.float64)


def _xgb_margin_offset(model: Any) -> list[float] | None:
    """XGBoost's base_score in margin space (None if zero), read from the booster's config.

    A logistic objective stores it as a probability (its margin is the logit); softmax stores
    margins. XGBoost 3 writes it as a list ("[6.27E-1]"), 2 as a number.
    """
    learner = json.loads(model.get_booster().save_config())["learner"]
    raw = str(learner["learner_model_param"]["base_score"]).strip("[] ")
    scores = [float(v) for v in raw.split(",") if v.strip()]
    if "logistic" in learner["objective"]["name"]:
        clipped = (min(max(p, 1e-7), 1 - 1e-7) for p in scores)  # a wrong 0/1 fails the check
        scores = [math.log(p / (1.0 - p)) for p in clipped]
    return scores if any(s != 0.0 for s in scores) else None


def _plain_base_score(model: Any) -> Any:
    """A copy of an XGBoost regressor whose config gives base_score as a plain number.

    hummingbird 0.4.12 applies a regressor's base_score itself but reads it with float(),
    and XGBoost 3 writes a list ("[1.52E2]"). The copy's booster answers ``save_config`` with
    the number (the user's estimator is left as it was).
    """
    import copy

    clone = copy.deepcopy(model)
    booster = clone.get_booster()
    cfg = json.loads(booster.save_config())
    param = cfg["learner"]["learner_model_param"]
    param["base_score"] = str(float(str(param["base_score"]).strip("[] ").split(",")[0]))
    text = json.dumps(cfg)
    booster.save_config = lambda: text
    return clone


def _round_down_to_float32(t: np.ndarray) -> None:
    """In place: each threshold becomes the largest float32 not above it, so that for every
    float32 x, ``x <= t`` is unchanged when t is then stored as float32."""
    t32 = t.astype(np.float32)
    up = t32.astype(np.float64) > t
    t32[up] = np.nextafter(t32[up], np.float32(-np.inf))
    t[...] = t32


def _float32_thresholds(model: Any) -> Any:
    """A copy of a scikit-learn tree model whose split thresholds are float32 values.

    sklearn splits halfway between two training values in float64; hummingbird stores the
    threshold as float32, which can round it up onto the upper value and flip ``x <= t`` for
    inputs equal to it (12 of 20 random forests on iris). Rounded down instead, the copy
    predicts exactly as the original on float32 inputs, and so does its float32 graph.
    """
    import copy

    model = copy.deepcopy(model)
    trees = [model] if hasattr(model, "tree_") else list(
        np.ravel(np.asarray(getattr(model, "estimators_", []), dtype=object)))
    for tree in trees:
        _round_down_to_float32(tree.tree_.threshold)
    for predictor in (p for ps in getattr(model, "_predictors", []) for p in ps):
        _round_down_to_float32(predictor.nodes["num_threshold"])
    return model


def to_torch(model: Any, x: np.ndarray, *, correct_base_score: bool = True) -> torch.nn.Module:
    """The estimator as a torch module returning probabilities (classifiers) or predictions.

    ``correct_base_score=False`` leaves XGBoost's base_score out, as hummingbird does (kept for
    the test that shows the correction matters).
    """
    import torch

    pkg, cls, classifier = _kind(model)
    if cls in _LINEAR:
        return _linear(model, classifier)
    try:
        from hummingbird.ml import convert
        from hummingbird.ml.operator_converters import constants
    except ImportError as e:
        raise ExportError(
            f"converting a {cls} needs hummingbird-ml (the `trees` extra): run `make setup`, "
            "or pip install --no-deps hummingbird-ml==0.4.12 onnxconverter-common dill psutil."
        ) from e

    if pkg == "sklearn":
        model = _float32_thresholds(model)
    extra: dict[str, Any] = {}
    if pkg == "xgboost" and classifier and correct_base_score:
        offset = _xgb_margin_offset(model)
        if offset is not None:
            extra[constants.BASE_PREDICTION] = offset
    elif pkg == "xgboost":
        model = _plain_base_score(model)

    def hummingbird(config: dict[str, Any]) -> torch.nn.Module:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                # a copy: hummingbird's converters write into the config they are given
                return convert(model, "torch", x.astype(np.float32),  # type: ignore[no-any-return]
                               extra_config=dict(config)).model
        except Exception as e:  # hummingbird raises anything from an unfitted or odd estimator
            first = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
            raise ExportError(f"hummingbird-ml could not convert the {cls} "
                              f"({type(e).__name__}: {first}); is it fitted?") from e

    inner = hummingbird(extra)
    if any(type(m).__name__.startswith("GEMM") for m in inner.modules()):
        inner = hummingbird({**extra, constants.TREE_IMPLEMENTATION: TREE_IMPLEMENTATION})

    class Outputs(torch.nn.Module):
        """hummingbird's classifiers return (labels, probabilities): keep the probabilities."""

        def __init__(self) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, features: torch.Tensor) -> torch.Tensor:
            out = self.inner(features)
            return out[1] if classifier else out  # type: ignore[no-any-return]

    return Outputs().eval()


def _linear(model: Any, classifier: bool) -> torch.nn.Module:
    """``x @ coef_.T + intercept_``, then what predict_proba applies: a sigmoid (two classes,
    as [1 - p, p]), one-vs-rest sigmoids normalised (older sklearn's multi_class="ovr") or a
    softmax (multinomial)."""
    import torch

    coef = np.atleast_2d(np.asarray(model.coef_, dtype=np.float32))
    intercept = np.broadcast_to(np.asarray(model.intercept_, dtype=np.float32), coef.shape[:1])
    linear = torch.nn.Linear(coef.shape[1], coef.shape[0])
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(coef.copy()))
        linear.bias.copy_(torch.from_numpy(intercept.copy()))
    mode = "none"
    if classifier:
        multi_class = getattr(model, "multi_class", None)  # gone in sklearn 1.8
        ovr = multi_class == "ovr" or (multi_class in ("auto", "deprecated")
                                       and getattr(model, "solver", "") == "liblinear")
        mode = "binary" if coef.shape[0] == 1 else "ovr" if ovr else "softmax"

    class Linear(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = linear

        def forward(self, features: torch.Tensor) -> torch.Tensor:
            z = self.linear(features)
            if mode == "binary":
                p = torch.sigmoid(z)
                return torch.cat([1 - p, p], dim=1)
            if mode == "ovr":
                p = torch.sigmoid(z)
                return p / p.sum(dim=1, keepdim=True)
            return torch.softmax(z, dim=1) if mode == "softmax" else z

    return Linear().eval()


def _reference(model: Any, rows: np.ndarray, classifier: bool) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # feature-name warnings from LightGBM and sklearn
        out = model.predict_proba(rows) if classifier else model.predict(rows)
    return np.asarray(out, dtype=np.float64).reshape(len(rows), -1)


def export_estimator(
    model: Estimator,
    example_input: Any,
    path: str | Path,
    *,
    name: str | None = None,
    check_rows: Any = None,
) -> ExportedModel:
    """Export a fitted estimator to ONNX at ``path``, checked against the estimator itself.

    Called by :func:`zkml.export` for anything that is not a torch module.

    Args:
        model: a fitted estimator of a class in ``SUPPORTED``.
        example_input: one row of features, shape ``(1, n_features)`` or ``(n_features,)``.
        path: where to write the ``.onnx`` file (written atomically, only once checked).
        name: a label for reports; defaults to the file stem.
        check_rows: held-out rows ``(m, n_features)`` on which the graph's outputs must match
            ``predict_proba`` (classifiers) or ``predict`` (regressors) within ``TOLERANCE``,
            as must the example; default: 7 perturbations of the example. The rows are rounded
            to float32, the graph's input type, for both.

    Raises:
        ExportError: an unsupported estimator (the message lists the supported ones), a
            conversion that fails, or a graph that disagrees with the estimator.
        InputError: the example input or check rows are malformed or not finite.
    """
    import torch

    from zkml.model.graph import describe
    from zkml.model.reference import run_onnx

    _, cls, classifier = _kind(model)
    n_features = getattr(model, "n_features_in_", None)
    if n_features is None:
        raise ExportError(f"the {cls} is not fitted (it has no n_features_in_): fit it first.")
    x = _one_row(example_input, int(n_features))
    rows = _check_rows(check_rows, x)
    x32 = x.astype(np.float32)
    module = to_torch(model, x)
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (torch.as_tensor(x32),), buf,  # type: ignore[arg-type]
                              input_names=["input"], output_names=["output"],
                              opset_version=17, dynamo=False)
    except Exception as e:
        raise ExportError(
            f"torch could not export the converted {cls} to ONNX: "
            f"{str(e).splitlines()[0][:200] if str(e) else type(e).__name__}") from e
    data = buf.getvalue()
    try:
        got = np.stack([run_onnx(data, r.reshape(1, -1)).reshape(-1) for r in rows])
    except NoReferenceError as e:
        raise ExportError(
            f"the ONNX graph converted from the {cls} cannot be run to check it against the "
            f"estimator ({', '.join(f'{k}: {v}' for k, v in e.reasons.items())}); nothing was "
            "written. Export the model to ONNX another way and use zkml.load_onnx.") from e
    want = _reference(model, rows, classifier)
    what = "predict_proba" if classifier else "predict"
    if got.shape != want.shape:
        raise ExportError(
            f"the converted {cls} outputs {got.shape[1]} values per row where its {what} "
            f"gives {want.shape[1]}; it cannot be exported faithfully.")
    diff = np.nan_to_num(np.abs(got - want), nan=np.inf)
    scale = 1.0 if classifier else np.maximum(1.0, np.abs(want))
    if (diff / scale).max() > TOLERANCE:
        row = int(np.argmax((diff / scale).max(axis=1)))
        raise ExportError(
            f"the ONNX graph converted from the {cls} disagrees with its {what}: max "
            f"|onnx - {what}| = {diff.max():.3g} (check row {row}; 0 is the example), "
            f"beyond {TOLERANCE:g}{'' if classifier else ' x max(1, |prediction|)'}; nothing "
            "was written. Export the model to ONNX another way and use zkml.load_onnx.")
    exported = describe(data, x32.astype(np.float64), Path(path), name)
    atomic_write_bytes(path, data)
    return exported
