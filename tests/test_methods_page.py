"""The Methods page through AppTest: the default layer, every registered method (a toy one
registered here too, with a channel scaling and an α), an uploaded pair, a mismatched one, the α
slider, the whole-model comparison and a link that reproduces the view."""

import io
import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import open_app

import quantlib as ql
from quantlib.linear import LinearMethod, register_method, transformed_result
from quantlib.linear._base import LINEAR_METHODS

TOY = "toy_scale"


def _toy_fit(w, x, s: dict[str, Any], wq, aq):
    """s_j = max|x_j|^α: the inputs divided by it, the weight's columns multiplied, then the weight scheme."""
    xm = np.abs(x).max(axis=0)
    scale = np.where(xm > 0, xm, 1.0).astype(np.float64) ** s["alpha"]
    scale = scale.astype(np.float32)
    q = wq(w * scale)
    details = {"alpha": s["alpha"], "x_max_before": xm, "x_max_after": np.abs(x / scale).max(axis=0),
               "w_max_before": np.abs(w).max(axis=0), "w_max_after": np.abs(w * scale).max(axis=0)}
    return transformed_result(TOY, s, w, q.dequantized, q.bits_per_element + 32 / w.shape[0], aq, scale=scale,
                              details=details)


TOY_SPEC = LinearMethod(
    name=TOY, title="Toy channel scaling", description="Scale each input channel by max|x|^α before rounding.",
    formula=r"s_j = \max|X_j|^\alpha", source="This test.",
    settings=(ql.Setting("alpha", float, 0.5, "Exponent.", min=0.0, max=1.0),),
    fit=_toy_fit, default_weights=("symmetric", {"bits": 4, "granularity": "per_channel", "axis": 0}),
)


@pytest.fixture(autouse=True)
def toy():
    register_method(TOY_SPEC)
    yield
    del LINEAR_METHODS[TOY]


@pytest.fixture(scope="module")
def layer():
    m = ql.load_model("minilm_l6")
    name = ql.MODELS["minilm_l6"].example_layer
    return m.weights[name], m.calibration_inputs(name)


def rtn_reference(w: np.ndarray, bits: int) -> np.ndarray:
    """torch's per-channel fake quantize with the symmetric scale amax / qmax (quantlib's convention)."""
    qmax = 2 ** (bits - 1) - 1
    scale = torch.tensor(np.abs(w).max(axis=1) / np.float32(qmax), dtype=torch.float32)
    return torch.fake_quantize_per_channel_affine(torch.from_numpy(np.array(w)), scale, torch.zeros(w.shape[0], dtype=torch.int32),
                                                  0, -qmax - 1, qmax).numpy()


def held_error(w: np.ndarray, wq: np.ndarray, x: np.ndarray, share: float = 0.25) -> float:
    held = x[int(round(x.shape[0] * (1 - share))):].astype(np.float64)
    y, yq = held @ w.astype(np.float64).T, held @ wq.astype(np.float64).T
    return float(np.sum((yq - y) ** 2) / np.sum(y ** 2))


def table(at) -> Any:
    return next(d.value for d in at.dataframe if "error (held-out)" in d.value.columns)


def charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _npy(a) -> bytes:
    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()


def test_default_visit_fits_every_method_on_the_example_layer(layer):
    w, x = layer
    at = open_app("methods")  # one run: the table, each method's own view and the curves
    assert not at.error, [e.value for e in at.error]
    t = table(at)
    shown_ = list(t["method"])
    assert shown_ == [m for m in ql.LINEAR_METHODS if m in shown_] and {"rtn", TOY} <= set(shown_)
    for m in set(ql.LINEAR_METHODS) - set(shown_):  # a method with no 4-bit form (LLM.int8) says why
        assert any(w.value.replace("\\", "").startswith(f"{m} is not in the table") for w in at.warning), m
    rtn = t[t["method"] == "rtn"].iloc[0]
    assert rtn["error (held-out)"] == pytest.approx(held_error(w, rtn_reference(w, 4), x), rel=1e-5)
    assert rtn["bits/element"] == 4 + 32 / w.shape[1]
    titles = [c["layout"]["title"]["text"] for c in charts(at)]
    assert any("per-channel ranges" in s for s in titles)  # the toy method records a channel scaling
    assert not any("follow" in c.value for c in at.caption)  # no follow-up run: the curves come in the same one
    assert len(at.latex) == len(ql.LINEAR_METHODS)  # each method's formula


