"""The zoo's tree ensembles (circuits/trees.py) through the real pipeline: one held-out row of
each proven and verified; the class decoded from the proof is the estimator's own prediction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import circuits
import zkml
from circuits import trees

pytestmark = pytest.mark.timeout(600)


@pytest.mark.parametrize("name", ["bc-random-forest", "bc-gradient-boosting"])
def test_proven_class_is_the_estimators_prediction(name: str, tmp_path: Path) -> None:
    zoo, keys = circuits.prepare(name, tmp_path)
    assert zoo.is_estimator and name in circuits.ZOO
    rows = zoo.test_inputs.reshape(len(zoo.test_inputs), -1)
    with np.errstate(all="ignore"):
        proba = np.asarray(zoo.model.predict_proba(rows))
    # the least certain held-out row whose top class still leads by 0.2, inside the
    # calibrated range: a saturated 0/1 would test little, a near tie the quantisation
    lo, hi = keys.circuit.input_range
    fits = (rows.min(axis=1) >= lo) & (rows.max(axis=1) <= hi) & (proba.max(axis=1) >= 0.6)
    i = int(np.flatnonzero(fits)[np.argmin(proba.max(axis=1)[fits])])
    bundle = zkml.prove(keys, zoo.test_inputs[i])
    assert zkml.verify(bundle, keys) is True
    proven = np.array(zkml.decoded_outputs(bundle))
    assert proven.shape == (2,)
    assert int(proven.argmax()) == int(trees.predict(zoo, zoo.test_inputs[i:i + 1])[0])
    assert np.abs(proven - proba[i]).max() < 0.02  # fixed point at the calibrated scale
    # the estimator is a real classifier of this data, not a constant
    accuracy = float(np.mean(trees.predict(zoo, zoo.test_inputs) == zoo.test_labels))
    assert accuracy > 0.9
