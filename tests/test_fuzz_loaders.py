"""Fuzzing the loaders with mutated good files: only ValueError ever escapes, quickly."""

import io
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import helper, numpy_helper
from safetensors.numpy import save as st_save

import quantlib as ql

pytestmark = pytest.mark.slow  # a fuzz run: FUZZ_EXAMPLES (400) mutated files

W = np.random.default_rng(0).standard_normal((6, 5)).astype(np.float32)


def _npy() -> bytes:
    b = io.BytesIO()
    np.save(b, W)
    return b.getvalue()


def _npz() -> bytes:
    b = io.BytesIO()
    np.savez_compressed(b, w=W, v=np.arange(7))
    return b.getvalue()


def _onnx() -> bytes:
    g = helper.make_graph([], "g", [], [], initializer=[numpy_helper.from_array(W, "w")])
    return helper.make_model(g).SerializeToString()


def _gguf() -> bytes:
    """A small GGUF file (gguf-py's writer): metadata of several kinds, an F32 and a Q8_0 tensor."""
    import tempfile
    from pathlib import Path

    import gguf

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "a.gguf"
        w = gguf.GGUFWriter(str(path), "fuzz")
        w.add_array("fuzz.names", ["a", "bc"])
        w.add_tensor("w", W)
        w.add_tensor("q", gguf.quants.quantize(np.tile(W.reshape(-1), 3)[:64].reshape(2, 32), gguf.GGMLQuantizationType.Q8_0),
                     raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        return path.read_bytes()


GOOD = {
    "a.npy": _npy(),
    "a.npz": _npz(),
    "a.csv": b"x,y\n1,2\n3.5,-4\n",
    "a.safetensors": st_save({"w": W, "b": np.arange(3, dtype=np.int16)}),
    "a.onnx": _onnx(),
    "a.gguf": _gguf(),
}


@st.composite
def mutated(draw):
    name = draw(st.sampled_from(sorted(GOOD)))
    data = bytearray(GOOD[name])
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["flip", "set", "cut", "insert", "dup"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[pos:]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "dup":
            data += data[pos : pos + 64]
    return name, bytes(data)


@settings(max_examples=int(__import__("os").environ.get("FUZZ_EXAMPLES", 400)), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_files_load_or_raise_value_error(case):
    name, data = case
    t0 = time.perf_counter()
    try:
        out = ql.load_tensors(data, name=name)
    except ValueError as exc:
        assert str(exc).startswith(f"{name}:") or "limit" in str(exc)
    else:
        for a in out.values():  # whatever loads is a finite float32 tensor
            assert a.dtype == np.float32 and a.size > 0 and np.all(np.isfinite(a))
    assert time.perf_counter() - t0 < 2.0
