"""Every page, driven through streamlit.testing.v1.AppTest: controls move, what is shown follows."""

import json
import re

import numpy as np
import pytest
from conftest import open_app

import quantlib as ql

X = ql.synthetic("normal", 2**16, 0)  # the default data source


def explore(**query):
    return open_app("explore", query)


def compare(**query):
    return open_app("compare", query)


def shown(el) -> str:
    """An element's text as the reader sees it (user-supplied text is Markdown-escaped)."""
    return re.sub(r"\\(.)", r"\1", el.value)


def metric(at, label) -> str:
    return next(m.value for m in at.metric if m.label == label)


def sqnr(at) -> float:
    return float(metric(at, "SQNR").split()[0])


# ----------------------------------------------------------------------- Explore
def test_explore_default_view_shows_real_numbers_and_all_figures():
    at = open_app("explore", settle=False)
    expected = ql.Quantizer("symmetric", num_bins=2048)(X).metrics(X)
    assert metric(at, "SQNR") == f"{expected.sqnr_db:.2f} dB"
    assert metric(at, "MSE") == f"{expected.mse:.3g}"
    # a session's first run draws the main view; the formulas and error curves follow in the next
    # run, which the browser asks for a second later (AppTest runs no browser timers: run again)
    assert len(at.get("plotly_chart")) == 4 and any("follow" in c.value for c in at.caption) and not at.latex
    at.run()
    assert len(at.get("plotly_chart")) == 6  # 4 views + 2 error curves
    assert len(at.latex) == 2
    assert metric(at, "SQNR") == f"{expected.sqnr_db:.2f} dB"


def test_fewer_bits_lower_sqnr_and_delta_is_shown():
    at = explore()
    at8 = sqnr(at)
    at.slider(key="symmetric.bits").set_value(4).run()
    assert sqnr(at) < at8 - 20
    sqnr_card = next(m for m in at.metric if m.label == "SQNR")
    assert sqnr_card.delta.startswith("-")


@pytest.mark.parametrize("key, value", [
    ("symmetric.calibration", "percentile"), ("symmetric.calibration", "entropy"), ("symmetric.calibration", "mse"),
    ("symmetric.calibration", "l2_histogram"), ("symmetric.rounding", "floor"), ("symmetric.convention", "pytorch"),
    ("symmetric.convention", "onnxruntime"), ("symmetric.convention", "tensorrt"),
])
def test_selectbox_controls_change_the_result(key, value):
    at = explore()
    before = metric(at, "MSE")
    at.selectbox(key=key).set_value(value).run()
    assert not at.exception and not at.error
    expected = ql.Quantizer("symmetric", num_bins=2048, **{key.split(".")[1]: value})(X).metrics(X)
    assert metric(at, "MSE") == f"{expected.mse:.3g}"
    if value != "pytorch":  # pytorch's amax/127.5 is a hair away from amax/127
        assert metric(at, "MSE") != before or key.endswith("convention")


def test_bins_control_drives_the_histogram_scheme():
    at = explore(scheme="histogram")
    at.slider(key="bins").set_value(16).run()
    expected = ql.Quantizer("histogram", num_bins=16)(X).metrics(X)
    assert metric(at, "SQNR") == f"{expected.sqnr_db:.2f} dB"


def test_per_channel_needs_a_matrix_and_then_helps():
    at = explore()
    at.selectbox(key="symmetric.granularity").set_value("per_channel").run()
    assert "at least 2 dimensions" in shown(at.error[0]) and not at.exception
    at.radio(key="data.layout").set_value("matrix").run()
    assert not at.error
    w = X.reshape(256, 256)
    assert metric(at, "SQNR") == f"{ql.Quantizer('symmetric', num_bins=2048, granularity='per_channel')(w).metrics(w).sqnr_db:.2f} dB"


