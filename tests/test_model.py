"""The shipped digits MLP under quantization, and the Model impact page."""

import re
from pathlib import Path

import numpy as np
import pytest
from conftest import open_app

import quantlib as ql

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def model():
    return ql.digits_model()


def test_float_accuracy_is_what_the_training_script_recorded(model):
    correct, total = map(int, re.search(r"(\d+)\s*/\s*(\d+)\s*=\s*0\.\d+", (ROOT / "sample_data" / "README.md").read_text()).groups())
    r = model.evaluate()
    assert r["accuracy"] == correct / total >= 0.95
    assert r["agreement"] == 1.0 and r["logit_mse"] == 0.0


def test_eight_bit_asymmetric_weights_and_activations_stay_within_one_point(model):
    q = ql.Quantizer("asymmetric", bits=8)
    r = model.evaluate(weights=q, activations=q)
    assert abs(r["accuracy"] - r["float_accuracy"]) <= 0.01
    assert r["agreement"] >= 0.99


def test_two_bit_weights_score_lower_than_eight_bit(model):
    lo = model.evaluate(weights=ql.Quantizer("symmetric", bits=2))
    hi = model.evaluate(weights=ql.Quantizer("symmetric", bits=8))
    assert lo["accuracy"] < hi["accuracy"] - 0.1


def test_per_channel_weights_help_at_low_bits(model):
    per_tensor = model.evaluate(weights=ql.Quantizer("symmetric", bits=3))
    per_channel = model.evaluate(weights=ql.Quantizer("symmetric", bits=3, granularity="per_channel"))
    assert per_channel["logit_mse"] < per_tensor["logit_mse"]


def test_results_are_deterministic(model):
    q = ql.Quantizer("asymmetric", bits=4, rounding="stochastic", seed=3)
    assert model.evaluate(weights=q) == model.evaluate(weights=q)
    a = ql.accuracy_vs_bits(model, [("symmetric", {}), ("nf4", {})], [2, 4])
    b = ql.accuracy_vs_bits(model, [("symmetric", {}), ("nf4", {})], [2, 4])
    assert a.equals(b)
    # symmetric at 2 and 4 bits; nf4 has a fixed width, so one point at its own 4 bits (not a flat line)
    assert list(zip(a["configuration"], a["bits"])) == [("symmetric", 2), ("symmetric", 4), ("nf4", 4)]


def test_forward_matches_a_plain_numpy_mlp(model):
    # float64 matmuls, hidden activations kept in float32 (what a float32 model passes on)
    h = model.test_x
    for i, (_, w, b) in enumerate(model.layers):
        h = h.astype(np.float64) @ w.astype(np.float64).T + b
        if i < 2:
            h = np.maximum(h, 0).astype(np.float32)
    np.testing.assert_array_equal(model.forward(model.test_x), h)


def test_layer_sensitivity_has_one_row_per_layer(model):
    df = ql.layer_sensitivity(model, ql.Quantizer("symmetric", bits=2))
    assert list(df["layer"]) == model.layer_names
    full = model.evaluate(weights=ql.Quantizer("symmetric", bits=2))["accuracy"]
    assert (df["accuracy"] >= full - 1e-12).all()


def test_unknown_layer_is_refused(model):
    with pytest.raises(ValueError, match=r"unknown layer\(s\) \['fc9'\]"):
        model.evaluate(layers=["fc9"])


def test_model_page_runs_its_sweeps_and_follows_the_controls():
    at = open_app("model", timeout=240)
    assert not at.exception and not at.error
    acc = next(m for m in at.metric if m.label == "accuracy")
    r = ql.digits_model().evaluate(ql.Quantizer("asymmetric", bits=8), ql.Quantizer("asymmetric", bits=8))
    assert acc.value == f"{r['accuracy']:.4f}"
    assert len(at.get("plotly_chart")) == 2
    at.slider(key="model.weights.bits").set_value(2).run()
    low = ql.digits_model().evaluate(ql.Quantizer("asymmetric", bits=2), ql.Quantizer("asymmetric", bits=8))
    assert next(m for m in at.metric if m.label == "accuracy").value == f"{low['accuracy']:.4f}"
    at.selectbox(key="model.weights.scheme").set_value("nf4").run()
    assert not at.exception and not at.error
    at.radio(key="model.target").set_value("activations").run()
    assert not at.exception
