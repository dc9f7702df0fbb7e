"""The bad-input matrix: every kind of bad input, at every layer, answered with a clear message.

Three tables, one row per case, each row an id a reader can scan:

* LOADER — the bytes of a bad file, built here: ``load_tensors`` raises ``ValueError`` (and only
  that) reading ``"<file name>: <reason>"``, quickly; the few edge cases that are legitimate
  (one element, upper-case extension, integer or big-endian data) load with the documented result.
* ENGINE — a bad argument to the public API: ``ValueError`` / ``TypeError`` whose message quotes
  the bad value and says what is allowed.
* UI — a bad upload, link (query string) or widget value on Explore and Compare: no exception,
  an ``st.error`` / ``st.warning`` that says what was wrong (escaped, of bounded length), and the
  page works again after one good interaction. A link value a control would not accept is dropped
  by Streamlit without a message (README, The app): the control shows its default and the value
  leaves the link.

Other test files check these paths in more depth; this file is where the whole matrix is seen.
Pickled test files are only ever *written* here (np.save with allow_pickle); nothing is unpickled.
"""

from __future__ import annotations

import io
import json
import re
import struct
import time
import tomllib
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.lib.format as npformat
import pytest
from onnx import helper, numpy_helper
from safetensors.numpy import save as st_save
from conftest import open_app
from streamlit.testing.v1 import AppTest

import quantlib as ql
from quantlib import loaders

ROOT = Path(__file__).resolve().parents[1]
W = np.random.default_rng(0).standard_normal((8, 16)).astype(np.float32)
V = np.linspace(-1, 1, 64, dtype=np.float32)  # a good 1-D tensor
M = V.reshape(8, 8)  # a good 2-D tensor


# ============================================================================ file builders
def npy(a: np.ndarray, **kw) -> bytes:
    b = io.BytesIO()
    np.save(b, a, **kw)
    return b.getvalue()


def npz(**arrays: np.ndarray) -> bytes:
    b = io.BytesIO()
    np.savez(b, **arrays)
    return b.getvalue()


def zipped(**members: bytes) -> bytes:
    """A zip whose members hold exactly these bytes (for .npz members np.savez would not write)."""
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return b.getvalue()


def forged_npy(descr: str = "<f4", shape: tuple = (4,), body: bytes = b"\0" * 16) -> bytes:
    """A .npy whose header says whatever we like, followed by ``body``."""
    b = io.BytesIO()
    npformat.write_array_header_1_0(b, {"descr": descr, "fortran_order": False, "shape": shape})
    return b.getvalue() + body


def padded_header_npy(header_len: int) -> bytes:
    """A .npy (v1.0) with a valid but ``header_len``-byte header: numpy's header-size guard."""
    h = repr({"descr": "<f4", "fortran_order": False, "shape": (4,)}).encode()
    h = h + b" " * (header_len - len(h) - 1) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h + b"\0" * 16


def safetensors(header: dict, body: bytes = b"") -> bytes:
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + body


def onnx_model(a: np.ndarray) -> bytes:
    graph = helper.make_graph([], "g", [], [], initializer=[numpy_helper.from_array(a, "w")])
    return helper.make_model(graph).SerializeToString()


PICKLED = npy(np.array([{"x": 1}], dtype=object), allow_pickle=True)  # written, never read back
GOOD_NPY = npy(W)


# ============================================================================ 1. loaders
def refused(case_id: str, name: str, data: bytes, says: str, max_bytes: int | None = None):
    """One loader row: ``name`` + ``data`` must be refused with a message matching ``says``."""
    return pytest.param(name, data, says, max_bytes, id=case_id)