def test_data_source_controls():
    at = explore()
    at.selectbox(key="data.distribution").set_value("normal_with_outliers").run()
    at.number_input(key="data.outlier_scale").set_value(100.0).run()
    at.select_slider(key="data.size").set_value(2**12).run()
    at.number_input(key="data.seed").set_value(7).run()
    x = ql.synthetic("normal_with_outliers", 2**12, 7, outlier_scale=100.0)
    assert metric(at, "SQNR") == f"{ql.Quantizer('symmetric', num_bins=2048)(x).metrics(x).sqnr_db:.2f} dB"
    at.radio(key="data.source").set_value("sample").run()
    b = ql.sample_tensors()["blog_example"]
    assert metric(at, "SQNR") == f"{ql.Quantizer('symmetric', num_bins=2048)(b).metrics(b).sqnr_db:.2f} dB"


def test_manual_mode_prefills_calibrated_values_and_rejects_bad_ones():
    at = explore()
    at.toggle(key="symmetric.manual").set_value(True).run()
    p = ql.Quantizer("symmetric", num_bins=2048)(X).params
    assert at.number_input(key="symmetric.scale").value == p.scale
    assert at.number_input(key="symmetric.zero_point").value == p.zero_point
    at.number_input(key="symmetric.scale").set_value(-1.0).run()
    assert "scale must be finite and > 0" in shown(at.error[0]) and not at.exception
    at.number_input(key="symmetric.scale").set_value(0.05).run()
    at.number_input(key="symmetric.zero_point").set_value(500).run()
    assert "zero_point must be within [qmin, qmax] = [-128, 127]" in shown(at.error[0])
    at.number_input(key="symmetric.zero_point").set_value(0).run()
    assert not at.error
    manual = ql.Quantizer("symmetric", scale=0.05, zero_point=0)(X).metrics(X)
    assert metric(at, "SQNR") == f"{manual.sqnr_db:.2f} dB"


def test_every_scheme_renders_on_explore():
    at = explore()
    for name in ql.SCHEMES:
        at.selectbox(key="scheme").set_value(name).run()
        assert not at.exception and not at.error, name
        assert len(at.get("plotly_chart")) >= 5


def test_a_link_reproduces_the_view_made_with_the_controls():
    """The browser writes each control's value into the link (tests/test_browser.py checks that);
    here: a link with those values opens the same view the controls made."""
    at = explore()
    at.selectbox(key="scheme").set_value("asymmetric").run()
    at.slider(key="asymmetric.bits").set_value(5).run()
    at.selectbox(key="asymmetric.calibration").set_value("mse").run()
    again = explore(**{"scheme": "asymmetric", "asymmetric.bits": "5", "asymmetric.calibration": "mse"})
    assert metric(again, "SQNR") == metric(at, "SQNR")
    assert again.slider(key="asymmetric.bits").value == 5
    assert again.selectbox(key="asymmetric.calibration").value == "mse"
    assert dict(again.query_params) == {"scheme": "asymmetric", "asymmetric.bits": "5", "asymmetric.calibration": "mse"}


HOSTILE = [
    ("scheme", "<script>alert(1)</script>", "symmetric"), ("symmetric.bits", "99", 8), ("symmetric.bits", "eight", 8),
    ("bins", "-5", 2048), ("data.size", "1e12", 2**16), ("data.seed", "' OR 1=1", 0), ("data.seed", "-1", 0),
    ("data.distribution", "../../etc/passwd", "normal"),
]


@pytest.mark.parametrize("key, value, default", HOSTILE,
                         ids=["script-scheme", "bits-range", "bits-text", "bins-negative", "size-huge", "sql",
                              "seed-negative", "path"])
def test_hostile_link_values_are_refused_and_the_default_view_shown(key, value, default):
    """Streamlit drops a link value its widget would not accept, without a message (README, The app)."""
    at = explore(**{key: value})
    widget = next(w for w in [*at.selectbox, *at.slider, *at.select_slider, *at.number_input] if w.key == key)
    assert widget.value == default
    assert key not in at.query_params  # removed from the link
    assert not at.warning and not at.error
    expected = ql.Quantizer("symmetric", num_bins=2048)(X).metrics(X)
    assert metric(at, "SQNR") == f"{expected.sqnr_db:.2f} dB"


