"""Loaders: every accepted format, and every kind of bad file refused quickly with a clear message."""

import io
import json
import struct
import time
import zipfile

import numpy as np
import numpy.lib.format as npformat
import onnx
import pytest
from onnx import helper, numpy_helper
from safetensors.numpy import save as st_save

import quantlib as ql

W = np.random.default_rng(0).standard_normal((8, 16)).astype(np.float32)


def npy(a, **kw) -> bytes:
    b = io.BytesIO()
    np.save(b, a, **kw)
    return b.getvalue()


def npz(**arrays) -> bytes:
    b = io.BytesIO()
    np.savez(b, **arrays)
    return b.getvalue()


def onnx_model(*inits) -> bytes:
    graph = helper.make_graph([], "g", [], [], initializer=list(inits))
    return helper.make_model(graph).SerializeToString()


def forged_npy(shape, descr="<f4", extra=b"\0" * 16) -> bytes:
    b = io.BytesIO()
    npformat.write_array_header_1_0(b, {"descr": descr, "fortran_order": False, "shape": shape})
    return b.getvalue() + extra


# --------------------------------------------------------------------------- good
@pytest.mark.parametrize("name, data, expected", [
    ("w.npy", npy(W), {"w": W}),
    ("w.npy", npy(np.asfortranarray(W)), {"w": W}),
    ("ints.npy", npy(np.arange(12, dtype=np.int16).reshape(3, 4)), {"ints": np.arange(12).reshape(3, 4)}),
    ("half.npy", npy(W.astype(np.float16)), {"half": W.astype(np.float16)}),
    ("pair.npz", npz(a=W, b=np.arange(5)), {"a": W, "b": np.arange(5)}),
    ("col.csv", b"1\n2.5\n-3e2\n", {"col": np.array([1, 2.5, -300])}),
    ("table.csv", b"x,y\n1,2\n3,4\n", {"table": np.array([[1, 2], [3, 4]])}),
    ("m.safetensors", st_save({"w": W, "b": np.arange(4, dtype=np.int32)}), {"w": W, "b": np.arange(4)}),
    ("m.onnx", onnx_model(numpy_helper.from_array(W, "fc.weight")), {"fc.weight": W}),
], ids=["npy", "npy-fortran", "npy-int16", "npy-float16", "npz", "csv-column", "csv-header-table",
        "safetensors", "onnx"])
def test_good_files(name, data, expected):
    got = ql.load_tensors(data, name=name)
    assert set(got) == set(expected)
    for k, v in expected.items():
        assert got[k].dtype == np.float32 and got[k].shape == np.shape(v)
        np.testing.assert_array_equal(got[k], np.asarray(v, dtype=np.float32))


def test_bfloat16_safetensors_widen_exactly():
    import ml_dtypes

    bf = W.astype(ml_dtypes.bfloat16)
    header = json.dumps({"w": {"dtype": "BF16", "shape": list(W.shape), "data_offsets": [0, W.size * 2]}}).encode()
    data = struct.pack("<Q", len(header)) + header + bf.tobytes()
    np.testing.assert_array_equal(ql.load_tensors(data, name="bf.safetensors")["w"], bf.astype(np.float32))


def test_paths_and_file_objects(tmp_path):
    p = tmp_path / "w.npy"
    p.write_bytes(npy(W))
    np.testing.assert_array_equal(ql.load_tensors(p)["w"], W)
    f = io.BytesIO(npy(W))
    f.name = "up.npy"
    np.testing.assert_array_equal(ql.load_tensors(f)["up"], W)


def test_loaded_arrays_are_owned_copies():
    a = ql.load_tensors(npy(W), name="w.npy")["w"]
    assert a.flags.writeable and a.flags.owndata


# ---------------------------------------------------------------------------- bad
def _zip_bomb() -> bytes:
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("big.npy", forged_npy((2**31,), extra=b"\0" * (2**20)))
    data = bytearray(b.getvalue())
    return bytes(data)


def _external_onnx() -> bytes:
    t = numpy_helper.from_array(W, "w")
    t.ClearField("raw_data")
    t.data_location = onnx.TensorProto.EXTERNAL
    t.external_data.add(key="location", value="/etc/passwd")
    return onnx_model(t)


def _st(header: dict, body: bytes = b"") -> bytes:
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + body


