"""What the corpus's builders share (benchmarks/corpus_models.py), and the estimator builders:
hummingbird-ml trees in each strategy for scikit-learn, XGBoost and LightGBM, and the
scikit-learn MLP, linear models and SVC, fitted on scikit-learn's bundled datasets.

Every conversion is checked against the estimator itself on held-out rows before it is used:
a wrong benchmark model would be worse than a missing one. Imports torch and the estimator
packages on use: run builders in a child process (corpus.py does).
"""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

#: calibration samples per model (both flows calibrate on all of them: below zkml's default
#: calibration_limit of 64, so neither subsets). Big CNNs get fewer: one ezkl calibration pass
#: over a LeNet-size model costs seconds per sample.
CAL_N, CAL_N_BIG = 32, 8


@dataclass
class Built:
    onnx: bytes
    calibration: np.ndarray  # (n, *input_shape), float32
    input: np.ndarray  # (*input_shape): the input that is proven
    #: the float output on ``input`` (None: onnxruntime's; the onnx backend models ship theirs,
    #: and onnxruntime no longer runs some of their opset-6 ops)
    ref: np.ndarray | None = None


# --------------------------------------------------------------------------- helpers

def export_torch(module: Any, example: np.ndarray) -> bytes:
    """As the project exports: the TorchScript exporter, opset 17."""
    import torch

    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), (torch.as_tensor(example, dtype=torch.float32),), buf,
                          input_names=["input"], output_names=["output"], opset_version=17,
                          dynamo=False)
    return buf.getvalue()