def test_a_non_finite_setting_in_a_link_is_refused():
    at = explore(**{"symmetric.calibration": "percentile", "symmetric.percentile": "nan"})
    assert at.number_input(key="symmetric.percentile").value == ql.SCHEMES["symmetric"].setting("percentile").default
    assert "symmetric.percentile" not in at.query_params and at.query_params["symmetric.calibration"] == "percentile"
    assert not at.error


def test_a_value_survives_page_switches_and_is_in_each_pages_link():
    """The data source is one value across the app; a page's own controls come back with it."""
    at = explore()
    at.selectbox(key="data.distribution").set_value("laplace").run()
    at.slider(key="symmetric.bits").set_value(5).run()
    for page in ["compare", "formats", "learn", "toolkits", "explore"]:
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception, (page, at.exception)
        assert at.selectbox(key="data.distribution").value == "laplace", page
        # the server writes a kept value into the page's link when the widget is drawn again (the
        # browser's own link writing, for a value just chosen, is checked in tests/test_browser.py)
        at.run()
        assert at.query_params["data.distribution"] == "laplace", page
    assert at.slider(key="symmetric.bits").value == 5 and at.query_params["symmetric.bits"] == "5"
    x = ql.synthetic("laplace", 2**16, 0)
    assert metric(at, "SQNR") == f"{ql.Quantizer('symmetric', bits=5, num_bins=2048)(x).metrics(x).sqnr_db:.2f} dB"


def test_curve_metric_selector():
    at = explore()
    at.selectbox(key="curve_metric").set_value("mse").run()
    assert not at.exception
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert "mse vs bits" in titles and "mse vs clipping threshold" in titles


# ----------------------------------------------------------------------- Compare
def test_compare_ranks_the_default_configurations():
    at = compare()
    table = at.dataframe[0].value
    assert list(table["bits/element"].round(2)) == sorted(table["bits/element"].round(2))  # cheapest first
    expected = ql.Quantizer("asymmetric", bits=4, calibration="mse")(X).metrics(X).sqnr_db
    row = table[table["configuration"] == "asymmetric · bits=4 · mse"]
    assert np.isclose(row["SQNR dB"].item(), expected)
    assert len(at.get("plotly_chart")) == 3  # the Pareto view, the small multiples, the bits curve


def test_compare_add_and_remove():
    at = compare()
    n = len(at.dataframe[0].value)
    at.selectbox(key="add.scheme").set_value("fixed_point").run()
    at.slider(key="add.fixed_point.frac_bits").set_value(6).run()
    next(b for b in at.button if b.label == "Add").click().run()
    table = at.dataframe[0].value
    assert len(table) == n + 1 and "fixed_point · int_bits=3 · frac_bits=6" in set(table["configuration"])
    at.button(key="remove.0").click().run()
    assert len(at.dataframe[0].value) == n


def test_compare_url_round_trip_and_bad_configs():
    cfg = json.dumps([["symmetric", {"bits": 3}], ["histogram", {"num_bins": 8}]])
    at = compare(configs=cfg)
    assert set(at.dataframe[0].value["configuration"]) == {"symmetric · bits=3 · minmax", "histogram · num_bins=8"}
    assert json.loads(at.query_params["configs"]) == json.loads(cfg)
    next(b for b in at.button if b.label == "Add").click().run()  # the page writes its configurations to the link
    assert [s for s, _ in json.loads(at.query_params["configs"])] == ["symmetric", "histogram", "symmetric"]
    bad = compare(configs=json.dumps([["symmetric", {"bits": 99}]]))
    assert any("ignored" in shown(w) for w in bad.warning)
    assert len(bad.dataframe[0].value) == 4


def test_compare_shows_an_error_for_a_config_that_cannot_apply_and_keeps_the_rest():
    cfg = json.dumps([["symmetric", {"granularity": "per_channel"}], ["symmetric", {}]])
    at = compare(configs=cfg)
    assert any("at least 2 dimensions" in shown(e) for e in at.error)
    assert len(at.dataframe[0].value) == 1


