"""The shipped digits MLP under quantization, and the Model impact page."""

import base64
import json
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
    assert list(zip(a["configuration"], a["bits"])) == [("symmetric · minmax", 2), ("symmetric · minmax", 4), ("nf4", 4)]


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
    # metric vs bits, sensitivity heatmap, sensitivity bars, activation channels (the planner waits for its toggle)
    assert len(at.get("plotly_chart")) == 4
    at.slider(key="model.weights.bits").set_value(2).run()
    low = ql.digits_model().evaluate(ql.Quantizer("asymmetric", bits=2), ql.Quantizer("asymmetric", bits=8))
    assert next(m for m in at.metric if m.label == "accuracy").value == f"{low['accuracy']:.4f}"
    at.selectbox(key="model.weights.scheme").set_value("nf4").run()
    assert not at.exception and not at.error
    at.radio(key="model.target").set_value("activations").run()
    assert not at.exception
    at.radio(key="model.activations.granularity").set_value("per_token").run()
    per_token = ql.Quantizer("asymmetric", bits=8, granularity="per_channel", axis=0)
    want = ql.digits_model().evaluate(ql.Quantizer("nf4"), per_token)
    assert next(m for m in at.metric if m.label == "accuracy").value == f"{want['accuracy']:.4f}"
    at.selectbox(key="model.digits_mlp.act_layer").set_value("fc3").run()
    assert not at.exception and not at.error


def test_model_page_sensitivity_bars_show_the_drop_on_a_fitted_axis():
    at = open_app("model", {"model.weights.bits": "3", "model.activations.scheme": "none"}, timeout=240)
    specs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    spec = next(f for f in specs if f["data"][0]["type"] == "bar" and "drop of accuracy" in f["layout"]["title"]["text"])
    y = spec["data"][0]["y"]
    drops = (np.frombuffer(base64.b64decode(y["bdata"]), dtype=y["dtype"]).tolist() if isinstance(y, dict) else y)
    lo, hi = spec["layout"]["yaxis"]["range"]
    m = ql.digits_model()
    df = ql.layer_sensitivity(m, ql.Quantizer("asymmetric", bits=3))
    assert drops == pytest.approx((df["float_accuracy"] - df["accuracy"]).tolist())
    assert lo <= min(drops) and max(drops) < hi <= max(drops) * 1.2 + 1e-6  # not a 0-1 axis