LOADER_REFUSED = [
    # --- corrupt / truncated / empty
    refused("corrupt-npy-header", "w.npy", b"\x93NUMPY\x01\x00\xff\xffnot a dict", "not a valid .npy header"),
    refused("corrupt-npz-member", "w.npz", zipped(**{"x.npy": b"garbage"}), r"member 'x\.npy': not a \.npy file"),
    refused("corrupt-onnx", "m.onnx", b"\x08\x07\x12garbage\xff\xff", "not a valid ONNX model"),
    refused("truncated-npy", "w.npy", GOOD_NPY[:-7], "truncated or forged"),
    refused("truncated-npz", "w.npz", npz(w=W)[:300], r"not a valid \.npz"),
    refused("truncated-safetensors", "m.safetensors", st_save({"w": W})[:-4], "truncated or forged"),
    refused("empty-npy", "w.npy", b"", "the file is empty"),
    refused("empty-csv", "w.csv", b"", "the file is empty"),
    refused("blank-csv", "w.csv", b"  \n# only a comment\n\n", "the CSV holds no numbers"),
    refused("header-only-csv", "w.csv", b"a,b\n", "header row but no numbers"),
    refused("empty-npz-archive", "w.npz", zipped(), "holds no tensors"),
    # --- pickled and object dtypes: refused from the header, the payload never touched
    refused("pickled-npy", "evil.npy", PICKLED, r"holds Python objects \(a pickled array\); refused"),
    refused("pickled-npz-member", "evil.npz", zipped(**{"x.npy": PICKLED}), r"member 'x\.npy': holds Python objects"),
    refused("object-dtype-npy", "obj.npy", forged_npy("|O", (2,)), "holds Python objects"),
    refused("string-dtype-npy", "s.npy", npy(np.array(["a", "b"])), "dtype <U1, which is not numeric"),
    refused("structured-dtype-npy", "r.npy", npy(np.zeros(2, dtype=[("a", "<f4"), ("b", "<i4")])), "structured dtype"),
    refused("bool-npy", "b.npy", npy(np.ones(3, bool)), "is boolean"),
    # --- huge headers and shapes that lie about the bytes present
    refused("huge-npy-header", "h.npy", padded_header_npy(60_000), r"header declares 60,000 bytes, over the 10,000-byte limit"),
    refused("huge-npy-shape", "h.npy", forged_npy(shape=(10**6, 10**6)), "claims 4,000,000,000,000 bytes of data but the file holds 16"),
    refused("negative-npy-shape", "h.npy", forged_npy(shape=(-1,)), r"negative dimension in shape \(-1,\)"),
    refused("overflowing-npy-shape", "h.npy", forged_npy(shape=(2**62, 2**62, 0)), r"the array is empty \(shape"),
    refused("huge-safetensors-header", "h.safetensors", struct.pack("<Q", 2**60) + b"{}",
            "claims 1,152,921,504,606,846,976 header bytes"),
    refused("lying-safetensors-offsets", "l.safetensors",
            safetensors({"w": {"dtype": "F32", "shape": [10**9], "data_offsets": [0, 4 * 10**9]}}, b"\0" * 8),
            "claims bytes 0..4000000000 for 1,000,000,000 values of F32, but the data section has 8 bytes"),
    refused("lying-safetensors-shape", "l.safetensors",
            safetensors({"w": {"dtype": "F32", "shape": [-2, -2], "data_offsets": [0, 16]}}, b"\0" * 16),
            r"shape must be a list of non-negative integers, got \[-2, -2\]"),
    refused("lying-safetensors-offset-types", "l.safetensors",
            safetensors({"w": {"dtype": "F32", "shape": [4], "data_offsets": ["0", "16"]}}, b"\0" * 16),
            "data_offsets must be two non-negative integers"),
    refused("lying-safetensors-dtype-type", "l.safetensors",
            safetensors({"w": {"dtype": ["F32"], "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4),
            r"dtype must be a string, got \['F32'\]"),
    refused("unknown-safetensors-dtype", "l.safetensors",
            safetensors({"w": {"dtype": "C64", "shape": [1], "data_offsets": [0, 8]}}, b"\0" * 8), "dtype C64; readable:"),
    # --- values that cannot be quantized
    refused("complex-npy", "c.npy", npy(np.ones(3, np.complex64)), r"is complex \(complex64\); only real numbers"),
    refused("complex-npz-member", "c.npz", npz(c=np.ones(2, np.complex128)), r"tensor 'c' is complex"),
    refused("nan-inf-npy", "n.npy", npy(np.array([1, np.nan, np.inf], np.float32)), r"2 non-finite value\(s\) \(1 NaN, 1 ±Inf\) out of 3"),
    refused("nan-csv", "n.csv", b"1,nan\n2,3\n", r"1 non-finite value\(s\) \(1 NaN"),
    refused("inf-float16-npy", "n.npy", npy(np.array([1, np.inf], np.float16)), r"\(0 NaN, 1 ±Inf\)"),
    refused("nan-safetensors", "n.safetensors", st_save({"w": np.array([np.nan, 1], np.float32)}), r"tensor 'w' contains 1 non-finite"),
    refused("float64-beyond-float32", "big.npy", npy(np.array([1e300, 1.0])), "magnitude 1e\\+300, beyond float32's range"),
    refused("zero-d-npy", "s.npy", npy(np.float32(1.5)), "0-d scalar; nothing to quantize"),
    refused("zero-d-safetensors", "s.safetensors", safetensors({"w": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]}}, b"\0" * 4),
            "0-d scalar"),
    refused("zero-size-npy", "z.npy", npy(np.zeros((0, 3), np.float32)), r"is empty \(shape \(0, 3\)\)"),
    refused("text-cells-csv", "t.csv", b"1,2\nthree,4\n", "non-numeric CSV .*'three'"),
    refused("ragged-csv", "r.csv", b"1,2\n3\n", "rows have different numbers of values"),
    # --- wrong extensions: refused by name, or by content that does not match the name
    refused("ext-txt", "w.txt", GOOD_NPY, r"unknown extension '\.txt'; accepted: \.npy, \.npz, \.csv, \.safetensors, \.onnx"),
    refused("ext-pt", "w.pt", GOOD_NPY, r"unknown extension '\.pt'"),
    refused("ext-pkl", "w.pkl", PICKLED, r"unknown extension '\.pkl'"),
    refused("ext-none", "weights", GOOD_NPY, r"unknown extension '\(none\)'"),
    refused("npy-named-csv", "w.csv", GOOD_NPY, "not UTF-8 text; a .csv must hold numbers"),
    refused("npy-named-npz", "w.npz", GOOD_NPY, r"not a valid \.npz \(zip\) archive"),
    refused("npy-named-safetensors", "w.safetensors", GOOD_NPY, "corrupt safetensors header"),
    refused("npy-named-onnx", "w.onnx", GOOD_NPY, "not a valid ONNX model"),
    refused("csv-named-npy", "w.npy", b"1,2\n3,4\n", "not a .npy file: it lacks the signature"),
    # --- size cap
    refused("over-the-cap", "w.npy", GOOD_NPY, "the file has 640 bytes or more, over the 100-byte limit", max_bytes=100),
]


@pytest.mark.parametrize("name, data, says, max_bytes", LOADER_REFUSED)
def test_loader_refuses_with_the_file_name_and_the_reason(name, data, says, max_bytes):
    t0 = time.perf_counter()
    kw = {} if max_bytes is None else {"max_bytes": max_bytes}
    with pytest.raises(ValueError) as info:  # any other exception type fails the test
        ql.load_tensors(data, name=name, **kw)
    message = str(info.value)
    assert type(info.value) is ValueError
    assert message.startswith(f"{name}: "), message
    assert re.search(says, message), message
    assert len(message) < 400, message
    assert time.perf_counter() - t0 < 2.0


ACCEPTED = [
    pytest.param("one.npy", npy(np.array([3.5], np.float32)), {"one": np.array([3.5])}, id="one-element-npy"),
    pytest.param("one.csv", b"3.5\n", {"one": np.array([3.5])}, id="one-element-csv"),
    pytest.param("W.NPY", GOOD_NPY, {"W": W}, id="upper-case-extension"),
    pytest.param("i.npy", npy(np.arange(6, dtype=np.int16).reshape(2, 3)), {"i": np.arange(6).reshape(2, 3)}, id="int16-to-float32"),
    pytest.param("be.npy", npy(np.arange(4, dtype=">f4")), {"be": np.arange(4)}, id="big-endian"),
    pytest.param("m.onnx", onnx_model(W), {"w": W}, id="onnx-initializer"),
]


@pytest.mark.parametrize("name, data, expected", ACCEPTED)
def test_loader_accepts_legitimate_edge_cases(name, data, expected):
    got = ql.load_tensors(data, name=name)
    assert list(got) == list(expected)
    for k, v in expected.items():
        assert got[k].dtype == np.float32 and got[k].shape == np.shape(v)
        np.testing.assert_array_equal(got[k], np.asarray(v, np.float32))


def test_a_one_element_tensor_quantizes_exactly():
    x = ql.load_tensors(npy(np.array([3.5], np.float32)), name="one.npy")["one"]
    r = ql.Quantizer("symmetric")(x)
    np.testing.assert_array_equal(r.dequantized, x)
    assert r.metrics(x).mse == 0.0


def test_an_oversized_upload_is_refused_from_its_declared_size_without_reading_it():
    class HugeUpload:  # what Streamlit's UploadedFile exposes: name, size, getvalue()
        name = "huge.npy"
        size = loaders.MAX_FILE_BYTES + 1

        def getvalue(self):
            raise AssertionError("the bytes of an oversized upload must not be read")

    with pytest.raises(ValueError, match=r"huge\.npy: the file has 209,715,201 bytes, over the 209,715,200-byte limit"):
        ql.load_tensors(HugeUpload())


def test_the_loader_cap_matches_the_server_upload_limit():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert loaders.MAX_FILE_BYTES == config["server"]["maxUploadSize"] * 2**20


# ============================================================================ 2. engine
def engine(case_id: str, call: Callable[[], object], exc: type[Exception], *says: str):
    """One engine row: ``call()`` raises ``exc`` whose message contains every string in ``says``
    (the bad value, then what is allowed)."""
    return pytest.param(call, exc, says, id=case_id)


def qp(scale=0.1, zero_point=0, qmin=-128, qmax=127, **kw):
    return lambda: ql.QuantParams(scale, zero_point, qmin, qmax, **kw)


NAN, INF = float("nan"), float("inf")

ENGINE = [
    # --- scale
    engine("scale-zero", qp(scale=0.0), ValueError, "got 0.0", "finite and > 0"),
    engine("scale-negative", lambda: ql.Quantizer("symmetric", scale=-0.5)(V), ValueError, "got -0.5", "finite and > 0"),
    engine("scale-nan", qp(scale=NAN), ValueError, "got nan", "finite and > 0"),
    engine("scale-nan-setting", lambda: ql.Quantizer("symmetric", scale=NAN), ValueError, "got nan", "'scale' must be finite"),
    engine("scale-inf", qp(scale=INF), ValueError, "got inf", "finite and > 0"),
    engine("scale-below-float32", qp(scale=1e-50), ValueError, "got 1e-50", "1.4e-45 .. 3.4e38"),
    engine("scale-per-channel-with-a-zero", qp(scale=np.array([0.1, 0.0]), axis=0), ValueError, "array([0.1, 0. ])", "> 0"),
    # --- zero-point
    engine("zero-point-above-qmax", qp(zero_point=128), ValueError, "got 128", "[qmin, qmax] = [-128, 127]"),
    engine("zero-point-below-unsigned", lambda: ql.Quantizer("asymmetric", scale=0.1, zero_point=-1)(V), ValueError,
           "got -1", "[qmin, qmax] = [0, 255]"),
    engine("zero-point-fractional", qp(zero_point=0.5), ValueError, "got 0.5", "must be integral"),
    engine("qmin-not-below-qmax", qp(qmin=5, qmax=5), ValueError, "qmin=5, qmax=5", "qmin must be < qmax"),
    # --- bits
    engine("bits-0", lambda: ql.choose_qparams(V, bits=0), ValueError, "got 0", "[1, 16]"),
    engine("bits-1-symmetric", lambda: ql.choose_qparams(V, bits=1), ValueError, "bits=1",
           "a 1-bit signed grid is {-1, 0}", "symmetric quantization needs bits >= 2"),
    engine("bits-1-symmetric-setting", lambda: ql.Quantizer("symmetric", bits=1), ValueError, "= 1", "[2, 16]",
           "a 1-bit signed grid is {-1, 0}"),
    engine("bits-1-narrow", lambda: ql.Quantizer("asymmetric", bits=1, narrow_range=True)(V), ValueError,
           "narrow_range at bits=1", "narrow_range needs bits >= 2"),
    engine("bits-1-log2", lambda: ql.Quantizer("log2", bits=1), ValueError, "= 1", "[2, 8]", "only 0 would be left"),
    engine("bits-17", lambda: ql.Quantizer("symmetric", bits=17), ValueError, "= 17", "[2, 16]"),
    engine("bits-33", lambda: ql.calibrate(V, bits=33), ValueError, "got 33", "[1, 16]"),
    engine("bits-negative", lambda: ql.qparams_from_range(-1.0, 1.0, bits=-3), ValueError, "got -3", "[1, 16]"),
    engine("bits-float", lambda: ql.choose_qparams(V, bits=8.5), TypeError, "got 8.5", "integer in [1, 16]"),
    engine("bits-bool", lambda: ql.choose_qparams(V, bits=True), TypeError, "got True", "integer in [1, 16]"),
    engine("bits-string", lambda: ql.Quantizer("symmetric", bits="8"), TypeError, "got '8'", "must be an integer"),
    engine("bits-huge-int", lambda: ql.choose_qparams(V, bits=10**5000), ValueError, "<integer of 16,610 bits>", "[1, 16]"),
    # --- bin counts
    engine("bins-0", lambda: ql.histogram_quantize(V, 0), ValueError, "got 0", "[2, 1048576]"),
    engine("bins-1", lambda: ql.calibrate(V, "entropy", num_bins=1), ValueError, "got 1", "[2, 1048576]"),
    engine("bins-1e9", lambda: ql.Quantizer("histogram", num_bins=10**9), ValueError, "= 1000000000", "[2, 1048576]"),
    engine("bins-float", lambda: ql.histogram_quantize(V, 2.5), TypeError, "got 2.5", "integer in [2, 1048576]"),
    # --- group sizes, axes, per-channel on 1-D
    engine("group-does-not-divide-channel",
           lambda: ql.Quantizer("symmetric", granularity="per_group", group_size=7)(M), ValueError,
           "group_size 7 does not divide the 8 elements", "choose a divisor of 8"),
    engine("group-larger-than-tensor", lambda: ql.choose_qparams(V, group_size=100), ValueError,
           "group_size 100 does not divide the 64 elements", "choose a divisor of 64"),
    engine("group-zero", lambda: ql.Quantizer("symmetric", granularity="per_group", group_size=0), ValueError,
           "= 0", "[1, 16777216]"),
    engine("axis-past-the-end", lambda: ql.choose_qparams(M, axis=2), ValueError, "axis 2", "allowed: -2..1 or None"),
    engine("axis-before-the-start", lambda: ql.calibrate(M, axis=-3), ValueError, "axis -3", "allowed: -2..1 or None"),
    engine("axis-float", lambda: ql.choose_qparams(M, axis=1.0), TypeError, "got 1.0", "integer or None"),
    engine("axis-setting-out-of-range", lambda: ql.Quantizer("symmetric", granularity="per_channel", axis=40), ValueError,
           "= 40", "[-32, 31]"),
    engine("per-channel-on-1d", lambda: ql.Quantizer("symmetric", granularity="per_channel")(V), ValueError,
           "got shape (64,)", "at least 2 dimensions"),
    engine("per-channel-on-1d-calibrate", lambda: ql.calibrate(V, axis=0), ValueError, "got shape (64,)", "use axis=None for per-tensor"),
    # --- bad tensors
    engine("tensor-empty", lambda: ql.Quantizer("symmetric")(np.array([], np.float32)), ValueError,
           "shape (0,)", "nothing to quantize"),
    engine("tensor-0d", lambda: ql.choose_qparams(np.float32(3.0)), ValueError, "0-d scalar", "e.g. [3.0]"),
    engine("tensor-nan", lambda: ql.Quantizer("symmetric")(np.array([1, NAN], np.float32)), ValueError,
           "(1 NaN, 0 ±Inf) out of 2", "remove or replace them"),
    engine("tensor-inf", lambda: ql.calibrate(np.array([INF, -INF, 1.0])), ValueError, "(0 NaN, 2 ±Inf) out of 3", "remove or replace"),
    engine("tensor-nan-in-quantize", lambda: ql.quantize(np.array([NAN, 1], np.float32), ql.choose_qparams(V)), ValueError,
           "1 NaN", "remove or replace"),
    engine("tensor-complex", lambda: ql.choose_qparams(np.ones(4, np.complex64)), TypeError, "complex dtype complex64",
           "only real numbers"),
    engine("tensor-object", lambda: ql.Quantizer("symmetric")(np.array([object()], dtype=object)), TypeError,
           "got dtype object", "float or integer dtype"),
    engine("tensor-str", lambda: ql.calibrate(np.array(["1", "2"])), TypeError, "got dtype <U1", "float or integer dtype"),
    engine("tensor-bool", lambda: ql.histogram_quantize(np.array([True, False])), TypeError, "got dtype bool", "real numbers"),
    engine("tensor-ragged", lambda: ql.choose_qparams([[1, 2], [3]]), TypeError, "got list", "must be a numeric array"),
    engine("tensor-beyond-float32", lambda: ql.choose_qparams(np.array([1e300])), ValueError, "1e+300", "float32's range"),
    # --- other settings
    engine("percentile-nan", lambda: ql.calibrate(V, "percentile", percentile=NAN), ValueError, "got nan", "(0, 100]"),
    engine("percentile-zero", lambda: ql.Quantizer("symmetric", calibration="percentile", percentile=0.0), ValueError,
           "= 0.0", "[1e-09, 100.0]"),
    engine("range-nan", lambda: ql.qparams_from_range(NAN, 1.0), ValueError, "lo=nan", "must be finite"),
    engine("range-reversed", lambda: ql.qparams_from_range(1.0, -1.0), ValueError, "lo=1.0 > hi=-1.0", "lo must be <= hi"),
    engine("fixed-point-too-wide", lambda: ql.Quantizer("fixed_point", int_bits=15, frac_bits=15)(V), ValueError,
           "Q15.15 signed needs 31 bits", "1..16"),
    engine("unknown-scheme", lambda: ql.Quantizer("int3"), ValueError, "'int3'", "choose one of: 'symmetric'"),
    engine("unknown-rounding", lambda: ql.quantize(V, ql.choose_qparams(V), rounding="up"), ValueError, "'up'",
           "'half_even', 'half_away', 'floor', 'stochastic'"),
    engine("hostile-long-scheme-name", lambda: ql.Quantizer("<script>" + "x" * 100_000), ValueError,
           "'<script>xxx", "…; choose one of:"),
]


@pytest.mark.parametrize("call, exc, says", ENGINE)
def test_engine_names_the_bad_value_and_what_is_allowed(call, exc, says):
    with pytest.raises(exc) as info:
        call()
    assert type(info.value) is exc  # a TypeError is not an acceptable answer for a bad value, nor vice versa
    message = str(info.value)
    for part in says:
        assert part in message, f"{part!r} not in {message!r}"
    assert len(message) < 1000, message[:200]


# ============================================================================ 3. UI (AppTest)
SMALL = {"data.size": "4096"}  # small tensors keep each run fast
UPLOAD = {**SMALL, "data.source": "upload"}
#: The calibrated params of SMALL's tensor: what a manual input starts from (and falls back to).
CALIBRATED = {name: ql.Quantizer(name)(ql.synthetic("normal", 4096, 0)).params for name in ("symmetric", "asymmetric")}
GOOD_UPLOAD = ("good.npy", npy(W))


def upload(name: str, data: bytes) -> Callable[[AppTest], object]:
    return lambda at: at.file_uploader(key="data.file").set_value((name, data, "application/octet-stream")).run()


def widget(kind: str, key: str, value) -> Callable[[AppTest], object]:
    return lambda at: getattr(at, kind)(key=key).set_value(value).run()


def steps(*actions: Callable[[AppTest], object]) -> Callable[[AppTest], None]:
    def run(at: AppTest) -> None:
        for a in actions:
            a(at)

    return run


def click_add(at: AppTest) -> None:
    next(b for b in at.button if b.label == "Add").click().run()


MOVE_BINS = widget("select_slider", "plot_bins", 256)  # an ordinary follow-up on Explore, whatever the scheme


def ui(case_id: str, page: str, query: dict, says: str, kind: str = "warning", act=None, fix=MOVE_BINS, cap=None, marks=()):
    """One UI row: open ``page`` with ``query``, do ``act`` (an upload, a widget change); an
    ``st.<kind>`` must contain ``says``; then ``fix`` (a good interaction) must bring the page back.
    ``cap`` lowers the loader's size limit for the run (an oversized upload without 200 MB of bytes)."""
    return pytest.param(page, query, act, kind, says, fix, cap, id=case_id, marks=marks)


UI = [
    # --- Explore: bad files through the upload panel; the fix is uploading a good file
    ui("explore-upload-pickled", "explore", UPLOAD, "evil.npy: array: holds Python objects (a pickled array); refused",
       "error", upload("evil.npy", PICKLED), upload(*GOOD_UPLOAD)),
    ui("explore-upload-truncated", "explore", UPLOAD, "cut.npy: array: the header claims 512 bytes of data but the file holds 505",
       "error", upload("cut.npy", GOOD_NPY[:-7]), upload(*GOOD_UPLOAD)),
    ui("explore-upload-empty", "explore", UPLOAD, "empty.csv: the file is empty", "error", upload("empty.csv", b""), upload(*GOOD_UPLOAD)),
    ui("explore-upload-nan", "explore", UPLOAD, "n.csv: tensor 'n' contains 1 non-finite value(s) (1 NaN",
       "error", upload("n.csv", b"1\nnan\n2\n"), upload(*GOOD_UPLOAD)),
    ui("explore-upload-complex", "explore", UPLOAD, "tensor 'c' is complex (complex128)",
       "error", upload("c.npz", npz(c=np.ones(3, np.complex128))), upload(*GOOD_UPLOAD)),
    ui("explore-upload-0d", "explore", UPLOAD, "tensor 's' is a 0-d scalar", "error", upload("s.npy", npy(np.float32(2.0))),
       upload(*GOOD_UPLOAD)),
    ui("explore-upload-lying-safetensors", "explore", UPLOAD, "truncated or forged", "error",
       upload("l.safetensors", safetensors({"w": {"dtype": "F32", "shape": [1000], "data_offsets": [0, 4000]}}, b"\0" * 8)),
       upload(*GOOD_UPLOAD)),
    ui("explore-upload-npy-named-csv", "explore", UPLOAD, "w.csv: not UTF-8 text", "error", upload("w.csv", GOOD_NPY),
       upload(*GOOD_UPLOAD)),
    ui("explore-upload-oversized", "explore", UPLOAD, "big.npy: the file has 16,512 bytes, over the 1,000-byte limit",
       "error", upload("big.npy", npy(np.zeros((64, 64), np.float32))), upload("small.npy", npy(V[:32])), cap=1000),
    ui("explore-upload-hostile-name", "explore", UPLOAD, "<img src=x onerror=alert(1)>.npy: array: not a .npy file",
       "error", upload("<img src=x onerror=alert(1)>.npy", b"garbage"), upload(*GOOD_UPLOAD)),
    # --- Explore: values that parse but cannot apply -> an error naming the problem; the fix repairs it
    ui("url-per-channel-on-1d", "explore", {**SMALL, "symmetric.granularity": "per_channel"},
       "These settings cannot be applied: granularity=per_channel needs a tensor with 2 or more dimensions", "error",
       fix=widget("radio", "data.layout", "matrix")),
    ui("url-group-does-not-divide", "explore",
       {**SMALL, "data.layout": "matrix", "symmetric.granularity": "per_group", "symmetric.group_size": "7"},
       "group_size 7 does not divide the 64 elements of each channel along axis 0 (shape (64, 64)); choose a divisor of 64",
       "error", fix=widget("number_input", "symmetric.group_size", 16)),
    # --- Compare: hostile configs links; the fix is adding a configuration
    ui("compare-configs-not-json", "compare", {**SMALL, "configs": "not json"},
       "Link parameter configs ignored: not valid JSON (Expecting value: line 1 column 1 (char 0))", fix=click_add),
    ui("compare-configs-unknown-scheme", "compare", {**SMALL, "configs": json.dumps([["nonexistent", {}]])},
       "Link parameter configs ignored: unknown scheme 'nonexistent'; choose one of:", fix=click_add),
    ui("compare-configs-bits-out-of-range", "compare", {**SMALL, "configs": json.dumps([["symmetric", {"bits": 99}]])},
       "setting 'bits' = 99 is out of range; allowed: [2, 16]", fix=click_add),
    ui("compare-configs-empty-list", "compare", {**SMALL, "configs": "[]"}, "expected a list of 1..12 [scheme, settings] pairs",
       fix=click_add),
    ui("compare-configs-too-long", "compare", {**SMALL, "configs": json.dumps([["symmetric", {}]] * 10_000)},
       "the value has 190,000 characters; at most 8,192 are read", fix=click_add),
    ui("compare-configs-nested-too-deeply", "compare", {**SMALL, "configs": "[" * 5000},
       "nested too deeply to be a list of [scheme, {settings}] pairs", fix=click_add),
    ui("compare-configs-script", "compare", {**SMALL, "configs": json.dumps([["<script>alert(1)</script>", {}]])},
       "unknown scheme '<script>alert(1)</script>'", fix=click_add),
    ui("compare-config-cannot-apply", "compare",
       {**SMALL, "configs": json.dumps([["symmetric", {"granularity": "per_group", "group_size": 7}]])},
       "group_size 7 does not divide the 4096 elements of the tensor (shape (4096,)); choose a divisor of 4096", "error",
       fix=steps(click_add, lambda at: at.button(key="remove.0").click().run())),
    ui("compare-upload-pickled", "compare", UPLOAD, "evil.npy: array: holds Python objects (a pickled array); refused",
       "error", upload("evil.npy", PICKLED), upload(*GOOD_UPLOAD)),
]


def link(case_id: str, query: dict, key: str, default):
    """One refused link value: Explore opened with ``query`` shows control ``key`` at ``default``."""
    return pytest.param(query, key, default, id=case_id)


LINKS = [
    link("url-bits-out-of-range", {**SMALL, "symmetric.bits": "999"}, "symmetric.bits", 8),
    link("url-bits-not-a-number", {**SMALL, "symmetric.bits": "abc"}, "symmetric.bits", 8),
    link("url-size-negative", {**SMALL, "data.size": "-5"}, "data.size", 2**16),
    link("url-size-huge", {**SMALL, "data.size": str(10**12)}, "data.size", 2**16),
    link("url-seed-huge", {**SMALL, "data.seed": "9" * 30}, "data.seed", 0),
    link("url-bins-below-range", {**SMALL, "scheme": "histogram", "histogram.num_bins": "1"}, "histogram.num_bins", 256),
    link("url-plot-bins-not-offered", {**SMALL, "plot_bins": "100"}, "plot_bins", 128),
    link("url-percentile-inf", {**SMALL, "symmetric.calibration": "percentile", "symmetric.percentile": "inf"},
         "symmetric.percentile", 99.99),
    link("url-percentile-nan", {**SMALL, "symmetric.calibration": "percentile", "symmetric.percentile": "nan"},
         "symmetric.percentile", 99.99),
    link("url-bool-not-a-bool", {**SMALL, "symmetric.manual": "yes"}, "symmetric.manual", False),
    link("url-script-in-value", {**SMALL, "data.distribution": "<script>alert(1)</script>"}, "data.distribution", "normal"),
    link("url-path-traversal-sample", {"data.source": "sample", "data.sample": "../../etc/passwd"}, "data.sample",
         "blog_example"),
    link("url-source-file-scheme", {**SMALL, "data.source": "file:///etc/passwd"}, "data.source", "synthetic"),
    link("url-very-long-choice", {**SMALL, "scheme": "x" * 100_000}, "scheme", "symmetric"),
    link("url-very-long-setting", {**SMALL, "symmetric.calibration": "x" * 100_000}, "symmetric.calibration", "minmax"),
    # a refused manual value leaves the input at the calibrated value, which manual mode starts from
    link("url-manual-scale-nan", {**SMALL, "symmetric.manual": "true", "symmetric.scale": "nan"}, "symmetric.scale",
         CALIBRATED["symmetric"].scale),
    link("url-manual-scale-inf", {**SMALL, "symmetric.manual": "true", "symmetric.scale": "-inf"}, "symmetric.scale",
         CALIBRATED["symmetric"].scale),
    link("url-manual-scale-zero", {**SMALL, "symmetric.manual": "true", "symmetric.scale": "0"}, "symmetric.scale",
         CALIBRATED["symmetric"].scale),
    link("url-zero-point-out-of-range", {**SMALL, "scheme": "asymmetric", "asymmetric.manual": "true",
                                         "asymmetric.scale": "0.01", "asymmetric.zero_point": "999"},
         "asymmetric.zero_point", CALIBRATED["asymmetric"].zero_point),
    link("url-axis-out-of-range", {**SMALL, "data.layout": "matrix", "symmetric.granularity": "per_channel",
                                   "symmetric.axis": "5"}, "symmetric.axis", 0),
]


def control(at: AppTest, key: str):
    kinds = ("selectbox", "slider", "select_slider", "number_input", "radio", "toggle", "checkbox")
    return next(w for kind in kinds for w in getattr(at, kind) if w.key == key)


@pytest.mark.parametrize("query, key, default", LINKS)
def test_a_refused_link_value_leaves_the_link_and_the_default_is_used(query, key, default):
    at = open_app("explore", query, timeout=60)
    assert control(at, key).value == (float(default) if isinstance(default, np.floating) else default)
    assert key not in at.query_params, at.query_params.get(key, "")[:80]
    assert not at.warning, [shown(w) for w in at.warning]
    MOVE_BINS(at)
    assert_alive(at, "explore")


def shown(el) -> str:
    """An element's text as the reader sees it (user-supplied text is Markdown-escaped)."""
    return re.sub(r"\\(.)", r"\1", el.value)


def assert_messages_are_safe(at: AppTest) -> None:
    """Every error / warning is of bounded length and carries no unescaped '<' (no raw HTML)."""
    for el in [*at.error, *at.warning]:
        assert len(el.value) < 1000, f"a {len(el.value):,}-character message: {el.value[:120]}…"
        assert not re.search(r"(?<!\\)<", el.value), el.value


def assert_alive(at: AppTest, page: str) -> None:
    assert not at.exception, at.exception
    assert not at.error, [shown(e) for e in at.error]
    if page == "explore":
        assert {m.label for m in at.metric} >= {"SQNR", "MSE", "cosine"}
        charts = {c.key for c in at.get("plotly_chart")}
        # the four views as one figure, and the error curves (one figure of two, or the bit curve alone)
        assert "fig.views" in charts and charts & {"fig.curves", "fig.bits"}, charts
    else:
        assert len(at.dataframe) == 1 and len(at.dataframe[0].value) >= 1
        assert len(at.get("plotly_chart")) >= 1


@pytest.mark.parametrize("page, query, act, kind, says, fix, cap", UI)
def test_ui_answers_bad_input_with_a_message_and_stays_alive(page, query, act, kind, says, fix, cap, monkeypatch):
    if cap is not None:
        monkeypatch.setitem(ql.load_tensors.__kwdefaults__, "max_bytes", cap)
    at = open_app(page, query, timeout=60)
    if act is not None:
        act(at)
    assert not at.exception, at.exception
    messages = [shown(el) for el in getattr(at, kind)]
    assert any(says in m for m in messages), (says, messages)
    assert_messages_are_safe(at)
    fix(at)
    assert_alive(at, page)


def test_a_fraction_for_a_whole_number_control_is_truncated_and_the_link_corrected():
    at = open_app("explore", {**SMALL, "symmetric.bits": "4.5", "data.seed": "3.7"}, timeout=60)
    assert at.slider(key="symmetric.bits").value == 4 and at.number_input(key="data.seed").value == 3
    assert (at.query_params["symmetric.bits"], at.query_params["data.seed"]) == ("4", "3")
    assert_alive(at, "explore")


def test_unknown_link_keys_are_ignored_and_the_page_renders():
    """No control reads them; Streamlit leaves a parameter no widget is bound to in the link."""
    at = open_app("explore", {**SMALL, "foo": "bar", "__proto__": "x", "symmetric.bits": "6"}, timeout=60)
    assert_alive(at, "explore")
    assert not at.warning
    x = ql.synthetic("normal", 4096, 0)
    assert next(m.value for m in at.metric if m.label == "SQNR") == \
        f"{ql.Quantizer('symmetric', bits=6, num_bins=2048)(x).metrics(x).sqnr_db:.2f} dB"  # the known key applies
    assert at.query_params["symmetric.bits"] == "6"


def test_a_one_element_upload_is_shown_not_refused():
    at = open_app("explore", UPLOAD, timeout=60)
    upload("one.npy", npy(np.array([3.5], np.float32)))(at)
    assert_alive(at, "explore")
    assert next(m.value for m in at.metric if m.label == "MSE") == "0"
    assert any("shape 1 · float32" in c.value for c in at.caption)


def test_a_wrong_extension_that_bypasses_the_picker_is_refused_and_the_next_upload_works():
    """The browser's picker and drop zone offer only the accepted extensions; a .txt sent by
    a crafted request is refused by Streamlit itself before the page runs (its message
    names the extension and the allowed ones), and the session carries on."""
    at = open_app("explore", UPLOAD, timeout=60)
    upload("w.txt", GOOD_NPY)(at)
    assert [e.message for e in at.exception] == [
        "Invalid file extension: `.txt`. Allowed: ['.npy', '.npz', '.csv', '.safetensors', '.onnx', '.gguf']"]
    at.run()  # the next interaction: the page is back, with its uploader
    assert not at.exception
    upload(*GOOD_UPLOAD)(at)
    assert_alive(at, "explore")


@pytest.mark.parametrize("scale", ["0.1", True, None, [0.1, "a"], [None] * 6], ids=["str", "bool", "none", "mixed", "objects"])
def test_a_scale_that_is_not_a_real_number_is_a_type_error(scale):
    """A string that numpy could convert ("0.1") is still not a number: refused, not parsed."""
    with pytest.raises(TypeError, match=r"scale must be a real number or array of them, got "):
        ql.QuantParams(scale=scale, zero_point=0, qmin=-128, qmax=127)


@pytest.mark.parametrize("fn", [ql.quantize, ql.dequantize, ql.fake_quantize], ids=lambda f: f.__name__)
@pytest.mark.parametrize("params", ["not params", {"scale": 0.1, "zero_point": 0}, None], ids=["str", "dict", "none"])
def test_params_that_are_not_quantparams_are_a_type_error(fn, params):
    with pytest.raises(TypeError, match=r"params must be a QuantParams .*, got (str|dict|NoneType)"):
        fn(np.ones(4, np.float32), params)
