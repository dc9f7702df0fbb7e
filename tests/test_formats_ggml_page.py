"""The Formats page for llama.cpp types (AppTest): the block inspector and the table of every ggml type.

The inspector's numbers are checked against the bytes ggml stores (decoded here with gguf-py's
layout knowledge: a Q4_K block is fp16 d, fp16 dmin, 12 scale bytes, 128 code bytes); the table
against quantlib's results and ggml's type sizes.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import open_app

import quantlib as ql
from quantlib.formats import proxy_importance

X = ql.synthetic("normal", 2**16, 0)  # the default data source
GGML = [n for n, s in ql.SCHEMES.items() if s.family == "ggml"]


def frames(at) -> list:
    return [d.value for d in at.dataframe]


def test_q4_k_block_inspector_shows_the_stored_super_block():
    at = open_app("formats", {"formats.scheme": "q4_k", "formats.block": "3"})
    assert not at.exception
    assert any(h.value == "ggml block inspector" for h in at.subheader)
    raw = ql.to_ggml_bytes(ql.Quantizer("q4_k")(X))[3 * 144:4 * 144]
    d, dmin = np.frombuffer(raw[:4], np.float16).astype(float)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["d (fp16)"] == f"{d:.6g}" and metrics["dmin (fp16)"] == f"{dmin:.6g}"
    assert metrics["bytes"] == "144" and metrics["sub-blocks"] == "8 × 32"
    sub = next(f for f in frames(at) if "scale code" in f.columns)
    q = np.frombuffer(raw[4:16], np.uint8)
    np.testing.assert_array_equal(sub["scale code"].to_numpy()[:4], q[:4] & 63)  # ggml's get_scale_min_k4, j < 4
    np.testing.assert_array_equal(sub["min code"].to_numpy()[:4], q[4:8] & 63)
    codes = np.frombuffer(raw[16:], np.uint8)
    shown = next(f for f in frames(at) if f.shape == (8, 32) and f.to_numpy().dtype.kind in "iu").to_numpy()
    np.testing.assert_array_equal(shown[0], codes[:32] & 15)  # elements 0..31: low nibbles of the first 32 bytes
    np.testing.assert_array_equal(shown[1], codes[:32] >> 4)


def test_every_ggml_type_table_lists_all_types_sorted_by_registry():
    at = open_app("formats", {"formats.scheme": "q6_k"})
    table = next(f for f in frames(at) if "bits/weight" in f.columns)
    assert list(table["type"]) == [n.upper() for n in GGML]
    q4k = table.set_index("type").loc["Q4_K"]
    r = ql.Quantizer("q4_k")(X)
    assert q4k["bits/weight"] == 4.5 and q4k["size bytes"] == X.size * 4.5 / 8
    assert q4k["SQNR dB"] == pytest.approx(r.metrics(X).sqnr_db, rel=1e-12)


def test_importance_toggle_quantizes_with_the_stand_in_imatrix():
    at = open_app("formats", {"formats.scheme": "q4_k", "formats.imatrix": "true", "formats.table_imatrix": "true"})
    assert not at.exception
    r = ql.Quantizer("q4_k", imatrix=proxy_importance(X))(X)
    table = next(f for f in frames(at) if "bits/weight" in f.columns).set_index("type")
    assert table.loc["Q4_K", "MSE"] == pytest.approx(r.metrics(X).mse, rel=1e-12)
    assert table.loc["Q4_K", "MSE"] != pytest.approx(ql.Quantizer("q4_k")(X).metrics(X).mse, rel=1e-6)
    raw = ql.to_ggml_bytes(r)[:144]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["d (fp16)"] == f"{float(np.frombuffer(raw[:2], np.float16)[0]):.6g}"


@pytest.mark.slow
@pytest.mark.parametrize("page, key", [("explore", "scheme"), ("formats", "formats.scheme")])
@pytest.mark.parametrize("name", ["q4_k", "tq1_0", "ternary", "binary"])
def test_new_types_open_on_explore_and_formats(page, key, name):
    at = open_app(page, {key: name})
    assert not at.exception and not at.error, [e.value for e in at.error]


def test_compare_ranks_the_new_types():
    names = ["q4_k", "q6_k", "iq4_xs", "tq2_0", "ternary", "binary"]
    at = open_app("compare", {"configs": json.dumps([[n, {}] for n in names])})
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert set(names) <= set(next(w for w in at.selectbox if w.label == "Scheme").options)
    text = " ".join(str(f.to_dict()) for f in frames(at)) + " ".join(m.value for m in at.markdown)
    assert all(n in text for n in names)


def test_explore_offers_the_tensor_as_gguf_that_gguf_py_reads_back(tmp_path):
    gguf = pytest.importorskip("gguf")
    at = open_app("explore", {"scheme": "q5_k"})
    labels = [b.label for b in at.get("download_button")]
    assert "tensor .gguf" in labels
    from pages._common import result_files
    r = ql.Quantizer("q5_k")(X)
    produce = next(f for f in result_files("x", r, {}, (("source", "synthetic"),)) if f[0] == "tensor .gguf")[2]
    path = tmp_path / "x.gguf"
    path.write_bytes(produce())
    t = gguf.GGUFReader(str(path)).tensors[0]
    assert t.tensor_type.name == "Q5_K" and t.name == "tensor"
    np.testing.assert_array_equal(gguf.quants.dequantize(t.data, t.tensor_type).reshape(-1), r.dequantized)


@pytest.mark.parametrize("name", ["q8_0", "q4_1", "iq4_nl", "tq1_0"])
def test_block_inspector_opens_every_kind_of_ggml_block_with_importance_on(name):
    at = open_app("formats", {"formats.scheme": name, "formats.imatrix": "true", "formats.block": "5"})
    assert not at.exception and not at.error, [e.value for e in at.error]
    metrics = {m.label: m.value for m in at.metric}
    nbytes = {"q8_0": 34, "q4_1": 20, "iq4_nl": 18, "tq1_0": 54}[name]
    assert metrics["bytes"] == str(nbytes)
    kw = {} if name == "tq1_0" else {"imatrix": proxy_importance(X)}
    r = ql.Quantizer(name, **kw)(X)
    d = np.frombuffer(ql.to_ggml_bytes(r)[5 * nbytes:6 * nbytes][52 if name == "tq1_0" else 0:][:2], np.float16)[0]
    assert metrics["d (fp16)"] == f"{float(d):.6g}"