BAD = [
    ("pickled.npy", npy(np.array([{"x": 1}], dtype=object), allow_pickle=True), "pickled array"),
    ("truncated.npy", npy(W)[:-7], "truncated or forged"),
    ("forged.npy", forged_npy((10**12,)), "claims 4,000,000,000,000 bytes"),
    ("garbage.npy", b"\x93NUMPY\x01\x00\xff\xffnot a dict", "not a valid .npy header"),
    ("notnpy.npy", b"hello world", "not a .npy file: it lacks the signature"),
    ("empty.npy", b"", "the file is empty"),
    ("zero-d.npy", npy(np.float32(1.0)), "0-d scalar"),
    ("zero-size.npy", npy(np.zeros((0, 3), np.float32)), "is empty"),
    ("complex.npy", npy(np.ones(3, np.complex64)), "complex"),
    ("bool.npy", npy(np.ones(3, bool)), "boolean"),
    ("structured.npy", npy(np.zeros(2, dtype=[("a", "<f4"), ("b", "<i4")])), "structured dtype"),
    ("nan.npy", npy(np.array([1, np.nan, np.nan, np.inf], np.float32)), r"3 non-finite value\(s\) \(2 NaN, 1 ±Inf\)"),
    ("strings.npy", npy(np.array(["a", "b"])), "not numeric"),
    ("notzip.npz", b"PK\x03\x04garbage", "not a valid .npz"),
    ("bomb.npz", _zip_bomb(), "claims"),
    ("text.csv", b"1,2\nthree,4\n", "non-numeric CSV"),
    ("ragged.csv", b"1,2\n3\n", "different numbers of values"),
    ("latin1.csv", "1,2\n\xe9,3\n".encode("latin-1"), "not UTF-8"),
    ("short.safetensors", b"\x01\x02", "too short"),
    ("hugeheader.safetensors", struct.pack("<Q", 2**60) + b"{}", "claims 1,152,921,504,606,846,976 header bytes"),
    ("notjson.safetensors", struct.pack("<Q", 4) + b"{{{{", "not JSON"),
    ("forged.safetensors", _st({"w": {"dtype": "F32", "shape": [10**9], "data_offsets": [0, 4 * 10**9]}}, b"\0" * 8),
     "truncated or forged"),
    ("baddtype.safetensors", _st({"w": {"dtype": "C64", "shape": [1], "data_offsets": [0, 8]}}, b"\0" * 8), "dtype C64"),
    ("garbage.onnx", b"\x08\x07\x12garbage\xff\xff", "ONNX"),
    ("external.onnx", _external_onnx(), "external file"),
    ("weights.pt", b"\x80\x04\x95", "unknown extension '.pt'"),
    ("noext", b"123", "unknown extension"),
]


@pytest.mark.parametrize("name, data, message", BAD, ids=[b[0] for b in BAD])
def test_bad_files_are_refused_quickly_with_the_file_name(name, data, message):
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=message) as info:
        ql.load_tensors(data, name=name)
    assert time.perf_counter() - t0 < 2.0
    assert str(info.value).startswith(f"{name}:")


def test_pickled_member_in_npz_is_refused():
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as z:
        z.writestr("x.npy", npy(np.array([{"a": 1}], dtype=object), allow_pickle=True))
    with pytest.raises(ValueError, match="pickled array"):
        ql.load_tensors(b.getvalue(), name="p.npz")


def test_size_cap():
    with pytest.raises(ValueError, match="w.npy: the file has 640 bytes or more, over the 100-byte limit"):
        ql.load_tensors(npy(W), name="w.npy", max_bytes=100)


def test_pickle_payload_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    data = npy(np.array([Evil()], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="pickled array"):
        ql.load_tensors(data, name="evil.npy")
    assert not marker.exists()


def test_stored_types_name_each_tensor_as_its_file_stores_it(tmp_path):
    import io

    from safetensors.numpy import save as save_safetensors

    a16 = np.arange(64, dtype=np.float16).reshape(8, 8)
    assert ql.stored_types(save_safetensors({"w": a16, "i": np.arange(4, dtype=np.int8)}), name="m.safetensors") == \
        {"w": "F16", "i": "I8"}
    b = io.BytesIO()
    np.savez(b, half=a16, wide=np.ones(3))
    assert ql.stored_types(b.getvalue(), name="a.npz") == {"half": "float16", "wide": "float64"}
    assert ql.stored_types(b"1,2\n3,4\n", name="t.csv") == {"t": "text"}
    from quantlib.gguf_file import gguf_bytes

    x = np.random.default_rng(0).standard_normal((4, 64)).astype(np.float32)
    assert ql.stored_types(gguf_bytes(ql.Quantizer("q8_0")(x), "w"), name="m.gguf") == {"w": "Q8_0"}
    assert ql.loaders.is_block_type("Q8_0") and ql.loaders.is_block_type("IQ2_XXS")
    assert not ql.loaders.is_block_type("F16") and not ql.loaders.is_block_type("BF16")
    with pytest.raises(ValueError, match="unknown extension"):
        ql.stored_types(b"x", name="a.bin")