def run_ort(onnx: bytes, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # no opset warnings on stderr
    sess = ort.InferenceSession(onnx, opts, providers=["CPUExecutionProvider"])
    return np.asarray(sess.run(None, {sess.get_inputs()[0].name: x.astype(np.float32)})[0])


def checked(onnx: bytes, rows: np.ndarray, want: np.ndarray, what: str) -> bytes:
    """Refuse a conversion whose graph disagrees with the estimator on ``rows`` (a wrong
    benchmark model would be worse than a missing one)."""
    got = np.stack([run_ort(onnx, r[None]).reshape(-1) for r in rows])
    scale = np.maximum(1.0, np.abs(want))  # regressors: relative once above 1
    err = float(np.max(np.abs(got - want.reshape(got.shape)) / scale))
    if err > 1e-3:
        raise ValueError(f"{what}: the ONNX graph is off by {err:.3g} from the estimator")
    return onnx


def perturbed(example: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """The example plus n - 1 seeded perturbations (std a quarter of the example's spread)."""
    rng = np.random.default_rng(seed)
    spread = 0.25 * (float(np.std(example)) or 1.0)
    extra = example + rng.normal(0.0, spread, size=(n - 1, *example.shape))
    return np.concatenate([example[None], extra]).astype(np.float32)


def rows_of(x_tr: np.ndarray, x_te: np.ndarray, n: int = CAL_N) -> tuple[np.ndarray, np.ndarray]:
    """Calibration = the first n - 1 training rows plus the proven (held-out) row, as
    (n, 1, features); the proven input (1, features)."""
    x = x_te[:1].astype(np.float32)
    cal = np.concatenate([x_tr[: n - 1].astype(np.float32), x])[:, None, :]
    return cal, x


def dataset(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, x_test, y_train, y_test) of a bundled dataset, split deterministically;
    breast cancer standardised as the zoo does, digits scaled to [0, 1]."""
    from sklearn import datasets
    from sklearn.model_selection import train_test_split

    if name == "breast_cancer":
        from circuits.breast_cancer import load_data

        return load_data(0)
    x, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    if name == "digits":
        x = x / 16.0
    return train_test_split(x.astype(np.float32), y, test_size=0.2, random_state=0)


# --------------------------------------------------------------------------- estimators

def _xgb_base_margin(est: Any) -> list[float] | None:
    """XGBoost >= 2's base_score in margin space, which hummingbird 0.4.12 leaves out of its
    classifiers (zkml/model/trees.py applies the same correction; kept here so that the
    benchmark's models do not change when zkml's converter does)."""
    import math

    learner = json.loads(est.get_booster().save_config())["learner"]
    scores = [float(v) for v in str(learner["learner_model_param"]["base_score"]).strip("[] ")
              .split(",") if v.strip()]
    if "logistic" in learner["objective"]["name"]:
        scores = [math.log(p / (1 - p)) for p in (min(max(s, 1e-7), 1 - 1e-7) for s in scores)]
    return scores if any(scores) else None


def _plain_base_score(est: Any) -> None:
    """hummingbird 0.4.12 reads an XGBRegressor's base_score with float(), but XGBoost 3
    writes it as a list ('[1.52E2]'): hand it the number (the booster object is shared, so
    its save_config is shadowed on that object only)."""
    booster = est.get_booster()
    cfg = json.loads(booster.save_config())
    param = cfg["learner"]["learner_model_param"]
    param["base_score"] = str(float(str(param["base_score"]).strip("[] ").split(",")[0]))
    text = json.dumps(cfg)
    booster.save_config = lambda: text


def _hummingbird(est: Any, x: np.ndarray, classifier: bool, strategy: str | None,
                 extra: dict[str, Any] | None = None) -> Any:
    import torch
    from hummingbird.ml import convert

    config = dict(extra or {})
    if strategy is not None:
        config["tree_implementation"] = strategy
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inner = convert(est, "torch", x, extra_config=config).model

    class Outputs(torch.nn.Module):
        """hummingbird's classifiers return (labels, probabilities): keep the probabilities."""

        def __init__(self) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, t: torch.Tensor) -> torch.Tensor:
            out = self.inner(t)
            return out[1] if classifier else out  # type: ignore[no-any-return]

    return Outputs()


def _tree_estimator(lib: str, regressor: bool) -> Any:
    """Small ensembles (a few seconds to prove at ezkl's defaults): classifiers 5 trees of
    depth 3 on breast cancer (depth <= 3 is where hummingbird itself picks gemm); regressors
    8 trees of depth 4 on diabetes."""
    depth, n = (4, 8) if regressor else (3, 5)
    if lib == "sklearn":
        from sklearn import ensemble

        return (ensemble.GradientBoostingRegressor(n_estimators=n, max_depth=depth,
                                                   random_state=0) if regressor else
                ensemble.RandomForestClassifier(n_estimators=n, max_depth=depth,
                                                random_state=0))
    if lib == "xgboost":
        import xgboost as xgb

        cls = xgb.XGBRegressor if regressor else xgb.XGBClassifier
        return cls(n_estimators=n, max_depth=depth, random_state=0, n_jobs=1)
    import lightgbm as lgb

    cls = lgb.LGBMRegressor if regressor else lgb.LGBMClassifier
    return cls(n_estimators=n, max_depth=depth, num_leaves=2 ** depth, random_state=0,
               n_jobs=1, verbose=-1)


def tree(lib: str, strategy: str | None, regressor: bool = False) -> Callable[[], Built]:
    def build() -> Built:
        x_tr, x_te, y_tr, _ = dataset("diabetes" if regressor else "breast_cancer")
        x_tr, x_te = x_tr.astype(np.float32), x_te.astype(np.float32)
        est = _tree_estimator(lib, regressor)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(x_tr, y_tr)
        extra: dict[str, Any] = {}
        if lib == "xgboost" and regressor:
            _plain_base_score(est)
        elif lib == "xgboost":
            from hummingbird.ml.operator_converters import constants

            offset = _xgb_base_margin(est)
            if offset is not None:
                extra[constants.BASE_PREDICTION] = offset
        cal, x = rows_of(x_tr, x_te)
        module = _hummingbird(est, x, not regressor, strategy, extra)
        check = x_te[:16]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = est.predict(check) if regressor else est.predict_proba(check)
        onnx = checked(export_torch(module, x), check, np.asarray(want, dtype=np.float64),
                        f"{type(est).__name__} ({strategy or 'default'})")
        return Built(onnx, cal, x)

    return build


def sk_mlp() -> Built:
    """MLPClassifier 64-32-16-10 on digits, through hummingbird."""
    from sklearn.neural_network import MLPClassifier

    x_tr, x_te, y_tr, _ = dataset("digits")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = MLPClassifier(hidden_layer_sizes=(32, 16), max_iter=200, random_state=0)
        est.fit(x_tr, y_tr)
    cal, x = rows_of(x_tr, x_te)
    onnx = export_torch(_hummingbird(est, x, True, None), x)
    return Built(checked(onnx, x_te[:16], est.predict_proba(x_te[:16]), "MLPClassifier"),
                 cal, x)


def _linear_module(coef: np.ndarray, intercept: np.ndarray, softmax: bool = False) -> Any:
    import torch

    lin = torch.nn.Linear(coef.shape[1], coef.shape[0])
    with torch.no_grad():
        lin.weight.copy_(torch.as_tensor(coef, dtype=torch.float32))
        lin.bias.copy_(torch.as_tensor(intercept, dtype=torch.float32))
    return torch.nn.Sequential(lin, torch.nn.Softmax(dim=-1)) if softmax else lin


def sk_linreg() -> Built:
    """LinearRegression on diabetes, as a torch Linear with the fitted weights."""
    from sklearn.linear_model import LinearRegression

    x_tr, x_te, y_tr, _ = dataset("diabetes")
    est = LinearRegression().fit(x_tr, y_tr)
    cal, x = rows_of(x_tr, x_te)
    onnx = export_torch(_linear_module(est.coef_[None], np.atleast_1d(est.intercept_)), x)
    return Built(checked(onnx, x_te[:16], est.predict(x_te[:16]), "LinearRegression"), cal, x)


def sk_logreg() -> Built:
    """LogisticRegression (multinomial) on iris: Linear + Softmax with the fitted weights."""
    from sklearn.linear_model import LogisticRegression

    x_tr, x_te, y_tr, _ = dataset("iris")
    est = LogisticRegression(max_iter=500).fit(x_tr, y_tr)
    cal, x = rows_of(x_tr, x_te)
    onnx = export_torch(_linear_module(est.coef_, est.intercept_, softmax=True), x)
    return Built(checked(onnx, x_te[:16], est.predict_proba(x_te[:16]), "LogisticRegression"),
                 cal, x)


def sk_svc() -> Built:
    """SVC (RBF kernel) on iris versicolor vs virginica: its decision function as a torch
    module (sum over support vectors of dual_coef * exp(-gamma |x - sv|^2) + intercept);
    hummingbird's SVC returns labels only."""
    import torch
    from sklearn.svm import SVC

    x_tr, x_te, y_tr, y_te = dataset("iris")
    keep_tr, keep_te = y_tr > 0, y_te > 0
    x_tr, x_te, y_tr = x_tr[keep_tr], x_te[keep_te], y_tr[keep_tr]
    est = SVC(kernel="rbf", gamma="scale").fit(x_tr, y_tr)

    class RbfSvc(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.sv = torch.nn.Parameter(torch.as_tensor(est.support_vectors_,
                                                         dtype=torch.float32))
            self.coef = torch.nn.Parameter(torch.as_tensor(est.dual_coef_.T,
                                                           dtype=torch.float32))
            self.bias = float(est.intercept_[0])
            self.gamma = float(est._gamma)

        def forward(self, t: torch.Tensor) -> torch.Tensor:
            d2 = ((t[:, None, :] - self.sv[None]) ** 2).sum(-1)
            return torch.exp(-self.gamma * d2) @ self.coef + self.bias

    cal, x = rows_of(x_tr, x_te)
    onnx = export_torch(RbfSvc(), x)
    return Built(checked(onnx, x_te, est.decision_function(x_te), "SVC"), cal, x)