def test_the_toy_method_is_measured_as_its_own_formula(layer):
    w, x = layer
    at = open_app("methods", {"methods.methods": ["rtn", TOY], "methods.bits": "3"})
    row = table(at).set_index("method").loc[TOY]
    calib = x[: int(round(x.shape[0] * 0.75))]
    s = (np.abs(calib).max(axis=0).astype(np.float64) ** 0.5).astype(np.float32)
    eff = rtn_reference(w * s, 3) / s  # Q(W s) diag(1/s): the weight the scaled layer applies to float inputs
    assert row["error (held-out)"] == pytest.approx(held_error(w, eff, x), rel=1e-4)
    curves = next(c for c in charts(at) if c["layout"]["title"]["text"].startswith("Output error vs bits"))
    from test_pages import values

    rtn = next(t for t in curves["data"] if t["name"] == "rtn")
    assert values(rtn["customdata"]) == list(range(2, 9))  # one point per code width
    assert values(rtn["y"])[1] == pytest.approx(table(at).set_index("method").loc["rtn", "error (held-out)"])  # 3 bits
    assert any(c["layout"]["title"]["text"] == "Output error per input column" for c in charts(at))


def test_the_alpha_slider_moves_the_channel_ranges(layer):
    _, x = layer
    at = open_app("methods", {"methods.methods": [TOY]})
    calib = x[: int(round(x.shape[0] * 0.75))]
    xm = np.abs(calib).max(axis=0).astype(np.float64)

    def after() -> np.ndarray:
        fig = next(c for c in charts(at) if "per-channel ranges" in c["layout"]["title"]["text"])
        trace = next(t for t in fig["data"] if t["name"] == "after scaling" and t.get("yaxis", "y") == "y")
        from test_pages import values

        return np.array(values(trace["y"]))

    np.testing.assert_allclose(after(), xm ** 0.5, rtol=1e-5)  # x / max|x|^α = max|x|^(1-α) on the max token
    at.slider(key=f"methods.{TOY}.alpha_view").set_value(0.9).run()
    assert not at.exception and not at.error
    np.testing.assert_allclose(after(), xm ** 0.1, rtol=1e-4)
    assert "α = 0.90" in next(c for c in charts(at) if "per-channel ranges" in c["layout"]["title"]["text"])[
        "layout"]["title"]["text"]


