"""The Rate–distortion page under AppTest: the chart, the table, the anatomy, the block picker, downloads."""

import json

import numpy as np
import pytest
from conftest import open_app

import quantlib as ql

X = ql.synthetic("normal", 2**16, 0)  # the default data source


@pytest.fixture(scope="module")
def page():
    return open_app("rate_distortion")


def _chart(at, key="fig.rd") -> dict:
    return json.loads(next(c for c in at.get("plotly_chart") if c.proto.id.endswith(key) or key in c.proto.id).proto.spec)


def _table(at):
    return next(d.value for d in at.dataframe if "bits/element" in d.value.columns)


def test_every_registry_scheme_is_on_the_chart_with_the_engine_numbers(page):
    table = _table(page)
    expected = ql.rate_distortion(X).sort_values("bits_per_element")  # 1-8 bits, as the page's default
    assert set(table["scheme"]) == set(ql.SCHEMES)
    assert set(table.query("bits == 1")["scheme"]) >= {"asymmetric", "quantile", "lloyd_max"}
    assert "symmetric" not in set(table.query("bits == 1")["scheme"])  # its grid needs 2 bits
    got = table.set_index("label")
    for _, row in expected.iterrows():
        assert got.loc[row["label"], "mse"] == row["mse"] and got.loc[row["label"], "bits/element"] == row["bits_per_element"]
        assert bool(got.loc[row["label"], "pareto"]) == bool(row["pareto"])


def test_the_chart_has_the_points_the_front_and_the_limits(page):
    fig = _chart(page)
    names = [t.get("name") for t in fig["data"]]
    assert {s.family for s in ql.SCHEMES.values()} <= set(names)
    assert {lim.title for lim in ql.LIMITS.values()} <= set(names) and "Pareto front (★)" in names
    hover = next(t for t in fig["data"] if t.get("name") == "bitsandbytes")
    assert "nf4" in [c[0] for c in hover["customdata"]] and "%{customdata[0]}" in hover["hovertemplate"]
    assert len(page.latex) == len(ql.LIMITS)  # each limit's formula, with its sentence
    assert any("m-spacing" in m.value for m in page.markdown)


def test_anatomy_and_block_picker_of_the_default_pick(page):
    a = ql.error_anatomy(X, ql.Quantizer("nf4")(X))
    assert next(m.value for m in page.metric if m.label == "MSE") == f"{a.mse:.4g}"
    bar = _chart(page, "fig.anatomy")
    assert [t["name"] for t in bar["data"]] == ["block scale", "clipping", "rounding"]
    assert sum(t["x"][0] for t in bar["data"]) == pytest.approx(a.mse, rel=1e-9)
    block = next(d.value for d in page.dataframe if "grid value" in d.value.columns)
    assert np.array_equal(block["x"].to_numpy(), X[:64].astype(np.float64))
    assert [b.label for b in page.get("download_button")] == ["vectors .npz", "manifest .json", "points .csv",
                                                                "chart .html"]


def test_moving_the_block_picker_shows_that_block():
    at = open_app("rate_distortion", {"rd.pick": "q4_1"})
    at.number_input(key="rd.block").set_value(7).run()
    block = next(d.value for d in at.dataframe if "grid value" in d.value.columns)
    r = ql.Quantizer("q4_1")(X)
    assert block["position"].tolist() == list(range(224, 256))
    assert np.array_equal(block["x_hat"].to_numpy(), r.dequantized[224:256].astype(np.float64))


def test_a_family_choice_and_mse_axis_from_the_link():  # a radio's link value is its shown label
    at = open_app("rate_distortion", {"rd.families": ["ggml", "bitsandbytes"], "rd.metric": "MSE", "rd.pick": "q8_0"})
    assert set(_table(at)["family"]) == {"ggml", "bitsandbytes"}
    fig = _chart(at)
    assert fig["layout"]["yaxis"]["type"] == "log"
    ring = next(t for t in fig["data"] if t.get("name") == "selected")
    assert ring["y"] == [ql.Quantizer("q8_0")(X).metrics(X).mse]
    assert "Block picker" in [s.value for s in at.subheader]


def test_the_chart_is_computed_once_per_tensor_and_widths_and_families_only_filter(monkeypatch):
    from quantlib import rate

    calls = []
    real = rate.rd_chart

    def counted(*a, **k):
        if k.get("progress") is not None:  # the page's call (not the warm-up thread's, nor the test's own)
            calls.append(a[2])
        return real(*a, **k)

    monkeypatch.setattr(rate, "rd_chart", counted)
    at = open_app("rate_distortion", {"data.seed": "41", "data.size": "4096"})
    assert len(calls) == 1 and calls[0] == tuple(range(1, 9))
    at.radio(key="rd.metric").set_value("mse").run()
    at.multiselect(key="rd.families").set_value(["integer", "nvfp4"]).run()
    assert len(calls) == 1 and not at.exception
    table = _table(at)
    x = ql.synthetic("normal", 4096, 41)
    alone = ql.rate_distortion(x, ["integer", "nvfp4"])
    assert set(table["family"]) == {"integer", "nvfp4"}
    got = table.set_index("label")
    for _, row in alone.iterrows():  # the front among the shown points, as if computed for them alone
        assert bool(got.loc[row["label"], "pareto"]) == bool(row["pareto"]) and got.loc[row["label"], "mse"] == row["mse"]
    at.select_slider(key="rd.bits").set_value((2, 3)).run()
    assert len(calls) == 2 and calls[1] == (2, 3)
    assert not [p for p in at.get("progress")]  # the bar is removed once the chart is there


def test_bit_widths_control_moves_the_swept_schemes():
    at = open_app("rate_distortion", {"rd.families": ["integer"]})
    at.select_slider(key="rd.bits").set_value((3, 4)).run()
    assert not at.exception
    assert sorted(_table(at).query("scheme == 'symmetric'")["bits"]) == [3, 4]


def test_a_tensor_with_an_atom_shows_no_shannon_bound_and_says_why():
    at = open_app("rate_distortion", {"data.distribution": "relu", "rd.families": ["bitsandbytes"]})
    names = [t.get("name") for t in _chart(at)["data"]]
    assert "Shannon lower bound" not in names and ql.LIMITS["lloyd_max"].title in names
    assert any("atom" in m.value for m in at.markdown)


def test_no_family_chosen_is_a_message_not_an_error():
    at = open_app("rate_distortion")
    at.multiselect(key="rd.families").set_value([]).run()
    assert not at.exception and any("at least one family" in i.value for i in at.info)


def test_a_large_tensor_is_charted_on_a_subsample_and_dissected_on_its_head():
    at = open_app("rate_distortion", {"data.size": str(2**22), "rd.families": ["ggml"], "rd.pick": "q4_0"})
    assert any("an estimate on a sample of 262,144 of the 4,194,304" in c.value for c in at.caption)
    x = ql.synthetic("normal", 2**22, 0)
    head = x[: 2**21]
    a = ql.error_anatomy(head, ql.Quantizer("q4_0")(head))
    assert next(m.value for m in at.metric if m.label == "MSE") == f"{a.mse:.4g}"
    pts = ql.rate_distortion(x, ["ggml"])  # the engine's own default subsample, the same one
    table = _table(at).set_index("label")
    assert all(table.loc[r["label"], "MSE (sample)"] == r["mse"] for _, r in pts.iterrows())
    whole = ql.Quantizer("q4_0")(x).metrics(x).sqnr_db  # the pick's number on the whole tensor, as Explore shows it
    assert next(m.value for m in at.metric if m.label == "SQNR, whole tensor") == f"{whole:.2f} dB"
