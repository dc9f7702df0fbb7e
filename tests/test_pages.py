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


def chart_title(chart) -> str:
    """A chart's title, or its panels' titles (Explore's views and error curves), joined by " | "."""
    lay = json.loads(chart.proto.spec)["layout"]
    if "title" in lay:
        return lay["title"]["text"]
    return " | ".join(a["text"].removeprefix("<b>").removesuffix("</b>") for a in lay["annotations"] if "name" in a)


def metric(at, label) -> str:
    return next(m.value for m in at.metric if m.label == label)


def sqnr(at) -> float:
    return float(metric(at, "SQNR").split()[0])


# ----------------------------------------------------------------------- Explore
def test_explore_default_view_shows_real_numbers_and_all_figures():
    at = open_app("explore")
    expected = ql.Quantizer("symmetric", num_bins=2048)(X).metrics(X)
    assert metric(at, "SQNR") == f"{expected.sqnr_db:.2f} dB"
    assert metric(at, "MSE") == f"{expected.mse:.3g}"
    # one run draws the whole page: no follow-up run of the server's own (it raced page links)
    assert len(at.get("plotly_chart")) == 2  # the 4 views, the 2 error curves: each one figure of panels
    assert not any("follow" in c.value for c in at.caption)
    assert len(at.latex) == 3  # the formula, then the live map one line per part: q = …, x̂ = s·q
    assert [e.value.count(r"\quad") for e in at.latex[1:]] == [0, 0]
    at.run()  # a later run draws the same elements (the cards first)
    assert len(at.get("plotly_chart")) == 2 and len(at.latex) == 3
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


def test_bins_control_drives_the_histogram_scheme_and_plot_bins_only_the_plots():
    at = explore(scheme="histogram")
    at.number_input(key="histogram.num_bins").set_value(16).run()
    expected = ql.Quantizer("histogram", num_bins=16)(X).metrics(X)
    assert metric(at, "SQNR") == f"{expected.sqnr_db:.2f} dB"
    before = metric(at, "SQNR")
    at.select_slider(key="plot_bins").set_value(64).run()
    assert metric(at, "SQNR") == before
    titles = [a["text"] for a in json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]["annotations"]]
    assert any(t.startswith("<b>Original vs dequantized (64 bins") for t in titles), titles


def test_per_channel_needs_a_matrix_and_then_helps():
    at = explore()
    at.selectbox(key="symmetric.granularity").set_value("per_channel").run()
    assert "needs a tensor with 2 or more dimensions" in shown(at.error[0]) and not at.exception
    assert "Layout = matrix" in shown(at.warning[0])  # said at the control, with what to do
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


def test_manual_mode_prefills_calibrated_values_within_their_bounds():
    at = explore()
    at.toggle(key="symmetric.manual").set_value(True).run()
    p = ql.Quantizer("symmetric", num_bins=2048)(X).params
    assert at.number_input(key="symmetric.scale").value == p.scale
    assert at.number_input(key="symmetric.scale").min > 0  # a scale of 0 cannot be typed
    # a symmetric grid fixes its zero-point: no input for it, a caption that says so
    assert "symmetric.zero_point" not in [w.key for w in at.number_input]
    assert any("fixed by the symmetric grid" in c.value for c in at.caption)
    at.number_input(key="symmetric.scale").set_value(0.05).run()
    manual = ql.Quantizer("symmetric", scale=0.05)(X).metrics(X)
    assert metric(at, "SQNR") == f"{manual.sqnr_db:.2f} dB" and not at.error
    # asymmetric: the zero-point input offers exactly the code range
    at.selectbox(key="scheme").set_value("asymmetric").run()
    at.toggle(key="asymmetric.manual").set_value(True).run()
    a = ql.Quantizer("asymmetric")(X).params
    zp = at.number_input(key="asymmetric.zero_point")
    assert (zp.value, zp.min, zp.max) == (a.zero_point, a.qmin, a.qmax) == (zp.value, 0, 255)
    zp.set_value(3).run()
    assert metric(at, "SQNR") == f"{ql.Quantizer('asymmetric', scale=float(a.scale), zero_point=3)(X).metrics(X).sqnr_db:.2f} dB"
    # manual in per-channel is not offered (one scale per channel); back per-tensor, the values are kept
    at.selectbox(key="asymmetric.granularity").set_value("per_group").run()
    assert "asymmetric.manual" not in [t.key for t in at.toggle] and not at.error
    at.selectbox(key="asymmetric.granularity").set_value("per_tensor").run()
    assert at.number_input(key="asymmetric.zero_point").value == 3


