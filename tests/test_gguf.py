"""GGUF in and out against gguf-py (llama.cpp's own reader and writer).

In: files written by gguf-py's ``GGUFWriter`` (several tensors, several types) load with
``ql.load_tensors`` to exactly what gguf-py's ``GGUFReader`` + ``dequantize`` give, under the same
names and shapes, and ``ql.gguf_types`` tells the stored types the reader reports. Malformed,
truncated and lying files raise ValueError naming the file. Out: ``gguf_bytes`` of every ggml scheme
reads back in gguf-py to the result's dequantized values, type and shape.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest

import quantlib as ql
import quantlib.formats as fm
from conftest import make_tensor
from quantlib.gguf_file import gguf_bytes

gguf = pytest.importorskip("gguf")
T = gguf.GGMLQuantizationType


def write_gguf(path, tensors: dict[str, tuple[np.ndarray, object]]) -> bytes:
    """A GGUF file from gguf-py's writer: {name: (array or raw bytes, type or None)}."""
    w = gguf.GGUFWriter(str(path), "test")
    w.add_uint32("test.count", 7)
    w.add_array("test.list", [1, 2, 3])
    w.add_array("test.names", ["a", "bc"])
    for name, (a, (qtype, shape)) in tensors.items():
        if qtype is None:
            w.add_tensor(name, a)
        else:
            w.add_tensor(name, a, raw_dtype=qtype)  # a: (rows, bytes per row); gguf-py derives the shape
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path.read_bytes()