# ------------------------------------------------------------------------ Uploads
def _npy(a) -> bytes:
    import io

    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()


def test_upload_of_a_good_file_is_quantized_with_its_shape():
    w = np.random.default_rng(1).standard_normal((16, 32)).astype(np.float32)
    at = explore(**{"data.source": "upload"})
    assert any("Upload a tensor file" in i.value for i in at.info)
    at.file_uploader(key="data.file").set_value(("weights.npy", _npy(w), "application/octet-stream")).run()
    assert not at.exception and not at.error
    assert metric(at, "SQNR") == f"{ql.Quantizer('symmetric', num_bins=2048)(w).metrics(w).sqnr_db:.2f} dB"
    assert any("shape 16 × 32" in c.value for c in at.caption)
    at.selectbox(key="symmetric.granularity").set_value("per_channel").run()  # 2-D kept: per-channel works
    assert not at.error
    assert metric(at, "SQNR") == f"{ql.Quantizer('symmetric', num_bins=2048, granularity='per_channel')(w).metrics(w).sqnr_db:.2f} dB"


def test_upload_of_a_bad_file_shows_why_and_the_app_stays_alive():
    at = explore(**{"data.source": "upload"})
    import io

    b = io.BytesIO()
    np.save(b, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    at.file_uploader(key="data.file").set_value(("evil.npy", b.getvalue(), "application/octet-stream")).run()
    assert not at.exception
    assert "evil.npy: array: holds Python objects (a pickled array); refused" in shown(at.error[0])
    at.radio(key="data.source").set_value("synthetic").run()
    assert not at.error and metric(at, "SQNR")


def test_multi_tensor_upload_has_a_tensor_picker():
    import io

    b = io.BytesIO()
    np.savez(b, first=np.arange(10, dtype=np.float32), second=np.linspace(-1, 1, 64, dtype=np.float32))
    at = explore(**{"data.source": "upload"})
    at.file_uploader(key="data.file").set_value(("two.npz", b.getvalue(), "application/zip")).run()
    at.selectbox(key="data.upload_tensor").set_value("second").run()
    x = np.linspace(-1, 1, 64, dtype=np.float32)
    assert metric(at, "SQNR") == f"{ql.Quantizer('symmetric', num_bins=2048)(x).metrics(x).sqnr_db:.2f} dB"


def test_shipped_real_tensors_are_listed():
    at = explore(**{"data.source": "sample"})
    options = at.selectbox(key="data.sample").options
    assert "minilm_l6_weights/encoder.layer.0.intermediate.dense.weight" in options
    assert "digits_mlp/act.fc1" in options
    at.selectbox(key="data.sample").set_value("minilm_l6_weights/encoder.layer.0.intermediate.dense.weight").run()
    w = ql.sample_tensors()["minilm_l6_weights/encoder.layer.0.intermediate.dense.weight"]
    assert w.shape == (1536, 384)
    assert metric(at, "SQNR") == f"{ql.Quantizer('symmetric', num_bins=2048)(w).metrics(w).sqnr_db:.2f} dB"


def test_every_registry_scheme_works_on_compare():
    names = sorted(ql.SCHEMES)
    for i in range(0, len(names), 10):
        chunk = names[i : i + 10]
        at = compare(configs=json.dumps([[n, {}] for n in chunk]))
        assert not at.error, [shown(e) for e in at.error]
        assert set(at.dataframe[0].value["scheme"]) == set(chunk)


def test_hostile_file_name_is_shown_as_text():
    at = explore(**{"data.source": "upload"})
    name = "[click](javascript:alert(1))**bold**<b>x</b>.npy"
    at.file_uploader(key="data.file").set_value((name, b"not a numpy file", "application/octet-stream")).run()
    assert not at.exception
    raw = at.error[0].value
    assert "\\[click\\]\\(javascript" in raw and "\\<b\\>" in raw  # every Markdown character escaped
    assert shown(at.error[0]).startswith(name + ": ")
