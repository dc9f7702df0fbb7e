"""The files behind the download buttons parse back to what was shown."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import open_app

import quantlib as ql
from quantlib import export, figures

ROOT = Path(__file__).resolve().parents[1]
X = ql.synthetic("normal", 4096, 3, shape=(64, 64))
R = ql.Quantizer("asymmetric", bits=4, granularity="per_channel")(X)


def test_npy_round_trip_without_pickle():
    back = np.load(io.BytesIO(export.npy_bytes(R.codes)), allow_pickle=False)
    assert back.dtype == R.codes.dtype and np.array_equal(back, R.codes)


def test_csv_round_trip_keeps_the_matrix():
    back = np.loadtxt(io.BytesIO(export.csv_bytes(R.codes)), delimiter=",", dtype=np.int64)
    assert np.array_equal(back, R.codes)
    with pytest.raises(ValueError, match="too many for CSV"):
        export.csv_bytes(np.zeros(export.CSV_MAX_VALUES + 1, np.int8))


def test_params_json_rebuilds_the_same_params():
    doc = json.loads(export.params_json(R.params, {"scheme": R.scheme, "settings": dict(R.settings)}))
    p = ql.QuantParams(**doc["params"])
    assert np.array_equal(ql.quantize(X, p), R.codes)
    assert doc["settings"]["bits"] == 4


def test_metrics_csv():
    df = pd.read_csv(io.BytesIO(export.metrics_csv(R.metrics(X).to_dict())))
    assert np.isclose(df["sqnr_db"].item(), R.metrics(X).sqnr_db)


def test_figure_html_is_self_contained():
    html = export.figure_html(figures.codes_figure(R))
    assert html.lower().startswith("<!doctype html>") and "Plotly.newPlot" in html
    assert len(html) > 1_000_000 and '<script src="http' not in html  # plotly.js embedded: opens offline


def test_python_snippet_reproduces_the_metrics(tmp_path):
    src = {"source": "synthetic", "distribution": "normal", "size": 4096, "seed": 3, "shape": (64, 64), "options": {}}
    code = export.python_snippet(src, [("asymmetric", {"bits": 4, "granularity": "per_channel"})])
    script = tmp_path / "snippet.py"
    script.write_text(code)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True, env=env).stdout
    assert f"{R.metrics(X).sqnr_db!r}" in out


def test_pages_offer_every_download():
    at = open_app("explore")
    names = {b.proto.label for b in at.get("download_button")}
    assert {"codes .npy", "codes .csv", "params .json", "metrics .csv", "Python snippet", "figures .html"} <= names
    at.switch_page("pages/compare.py").run()
    names = {b.proto.label for b in at.get("download_button")}
    assert {"metrics .csv", "figures .html", "codes .npy", "params .json"} <= names