def reference(path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    r = gguf.GGUFReader(str(path))
    plain = (T.I8, T.I16, T.I32, T.I64, T.F64)  # gguf-py's reader gives these as stored, its dequantize has none
    vals = {t.name: (np.asarray(t.data) if t.tensor_type in plain else gguf.quants.dequantize(t.data, t.tensor_type))
            .reshape(tuple(reversed([int(n) for n in t.shape]))) for t in r.tensors}
    return vals, {t.name: t.tensor_type.name for t in r.tensors}


def sample_tensors() -> dict[str, tuple[np.ndarray, object]]:
    x = make_tensor("normal", 8 * 512, 0).reshape(8, 512)
    q8 = gguf.quants.quantize(x, T.Q8_0)
    q4k = np.frombuffer(ql.to_ggml_bytes(ql.Quantizer("q4_k")(x)), np.uint8).reshape(8, -1)
    iq4 = np.frombuffer(ql.to_ggml_bytes(ql.Quantizer("iq4_xs")(x)), np.uint8).reshape(8, -1)
    return {
        "f32.weight": (x, (None, None)),
        "f16.bias": (make_tensor("laplace", 96, 1).astype(np.float16), (None, None)),
        "q8.weight": (q8, (T.Q8_0, x.shape)),
        "blk.0.q4k": (q4k, (T.Q4_K, x.shape)),
        "blk.0.iq4xs": (iq4, (T.IQ4_XS, x.shape)),
        "i32.ids": (np.arange(24, dtype=np.int32).reshape(2, 3, 4), (None, None)),
    }


def test_load_tensors_reads_every_tensor_as_gguf_py_does(tmp_path):
    path = tmp_path / "model.gguf"
    data = write_gguf(path, sample_tensors())
    expected, types = reference(path)
    for got in (ql.load_tensors(path), ql.load_tensors(data, name="model.gguf")):
        assert list(got) == list(expected)
        for k, v in expected.items():
            assert got[k].dtype == np.float32 and got[k].shape == v.shape, k
            np.testing.assert_array_equal(got[k], v.astype(np.float32))
    assert ql.gguf_types(path) == types == {"f32.weight": "F32", "f16.bias": "F16", "q8.weight": "Q8_0",
                                            "blk.0.q4k": "Q4_K", "blk.0.iq4xs": "IQ4_XS", "i32.ids": "I32"}


GGML_SCHEMES = [n for n, s in ql.SCHEMES.items() if s.family == "ggml"]


@pytest.mark.parametrize("name", GGML_SCHEMES)
def test_gguf_out_reads_back_in_gguf_py_to_the_same_values(name, tmp_path):
    x = make_tensor("laplace", 4 * 768, 2).reshape(4, 768)
    r = ql.Quantizer(name)(x)
    path = tmp_path / "out.gguf"
    path.write_bytes(gguf_bytes(r, "blk.0.ffn_down.weight"))
    vals, types = reference(path)
    assert types == {"blk.0.ffn_down.weight": name.upper()}
    np.testing.assert_array_equal(vals["blk.0.ffn_down.weight"], r.dequantized)
    np.testing.assert_array_equal(ql.load_tensors(path)["blk.0.ffn_down.weight"], r.dequantized)


def test_gguf_out_refuses_rows_that_are_not_whole_blocks():
    r = ql.Quantizer("q4_k")(make_tensor("normal", 512, 0).reshape(4, 128))
    with pytest.raises(ValueError, match="last axis .*128.* multiple of its block 256"):
        gguf_bytes(r)
    with pytest.raises(TypeError, match="ggml scheme"):
        gguf_bytes(ql.Quantizer("symmetric")(np.ones(4, np.float32)))


# ------------------------------------------------------------------- hostile files
def header(n_tensors=1, n_kv=0) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", 3, n_tensors, n_kv)


def gstr(s: bytes) -> bytes:
    return struct.pack("<Q", len(s)) + s


def tensor_info(name=b"w", dims=(32,), ttype=0, offset=0) -> bytes:
    return gstr(name) + struct.pack("<I", len(dims)) + struct.pack(f"<{len(dims)}Q", *dims) + struct.pack("<IQ", ttype, offset)


def padded(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 32)


BAD = [
    pytest.param(b"GGUX" + b"\0" * 40, "not a GGUF file", id="magic"),
    pytest.param(b"GGUF" + struct.pack("<I", 9) + b"\0" * 16, "version 9", id="version"),
    pytest.param(b"GGUF\x03\0\0", "truncated", id="truncated-header"),
    pytest.param(header(10**12), "claims 1,000,000,000,000 tensors", id="huge-tensor-count"),
    pytest.param(header(0, 10**9), "metadata entries", id="huge-kv-count"),
    pytest.param(header(0, 1) + struct.pack("<Q", 2**60), "truncated or forged", id="huge-key-length"),
    pytest.param(header(0, 1) + gstr(b"k") + struct.pack("<IIQ", 9, 4, 2**40), "truncated or forged", id="huge-array"),
    pytest.param(header(0, 1) + gstr(b"k") + struct.pack("<I", 99), "unknown value type 99", id="bad-value-type"),
    pytest.param(padded(header() + tensor_info(ttype=77)) + b"\0" * 128, "unknown ggml type 77", id="unknown-type"),
    pytest.param(padded(header() + tensor_info(dims=(2**40, 2**20))) + b"\0" * 128, "truncated or forged",
                 id="huge-dims"),
    pytest.param(padded(header() + tensor_info(offset=2**50)) + b"\0" * 128, "truncated or forged", id="bad-offset"),
    pytest.param(padded(header() + tensor_info(offset=4)) + b"\0" * 256, "alignment", id="misaligned"),
    pytest.param(padded(header() + tensor_info(dims=(1, 1, 1, 1, 1))) + b"\0" * 64, "5 dimensions", id="five-dims"),
    pytest.param(padded(header() + tensor_info(dims=(0,))) + b"\0" * 64, "empty", id="zero-dim"),
    pytest.param(padded(header() + tensor_info(dims=(100,), ttype=12)) + b"\0" * 4096, "not a multiple", id="partial-block"),
    pytest.param(padded(header() + tensor_info(dims=(32,)))[:-8], "truncated", id="no-data"),
    pytest.param(padded(header(2) + tensor_info() + tensor_info()) + b"\0" * 256, "share a name", id="duplicate"),
    pytest.param(padded(header() + tensor_info(dims=(2**14, 2**14), ttype=34)) + b"\0" * (2**28 // 256 * 54),
                 "over the 838,860,800-byte limit", id="dequantizes-too-big"),
]


@pytest.mark.parametrize("data, message", BAD)
def test_malformed_gguf_is_refused_with_a_clear_message(data, message):
    with pytest.raises(ValueError, match=rf"^bad\.gguf: .*{message}"):
        ql.load_tensors(data, name="bad.gguf")


def test_a_nan_in_a_gguf_tensor_is_counted():
    x = np.ones(32, np.float32)
    x[3] = np.nan
    data = padded(header() + tensor_info()) + x.tobytes()
    with pytest.raises(ValueError, match="bad.gguf: .*NaN"):
        ql.load_tensors(data, name="bad.gguf")
    assert ql.gguf_types(data) == {"w": "F32"}
