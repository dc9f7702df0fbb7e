"""Downloads that agree with each other and with the page (issue 13, item 17): the snippet's
kl_divergence is metrics.csv's, the clipped share is one unit (a fraction, clip_ratio) in every
file, codes are saved in a dtype that follows their range, all figures of a page come in one
offline HTML file with one copy of plotly.js, and Learn shows its settings in words."""

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import open_app

import quantlib as ql
from quantlib import export, figures
from quantlib.params import code_dtype

ROOT = Path(__file__).resolve().parents[1]
X = ql.synthetic("normal", 2**16, 0)


@pytest.fixture
def files(monkeypatch):
    """What each deferred download button of the runs that follow would send, by file name
    (AppTest has no browser to click them; the producer is what a click runs)."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    produced = {}
    register = MediaFileManager.add_deferred

    def keep(self, fn, mimetype, coordinates, file_name=None, **kw):
        produced[file_name] = fn
        return register(self, fn, mimetype, coordinates, file_name=file_name, **kw)

    monkeypatch.setattr(MediaFileManager, "add_deferred", keep)
    return produced


def run_snippet(code: str, tmp_path: Path) -> str:
    script = tmp_path / "snippet.py"
    script.write_text(code)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True, env=env).stdout


def printed_kl(out: str) -> list[float]:
    return [float(v) for v in re.findall(r"'kl_divergence': ([-+.\deE]+|inf|nan)", out)]


def csv(data: bytes | str) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(data if isinstance(data, bytes) else data.encode()))


# --------------------------------------------------------------- KL on the same bins
def test_result_files_snippet_and_metrics_csv_give_the_same_kl_divergence(tmp_path):
    from pages import _common as ui

    r = ql.Quantizer("symmetric", bits=3)(X)
    m = r.metrics(X, num_bins=2048).to_dict()  # Explore's default: its Histogram bins control
    assert not np.isclose(m["kl_divergence"], r.metrics(X).kl_divergence)  # other bins, another KL
    source = (("source", "synthetic"), ("distribution", "normal"), ("size", 2**16), ("seed", 0), ("shape", None),
              ("options", ()))
    out = {name: produce() for _, name, produce, _ in ui.result_files("t", r, m, source, num_bins=2048)}
    table = csv(out["t_metrics.csv"])
    assert table["kl_bins"].item() == 2048
    assert printed_kl(run_snippet(out["t.py"], tmp_path)) == [table["kl_divergence"].item()] == [m["kl_divergence"]]


def test_compare_downloads_agree_on_the_kl_divergence(files, tmp_path):
    open_app("compare")
    table = csv(files["compare_metrics.csv"]())
    one = csv(files["compare_1_metrics.csv"]())
    assert one["kl_bins"].item() == 256
    kl = printed_kl(run_snippet(files["compare_1.py"](), tmp_path))
    assert kl == [one["kl_divergence"].item()]
    assert len(table) == 4


# ------------------------------------------------------------------- one clip unit
def test_the_clipped_share_is_a_fraction_named_clip_ratio_in_every_file(files):
    open_app("compare")
    table = csv(files["compare_metrics.csv"]()).set_index("configuration")
    want = ql.Quantizer("asymmetric", bits=4, calibration="mse")(X).metrics(X).clip_ratio
    assert 0 < want < 0.05 and table.loc["asymmetric · bits=4 · mse", "clip_ratio"] == want
    explore = csv(files["compare_1_metrics.csv"]())
    assert explore["clip_ratio"].item() == ql.Quantizer("symmetric")(X).metrics(X).clip_ratio
    at = open_app("toolkits", {"tk.mode": "asymmetric", "tk.calibration": "percentile"})
    tk = csv(files["toolkits_table.csv"]())
    cmp = ql.toolkits.compare_toolkits(X, symmetric=False, calibration="percentile")
    assert list(tk["clip_ratio"]) == [r.clipped for r in cmp.runs.values()] and tk["clip_ratio"].max() < 0.01
    for name in ("compare_metrics.csv", "compare_1_metrics.csv", "toolkits_table.csv"):
        frame = csv(files[name]())
        assert not [c for c in frame.columns if "%" in c], name  # no percent column beside a fraction
    assert not at.exception


# ------------------------------------------------------------- codes in their dtype
@pytest.mark.parametrize("qmin, qmax, dtype", [
    (0, 15, np.uint8), (0, 255, np.uint8), (-8, 7, np.int8), (-128, 127, np.int8), (0, 4095, np.uint16),
    (-2048, 2047, np.int16), (0, 65535, np.uint16), (-32768, 32767, np.int16),
], ids=["uint4", "uint8", "int4", "int8", "uint12", "int12", "uint16", "int16"])
def test_code_dtype_is_unsigned_for_unsigned_codes(qmin, qmax, dtype):
    assert code_dtype(qmin, qmax) == np.dtype(dtype)


@pytest.mark.parametrize("scheme, settings, dtype", [
    ("asymmetric", {"bits": 4}, np.uint8), ("asymmetric", {"bits": 8}, np.uint8), ("symmetric", {"bits": 4}, np.int8),
    ("histogram", {"num_bins": 16}, np.uint8), ("lloyd_max", {"bits": 4}, np.uint8),
], ids=["uint4", "uint8", "int4", "histogram-16", "lloyd-max-4"])
def test_saved_codes_follow_the_code_range(scheme, settings, dtype):
    r = ql.Quantizer(scheme, **settings)(X)
    back = np.load(io.BytesIO(export.npy_bytes(r.codes)), allow_pickle=False)
    assert back.dtype == np.dtype(dtype) and np.array_equal(back, r.codes)
    if r.params is not None:
        assert np.array_equal(ql.quantize(X, r.params).astype(np.int64), back.astype(np.int64))


def test_compare_saves_unsigned_4_bit_codes_as_uint8(files):
    at = open_app("compare")
    at.selectbox(key="compare.pick").set_value("asymmetric · bits=4 · mse").run()
    back = np.load(io.BytesIO(files["compare_3_codes.npy"]()), allow_pickle=False)
    assert back.dtype == np.uint8 and back.min() == 0 and back.max() == 15


# ------------------------------------------------------------- one offline HTML file
def test_figures_html_holds_every_figure_and_one_plotly_js():
    from plotly.offline import get_plotlyjs

    r = ql.Quantizer("asymmetric", bits=4)(X)
    figs = {"codes": figures.codes_figure(r), "transfer": figures.transfer_figure(X, r),
            "error <&>": figures.error_figure(X, r)}
    html = export.figures_html(figs, "Explore")
    js = get_plotlyjs()
    assert html.count(js[:300]) == 1 and html.count(js[-300:]) == 1  # the library once, whole
    assert html.count("Plotly.newPlot(") == 3 and '<script src="http' not in html
    assert all(f"<h2>{n}</h2>" in html for n in ("codes", "transfer")) and "<h2>error &lt;&amp;&gt;</h2>" in html
    assert len(html) < len(js) + 2_000_000 < 3 * len(js)  # three separate files would hold it three times
    with pytest.raises(ValueError, match="at least one figure"):
        export.figures_html({})


def test_compare_offers_its_figures_in_one_file(files):
    from plotly.offline import get_plotlyjs

    at = open_app("compare")
    html = files["compare_figures.html"]()
    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]

    assert html.count(get_plotlyjs()[:300]) == 1 and html.count("Plotly.newPlot(") == len(titles) == 3
    assert all(t.replace("/", "\\u002f") in html for t in titles)  # plotly's JSON escapes "/" in HTML
    assert not [b for b in at.get("download_button") if b.proto.label.endswith(".html") and b.proto.label != "figures .html"]


def test_formats_and_toolkits_offer_their_figures_in_one_file(files):
    from plotly.offline import get_plotlyjs

    for page, name, n in (("formats", "formats_fp8_e4m3fn_figures.html", 3), ("toolkits", "toolkits_figures.html", 1)):
        open_app(page)
        html = files[name]()
        assert html.count(get_plotlyjs()[:300]) == 1 and html.count("Plotly.newPlot(") == n, page


# ------------------------------------------------------------------------ Learn
def test_learn_shows_the_methods_settings_in_words():
    at = open_app("learn")
    at.radio(key="learn.part").set_value("methods").run()
    captions = [c.value.replace("\\", "") for c in at.caption if "Settings" in c.value]
    assert len(captions) == 1 and "{" not in captions[0], captions  # not "Settings: {'bits': 3}"
    assert "bits = 3" in captions[0] and "symmetric · bits=3 · minmax" in captions[0]
