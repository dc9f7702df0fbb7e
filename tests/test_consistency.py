"""One configuration, one number (issue 25): the same configuration on the same tensor shows the same
SQNR on Explore's cards, Compare's table, Formats' table, Toolkits' rows and Rate–distortion's points, each equal to
``Quantizer(...)(x).metrics(x)`` on the whole tensor; where Rate–distortion must estimate on a sample
(a tensor above 262,144 values), its columns say "(sample)" and the picked configuration's whole-tensor
number stands beside it. Tensors as they come: a weight with an outlier input column (below and above
the sample size, the second a matrix whose per-channel curve the flat sample broke), a float16 grid,
heavy tails. Uploaded as files, as a person would."""

import io
import json

import numpy as np
import pytest
from conftest import open_app

import quantlib as ql

pytestmark = pytest.mark.slow  # every page on four tensors: about a minute


def _outliers(rows: int, cols: int = 512) -> np.ndarray:
    w = (np.random.default_rng(rows).standard_normal((rows, cols)) * 0.02).astype(np.float32)
    w[:, 7] *= 50
    return w


TENSORS = {
    "outlier-column-256x512": _outliers(256),
    "outlier-column-1024x512": _outliers(1024),
    "float16-grid": (np.random.default_rng(3).standard_normal((128, 512)) * 0.02).astype(np.float16),
    "student-t": np.random.default_rng(4).standard_t(3, 2**16).astype(np.float32),
}
CONFIGS = [("symmetric", {}), ("asymmetric", {"bits": 4}), ("symmetric", {"bits": 4, "granularity": "per_channel"}),
           ("q4_0", {}), ("nf4", {})]


def _npy(a: np.ndarray) -> bytes:
    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()


def _upload(page: str, name: str, query: dict | None = None):
    at = open_app(page, {"data.source": "upload", **(query or {})})
    at.file_uploader(key="data.file").set_value((f"{name}.npy", _npy(TENSORS[name]), "application/octet-stream")).run()
    assert not at.exception
    return at


def _whole(name: str, scheme: str, settings: dict) -> float:
    x = TENSORS[name].astype(np.float32)
    return ql.Quantizer(scheme, **settings)(x).metrics(x).sqnr_db


@pytest.mark.parametrize("name", list(TENSORS))
def test_explore_compare_formats_and_rate_distortion_agree(name):
    x = TENSORS[name].astype(np.float32)
    usable = [(s, c) for s, c in CONFIGS if x.ndim == 2 or c.get("granularity") != "per_channel"]
    # Compare: every configuration in one table
    at = _upload("compare", name, {"configs": json.dumps([[s, c] for s, c in usable])})
    table = at.dataframe[0].value.set_index("configuration")
    for s, c in usable:
        assert table.loc[ql.Quantizer(s, **c).label, "SQNR dB"] == pytest.approx(_whole(name, s, c), abs=1e-9), (s, c)
    # Explore: the card of each configuration
    for s, c in usable:
        query = {"scheme": s, **{f"{s}.{k}": str(v) for k, v in c.items()}}
        ex = _upload("explore", name, query)
        card = next(m.value for m in ex.metric if m.label == "SQNR")
        assert card == f"{_whole(name, s, c):.2f} dB", (s, c, card)
    # Formats: its table of every scheme at its defaults
    fm = _upload("formats", name)
    ftable = next(d.value for d in fm.dataframe if "SQNR dB" in d.value.columns).set_index("scheme")
    for s in ("symmetric", "q4_0", "nf4"):
        assert ftable.loc[s, "SQNR dB"] == pytest.approx(_whole(name, s, {}), abs=1e-9), s
    # Rate–distortion: exact on the whole tensor up to its sample size; above it, marked as an estimate
    rd = _upload("rate_distortion", name, {"rd.pick": "q4_0"})
    points = rd.dataframe[0].value.set_index("label")
    exact = x.size <= ql.rate.MAX_POINT_SAMPLES
    column = "SQNR dB" if exact else "SQNR dB (sample)"
    assert column in points.columns
    found = [ql.Quantizer(s, **c).label for s, c in usable if ql.Quantizer(s, **c).label in points.index]
    assert len(found) >= 3, (found, list(points.index)[:10])
    for s, c in usable:
        label = ql.Quantizer(s, **c).label
        if label in points.index and exact:
            assert points.loc[label, column] == pytest.approx(_whole(name, s, c), abs=1e-9), label
        elif label in points.index:  # an estimate on whole rows with the extremes: close, and said to be one
            assert abs(points.loc[label, column] - _whole(name, s, c)) < 0.5, label
    assert next(m.value for m in rd.metric if m.label == "SQNR, whole tensor") == f"{_whole(name, 'q4_0', {}):.2f} dB"
    # Toolkits: each toolkit's row is the symmetric int8 scheme under that toolkit's convention
    tk = _upload("toolkits", name)
    rows = tk.dataframe[0].value.set_index("toolkit")
    for convention, label in ql.toolkits.LABELS.items():
        assert rows.loc[label, "SQNR dB"] == pytest.approx(_whole(name, "symmetric", {"convention": convention}),
                                                           abs=1e-9), label