def test_a_symmetric_scheme_refuses_a_zero_point_off_its_grid():
    with pytest.raises(ValueError, match="zero_point=3 does not fit a symmetric grid, whose zero-point is 0"):
        ql.Quantizer("symmetric", scale=0.05, zero_point=3)(X)
    ql.Quantizer("symmetric", scale=0.05, zero_point=0)(X)  # its own zero-point is fine


def test_controls_appear_only_where_they_act():
    at = explore(**{"data.layout": "matrix"})
    keys = lambda: {w.key for w in [*at.selectbox, *at.slider, *at.number_input, *at.select_slider]}  # noqa: E731
    assert not {"symmetric.percentile", "symmetric.num_bins", "symmetric.axis", "symmetric.group_size",
                "symmetric.seed"} & keys()
    at.selectbox(key="symmetric.calibration").set_value("percentile").run()
    assert {"symmetric.percentile", "symmetric.num_bins"} <= keys()
    at.selectbox(key="symmetric.granularity").set_value("per_group").run()
    assert {"symmetric.axis", "symmetric.group_size"} <= keys()
    assert (at.slider(key="symmetric.axis").min, at.slider(key="symmetric.axis").max) == (-2, 1)  # a 2-d tensor
    at.selectbox(key="symmetric.rounding").set_value("stochastic").run()
    assert "symmetric.seed" in keys()
    at.radio(key="data.layout").set_value("vector").run()
    assert "symmetric.axis" not in keys()  # no axis to choose on a vector


def test_every_scheme_renders_on_explore():
    at = explore()
    for name in ql.SCHEMES:
        at.selectbox(key="scheme").set_value(name).run()
        assert not at.exception and not at.error, name
        assert len(at.get("plotly_chart")) >= 2  # the views; the error curves (one figure when both apply)


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
    ("plot_bins", "-5", 128), ("data.size", "1e12", 2**16), ("data.seed", "' OR 1=1", 0), ("data.seed", "-1", 0),
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
    titles = [chart_title(c) for c in at.get("plotly_chart")]
    assert "MSE vs bits per element | MSE vs clipping threshold" in titles  # the two panels of one chart
    at.selectbox(key="curve_metric").set_value("sqnr_db").run()
    titles = [chart_title(c) for c in at.get("plotly_chart")]
    assert any("SQNR (dB) vs bits per element" in t for t in titles)


def test_metric_cards_explain_their_metric_in_words_and_a_formula():
    """The help of a card was its field name ("sqnr_db; the delta is …")."""
    at = explore()
    card = next(m for m in at.metric if m.label == "SQNR")
    assert card.proto.help.startswith("Signal-to-quantization-noise ratio") and r"\log_{10}" in card.proto.help
    assert "sqnr_db" not in card.proto.help


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
    raw = at.sidebar.error[0].value
    assert "\\[click\\]\\(javascript" in raw and "\\<b\\>" in raw  # every Markdown character escaped
    assert shown(at.sidebar.error[0]).startswith(name + ": ")
    main = [e for e in at.main.error if "could not be read" in e.value]  # said where the charts would be, too
    assert main and "\\[click\\]" in main[0].value


# ------------------------------------------------------------ the app as a person uses it
PAGES = ["compare", "formats", "learn", "toolkits", "explore"]


