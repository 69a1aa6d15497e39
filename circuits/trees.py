"""Tree ensembles on scikit-learn's bundled WDBC breast-cancer data (the split and
standardisation of ``breast_cancer.py``), exported through hummingbird-ml (the ``trees``
extra): small enough to prove in seconds, so tests can prove them.

- ``bc-random-forest``: RandomForestClassifier, 5 trees of depth 4 (its probabilities are the
  mean of the trees' leaf frequencies; no lookup table).
- ``bc-gradient-boosting``: GradientBoostingClassifier, 8 stages of depth 3 (the sigmoid of
  the summed margins: a lookup table).

The model of each entry is the fitted estimator itself, not a torch module: ``zkml.export``
converts it and refuses the graph unless it reproduces ``predict_proba``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from . import ZooModel
from .breast_cancer import load_data

LABELS = ["malignant", "benign"]


def _zoo(name: str, estimator: Any, seed: int, description: str) -> ZooModel:
    x_tr, x_te, y_tr, y_te = load_data(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator.fit(x_tr, y_tr)
    return ZooModel(
        name=name,
        model=estimator,
        calibration=x_tr.reshape(-1, 1, 30),
        test_inputs=x_te.reshape(-1, 1, 30),
        test_labels=y_te,
        labels=LABELS,
        description=description,
    )


def random_forest(seed: int = 0) -> ZooModel:
    from sklearn.ensemble import RandomForestClassifier

    est = RandomForestClassifier(n_estimators=5, max_depth=4, random_state=seed)
    return _zoo("bc-random-forest", est, seed,
                "RandomForest 5 trees x depth 4 on WDBC breast cancer (hummingbird)")


def gradient_boosting(seed: int = 0) -> ZooModel:
    from sklearn.ensemble import GradientBoostingClassifier

    est = GradientBoostingClassifier(n_estimators=8, max_depth=3, learning_rate=0.3,
                                     random_state=seed)
    return _zoo("bc-gradient-boosting", est, seed,
                "GradientBoosting 8 stages x depth 3 on WDBC breast cancer (hummingbird)")


def predict(zoo: ZooModel, rows: np.ndarray) -> np.ndarray:
    """The estimator's own class predictions for ``rows`` (any shape (n, ..., features))."""
    flat = np.asarray(rows, dtype=np.float64).reshape(len(rows), -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(zoo.model.predict(flat))
