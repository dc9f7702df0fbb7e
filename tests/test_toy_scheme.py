"""A new scheme is one spec in one place: a toy scheme registered through the public API shows up on
every page, with its own numbers, and nothing else has to know its name."""

import json
from typing import Any

import numpy as np
import pytest
from conftest import open_app
from streamlit.testing.v1 import AppTest

import quantlib as ql
from quantlib import teaching

X = ql.synthetic("normal", 2**16, 0)  # the default data source
TOY = "toy_ternary"


def _magnitude(x: np.ndarray, rule: str) -> np.float32:
    a = np.abs(x).max() if rule == "amax" else np.abs(x).mean()
    return np.float32(a if a > 0 else 1.0)


def _run(x: np.ndarray, s: dict[str, Any]) -> ql.QuantResult:
    """Sign-magnitude with three levels: -a, 0, a (a = max|x| or mean|x|), threshold a / 2."""
    a = _magnitude(x, s["magnitude"])
    codes = (np.sign(x) * (np.abs(x) >= a / np.float32(2))).astype(np.int8)
    levels = np.array([-a, 0, a], dtype=np.float32)
    return ql.QuantResult(TOY, s, codes, codes.astype(np.float32) * a, None, levels, (float(-a), float(a)),
                          float(np.log2(3)) + 32 / x.size)


def _worked(x: object, index: int, result: ql.QuantResult) -> teaching.WorkedExample:
    x = np.asarray(x, dtype=np.float32)
    xi = np.float32(x.flat[index])
    a = _magnitude(x, result.settings["magnitude"])
    q = int(np.sign(xi) * (abs(xi) >= a / np.float32(2)))
    xh = np.float32(q) * a
    steps = (teaching.Step("magnitude", "One magnitude a for the tensor.", rf"a = {teaching.tex(a)}", a),
             teaching.Step("code", "Sign if |x| >= a / 2, else 0.", rf"q = {q}", q),
             teaching.Step("dequantize", "Code times a.", rf"\hat x = {teaching.tex(xh)}", xh))
    return teaching.WorkedExample(index, float(xi), steps, q, float(xh), float(xi) - float(xh))


SPEC = ql.SchemeSpec(
    TOY, "toy",
    "A three-level sign-magnitude quantizer: -a, 0 or a.",
    r"\hat x = a\,\mathrm{sign}(x)\,[\,|x| \ge a/2\,]",
    (ql.Setting("magnitude", str, "amax", "a = max|x| or mean|x|.", choices=("amax", "mean")),),
    _run, lambda bits, s: {},  # a fixed width: a bit sweep repeats it
    code_bits=lambda s: 2, worked_example=_worked,
)


@pytest.fixture(autouse=True)
def toy():
    ql.register(SPEC)
    yield ql.SCHEMES[TOY]
    del ql.SCHEMES[TOY]


def page(name: str, **query) -> AppTest:
    at = open_app(name, query)
    assert not at.error, [e.value for e in at.error]
    return at


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def expected_metrics(**settings) -> ql.Metrics:
    return ql.Quantizer(TOY, **settings)(X).metrics(X)


def test_the_toy_scheme_quantizes_to_three_levels():
    r = ql.Quantizer(TOY)(X)
    assert set(np.unique(r.codes)) == {-1, 0, 1}
    assert teaching.code_bits(TOY, {}) == 2
    grid = ql.formats.format_grid(TOY, {}, r)
    assert grid.kind == "levels" and grid.size == 3 and grid.max_magnitude == pytest.approx(np.abs(X).max())


def test_explore_offers_it_and_shows_its_numbers():
    at = page("explore", scheme=TOY)
    assert TOY in at.selectbox(key="scheme").options
    assert metric(at, "SQNR") == f"{expected_metrics().sqnr_db:.2f} dB"
    at.selectbox(key=f"{TOY}.magnitude").set_value("mean").run()
    assert not at.exception and metric(at, "MSE") == f"{expected_metrics(magnitude='mean').mse:.3g}"
    assert any("calibrated integer schemes" in i.value for i in at.info)  # no clipping-threshold curve


def test_compare_lists_it_beside_a_builtin_scheme():
    at = page("compare", configs=json.dumps([[TOY, {}], ["symmetric", {}]]))
    table = at.dataframe[0].value
    row = table[table["scheme"] == TOY]
    assert len(row) == 1 and set(table["scheme"]) == {TOY, "symmetric"}
    assert float(row["SQNR dB"].iloc[0]) == pytest.approx(expected_metrics().sqnr_db, rel=1e-9)


def test_formats_draws_its_grid():
    at = page("formats", **{"formats.scheme": TOY})
    assert TOY in at.selectbox(key="formats.scheme").options
    assert any(f"**{TOY}** · levels: 3 distinct values" in m.value for m in at.markdown)


def test_model_impact_quantizes_the_weights_with_it():
    at = page("model", **{"model.weights.scheme": TOY, "model.activations.scheme": "none"})
    assert TOY in at.selectbox(key="model.weights.scheme").options
    r = ql.digits_model().evaluate(weights=ql.Quantizer(TOY))
    assert any(m.value == f"{r['accuracy']:.4f}" for m in at.metric)


def test_methods_rounds_the_layer_with_it():
    at = page("methods", **{"methods.model": "digits_mlp", "methods.methods": ["rtn"], "methods.weights": TOY})
    assert TOY in at.selectbox(key="methods.weights").options
    m = ql.digits_model()
    w, x = m.weights["fc2"], m.calibration_inputs("fc2")
    held = x[int(round(len(x) * 0.75)):].astype(np.float64)
    y, yq = held @ w.astype(np.float64).T, held @ ql.Quantizer(TOY)(w).dequantized.astype(np.float64).T
    row = next(d.value for d in at.dataframe if "error (held-out)" in d.value.columns).iloc[0]
    assert row["error (held-out)"] == pytest.approx(np.sum((yq - y) ** 2) / np.sum(y ** 2), rel=1e-6)


def test_learn_works_it_out_step_by_step():
    at = page("learn", **{"learn.part": "Worked example", "learn.we.scheme": TOY, "learn.we.index": "7"})
    assert TOY in at.selectbox(key="learn.we.scheme").options
    r = ql.Quantizer(TOY)(X)
    assert metric(at, "code q") == str(int(r.codes[7]))
    assert metric(at, "dequantized x̂") == teaching.num(r.dequantized[7])
    assert any("Same as quantlib's own result" in s.value for s in at.success)


def test_learn_challenge_checks_it():
    at = page("learn", **{"learn.part": "Challenge", "learn.ch.key": "Four-bit codes, 30 dB", "learn.ch.scheme": TOY})
    assert TOY in at.selectbox(key="learn.ch.scheme").options
    table = at.dataframe[0].value
    bits = table[table["condition"] == "bits per code"].iloc[0]
    assert bits["yours"] == "2" and not bits["met"]


def test_toolkits_page_still_runs():
    at = page("toolkits")
    assert at.dataframe


def test_rate_distortion_places_it_and_dissects_its_error():
    at = page("rate_distortion", **{"rd.families": ["toy", "integer"], "rd.pick": TOY})
    table = next(d.value for d in at.dataframe if "bits/element" in d.value.columns)
    row = table[table["scheme"] == TOY].iloc[0]
    assert row["bits/element"] == np.log2(3) + 32 / X.size and row["mse"] == expected_metrics().mse
    a = ql.error_anatomy(X, ql.Quantizer(TOY)(X))
    assert metric(at, "MSE") == f"{a.mse:.4g}" and a.kind == "levels"
    assert "Block picker" not in [s.value for s in at.subheader]  # it stores no block scales