def test_an_uploaded_pair_is_compared():
    rng = np.random.default_rng(2)
    w = rng.standard_normal((32, 16)).astype(np.float32)
    x = rng.standard_normal((200, 16)).astype(np.float32)
    at = open_app("methods", {"methods.source": "upload", "methods.methods": ["rtn"]})
    assert any("Upload a weight and its inputs" in i.value for i in at.info) and not at.error
    at.file_uploader(key="methods.weight_file").set_value(("w.npy", _npy(w), "application/octet-stream")).run()
    at.file_uploader(key="methods.inputs_file").set_value(("x.npy", _npy(x), "application/octet-stream")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert len(table(at)) == 1
    row = table(at).iloc[0]
    assert row["error (held-out)"] == pytest.approx(held_error(w, rtn_reference(w, 4), x), rel=1e-5)
    assert not [t for t in at.toggle if t.key == "methods.model_run"]  # no model to apply it to


def test_a_mismatched_pair_says_what_is_wrong_and_the_page_stays_alive():
    rng = np.random.default_rng(3)
    w = rng.standard_normal((32, 16)).astype(np.float32)
    at = open_app("methods", {"methods.source": "upload", "methods.methods": ["rtn"]})
    at.file_uploader(key="methods.weight_file").set_value(("w.npy", _npy(w), "application/octet-stream")).run()
    at.file_uploader(key="methods.inputs_file").set_value(
        ("x.npy", _npy(rng.standard_normal((100, 32)).astype(np.float32)), "application/octet-stream")).run()
    assert not at.exception
    msg = " ".join(e.value for e in at.error).replace("\\", "")
    assert "32 features per token" in msg and "in_features 16" in msg and "Transpose it" in msg
    evil = io.BytesIO()
    np.save(evil, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    at.file_uploader(key="methods.inputs_file").set_value(("evil.npy", evil.getvalue(), "application/octet-stream")).run()
    assert not at.exception and any("pickled" in e.value for e in at.error)
    at.file_uploader(key="methods.inputs_file").set_value(
        ("x.npy", _npy(rng.standard_normal((100, 16)).astype(np.float32)), "application/octet-stream")).run()
    assert not at.exception and not at.error and len(table(at)) == 1


def test_every_layer_of_the_digits_model_against_rtn():
    at = open_app("methods", {"methods.model": "digits_mlp", "methods.bits": "8", "methods.model_run": "true"})
    assert not at.error and not at.warning, [e.value for e in [*at.error, *at.warning]]
    t = next(d.value for d in at.dataframe if "average_bits" in d.value.columns)
    assert list(t["method"]) == list(ql.LINEAR_METHODS)  # every method has an 8-bit form
    m = ql.digits_model()
    ref = m.evaluate(ql.Quantizer("symmetric", bits=8, granularity="per_channel", axis=0))
    rtn = t.iloc[0]
    assert rtn["accuracy"] == ref["accuracy"] and rtn["agreement"] == ref["agreement"]
    assert rtn["average_bits"] == pytest.approx(8 + 32 * sum(w.shape[0] for w in m.weights.values())
                                                / sum(w.size for w in m.weights.values()))
    assert rtn["accuracy vs rtn"] == 0.0


def test_a_link_reproduces_the_view_and_hostile_values_fall_back():
    at = open_app("methods", {"methods.model": "digits_mlp", "methods.bits": "5", "methods.methods": ["rtn"],
                              "methods.weights": "asymmetric", "methods.w.asymmetric.granularity": "per_channel"})
    assert at.slider(key="methods.bits").value == 5 and at.selectbox(key="methods.weights").value == "asymmetric"
    m = ql.digits_model()
    w, x = m.weights["fc2"], m.calibration_inputs("fc2")
    q = ql.Quantizer("asymmetric", bits=5, granularity="per_channel")(w).dequantized
    assert table(at).iloc[0]["error (held-out)"] == pytest.approx(held_error(w, q, x), rel=1e-5)
    bad = open_app("methods", {"methods.model": "digits_mlp", "methods.bits": "99", "methods.methods": ["nope"],
                               "methods.source": "<script>"})
    assert not bad.exception and bad.slider(key="methods.bits").value == 4
    assert "methods.bits" not in bad.query_params


def test_downloads_the_table_and_the_figures_in_one_file(monkeypatch):
    from plotly.offline import get_plotlyjs
    from streamlit.runtime.media_file_manager import MediaFileManager

    produced = {}
    register = MediaFileManager.add_deferred

    def keep(self, fn, mimetype, coordinates, file_name=None, **kw):
        produced[file_name] = fn
        return register(self, fn, mimetype, coordinates, file_name=file_name, **kw)

    monkeypatch.setattr(MediaFileManager, "add_deferred", keep)
    at = open_app("methods", {"methods.model": "digits_mlp", "methods.methods": ["rtn"]})
    data = produced["methods.csv"]()
    got = pd.read_csv(io.BytesIO(data if isinstance(data, bytes) else data.encode()))
    assert got["heldout_error"].tolist() == pytest.approx(table(at)["error (held-out)"].tolist(), rel=1e-12)
    html = produced["methods_figures.html"]()
    assert html.count(get_plotlyjs()[:300]) == 1 and html.count("Plotly.newPlot(") == 2  # curves, per column


def test_smoothquants_alpha_slider_follows_the_papers_formula():
    """s_j = max|X_j|^α / max|W_j|^(1−α) (Xiao et al. 2023, Eq. 4), written out here: after the
    α slider moves, the view's max|x_j / s_j| and max|W_:,j s_j| are the formula's."""
    if "smoothquant" not in ql.LINEAR_METHODS:
        pytest.skip("smoothquant is not registered")
    at = open_app("methods", {"methods.model": "digits_mlp", "methods.methods": ["smoothquant"]})
    at.slider(key="methods.smoothquant.alpha_view").set_value(0.8).run()
    assert not at.exception and not at.error
    m = ql.digits_model()
    w, x = m.weights["fc2"].astype(np.float64), m.calibration_inputs("fc2").astype(np.float64)
    xm = np.abs(x[: int(round(len(x) * 0.75))]).max(axis=0)
    wm = np.abs(w).max(axis=0)
    live = (xm > 0) & (wm > 0)  # the method leaves an all-zero channel unscaled (s = 1)
    s = np.where(live, xm ** 0.8 / np.where(live, wm, 1.0) ** 0.2, 1.0)
    fig = next(c for c in charts(at) if "SmoothQuant" in c["layout"]["title"]["text"])
    from test_pages import values

    after = {t["yaxis"] if "yaxis" in t else "y": values(t["y"]) for t in fig["data"] if t["name"] == "after scaling"}
    np.testing.assert_allclose(after["y"], xm / s, rtol=1e-5)
    np.testing.assert_allclose(after["y2"], wm * s, rtol=1e-5)
    assert "α = 0.80" in fig["layout"]["title"]["text"]