def values(v) -> list:
    """A Plotly JSON array as a list: plain, or the base64 ``{"dtype", "bdata"}`` form."""
    if isinstance(v, dict) and "bdata" in v:
        import base64

        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).tolist()
    return list(v)


def test_a_data_source_changed_in_the_panel_follows_to_every_page():
    at = explore()
    at.selectbox(key="data.distribution").set_value("laplace").run()
    at.select_slider(key="data.size").set_value(2**18).run()
    for page in PAGES:
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception, (page, at.exception)
        assert at.selectbox(key="data.distribution").value == "laplace", page
        assert at.select_slider(key="data.size").value == 2**18, page
    x = ql.synthetic("laplace", 2**18, 0)
    assert metric(at, "SQNR") == f"{ql.Quantizer('symmetric')(x).metrics(x).sqnr_db:.2f} dB"


def test_an_uploaded_file_follows_to_every_page_until_replaced():
    at = explore(**{"data.source": "upload"})
    w = np.random.default_rng(4).standard_normal((48, 40)).astype(np.float32)
    at.file_uploader(key="data.file").set_value(("layer.npy", _npy(w), "application/octet-stream")).run()
    expected = f"{ql.Quantizer('symmetric')(w).metrics(w).sqnr_db:.2f} dB"
    assert metric(at, "SQNR") == expected
    for page in PAGES:
        at.switch_page(f"pages/{page}.py").run()
        at.run()  # the run a browser makes when the page's link is written (see test_a_value_survives_page_switches…)
        assert not at.exception and not at.error, (page, [shown(e) for e in at.error])
        assert at.radio(key="data.source").value == "upload", page
        assert any("layer.npy" in shown(c) for c in at.sidebar.caption), page  # "Using layer.npy, uploaded …"
        assert any("48 × 40" in c.value for c in at.sidebar.caption), page
    assert metric(at, "SQNR") == expected
    at.switch_page("pages/compare.py").run()
    at.run()
    table = at.dataframe[0].value
    sym = table[table["scheme"] == "symmetric"].iloc[0]
    assert f"{sym['SQNR dB']:.2f} dB" == expected


def test_before_an_upload_the_main_area_says_what_to_do():
    at = explore(**{"data.source": "upload"})
    text = " ".join(i.value for i in at.main.info)
    assert "Upload a tensor file" in text and ".safetensors" in text and "synthetic" in text
    assert not at.get("plotly_chart")


def test_deltas_compare_settings_on_the_same_tensor_and_only_real_changes():
    at = explore()
    card = lambda label: next(m for m in at.metric if m.label == label)  # noqa: E731
    assert not card("SQNR").delta  # nothing to compare with yet
    at.slider(key="symmetric.bits").set_value(6).run()
    assert card("SQNR").delta.startswith("-")
    assert not card("clipped").delta  # min-max clips nothing at 8 or 6 bits: no "+0.000 %"
    at.number_input(key="data.seed").set_value(3).run()  # another tensor: no delta across tensors
    assert not any(m.delta for m in at.metric)
    at.select_slider(key="plot_bins").set_value(256).run()  # a plot control changes no number
    assert not any(m.delta for m in at.metric)


def test_fixed_width_formats_are_points_on_the_bits_curves():
    at = explore(scheme="nf4")
    bits = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
                if "vs bits per element" in chart_title(c))
    by_name = {t["name"]: t for t in bits["data"]}
    family = by_name["bitsandbytes formats"]
    assert family["mode"].startswith("markers") and set(values(family["x"])) == {4.5}  # nf4 and fp4_bnb, both 4.5
    assert values(by_name["current: nf4"]["x"]) == [4.5]
    cmp = compare(configs=json.dumps([["nf4", {}], ["symmetric", {"bits": 4}]]))
    spec = next(json.loads(c.proto.spec) for c in cmp.get("plotly_chart")
                if "bits per element" in chart_title(c))
    names = [t["name"] for t in spec["data"]]
    assert "bitsandbytes formats" in names and names.count("6.02 dB per bit") == 1
    line = next(t for t in spec["data"] if t["name"] == "symmetric · minmax")  # the bit width is what the line varies
    assert line["mode"] == "lines+markers" and len(values(line["x"])) == 15  # the swept configuration: 2 .. 16 bits


def test_threshold_curve_marks_the_calibrator_in_use_and_follows_the_percentile():
    at = explore(**{"symmetric.calibration": "percentile", "symmetric.percentile": "99.0"})
    thr = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
               if "clipping threshold" in chart_title(c))
    used = [t for t in thr["data"] if t["name"].endswith("(in use)")]
    assert [t["name"] for t in used] == ["percentile (in use)"]
    lo, hi = ql.calibrate(ql.sweeps.subsample(X, 2**16), "percentile", bits=8, percentile=99.0, num_bins=2048)
    assert values(used[0]["x"])[0] == pytest.approx(max(abs(float(lo)), abs(float(hi))))
    m = explore(**{"data.layout": "matrix", "symmetric.granularity": "per_channel"})
    title = next(chart_title(c) for c in m.get("plotly_chart")
                 if "clipping threshold" in chart_title(c))
    assert "one range per channel" in title  # says the sweep is per-tensor while the setting is not


def test_long_live_formulas_are_split_into_lines():
    at = explore(scheme="asymmetric")
    assert len(at.latex) >= 3 and all(len(e.value) < 200 for e in at.latex[1:])


def test_an_upload_says_how_its_file_stores_each_tensor():
    """A float16 checkpoint's tensors are labelled as stored (they were called "float32"), and one stored
    in a ggml block type says that every error is measured against its dequantized values."""
    from safetensors.numpy import save as save_safetensors

    w = (np.random.default_rng(4).standard_normal((32, 64)) * 0.02).astype(np.float16)
    at = explore(**{"data.source": "upload"})
    data = save_safetensors({"model.layers.0.mlp.up_proj.weight": w})
    at.file_uploader(key="data.file").set_value(("llama.safetensors", data, "application/octet-stream")).run()
    assert not at.exception and not at.error
    assert any("stored as F16, read exactly as float32" in c.value for c in at.sidebar.caption)
    assert not any("was stored as" in i.value for i in at.info)

    from quantlib.gguf_file import gguf_bytes

    x = np.random.default_rng(5).standard_normal((8, 64)).astype(np.float32)
    gguf = gguf_bytes(ql.Quantizer("q4_0")(x), "blk.0.ffn_up.weight")
    at = explore(**{"data.source": "upload"})
    at.file_uploader(key="data.file").set_value(("model.gguf", gguf, "application/octet-stream")).run()
    assert not at.exception and not at.error
    assert any("stored as Q4_0, dequantized to float32" in c.value for c in at.sidebar.caption)
    assert any("This tensor was stored as Q4_0" in i.value and "`q4_0` again" in i.value for i in at.info)


def test_engine_warm_up_waits_while_a_page_runs():
    # the server's warm-up (pages/_common._warm_engine) takes a step only once no page has run for a while
    import threading

    from pages import _common as ui

    done = threading.Event()
    page = threading.Thread(target=done.wait, name=ui._SCRIPT_THREAD)
    page.start()
    threading.Timer(0.3, done.set).start()
    ui._quiet(seconds=0.05, poll=0.01)
    assert not page.is_alive()


def test_explores_curves_on_a_large_tensor_say_they_are_an_estimate():
    at = explore(**{"data.size": str(2**20), "data.layout": "matrix", "symmetric.granularity": "per_channel"})
    assert not at.exception and not at.warning  # per-channel keeps its curve on a 1 M matrix (whole rows sampled)
    assert any("An estimate on 262,144 of the tensor's 1,048,576 values" in c.value for c in at.caption)
    small = explore()
    assert not any("An estimate on" in c.value for c in small.caption)
