"""quantlib's ggml types against ggml's own C quantizer, bit for bit.

The reference is ``ggml_quantize_chunk`` from the ``ggml-python`` package (ggml built from its
sdist; the ``test`` extra installs it): its bytes are compared with :func:`quantlib.to_ggml_bytes`
byte for byte, and gguf-py's dequantization of those bytes with quantlib's dequantized values
(exact equality), with and without importance weights (llama.cpp's ``quant_weights``). Expected
values come from ggml and gguf only.
"""

from __future__ import annotations

import ctypes

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import quantlib as ql
import quantlib.formats as fm
from conftest import make_tensor

ggml = pytest.importorskip("ggml", reason="ggml-python (ggml's C quantizer) is not importable; "
                                          "pip install -e '.[test]' builds it")
gguf = pytest.importorskip("gguf")

NEW_TYPES = list(fm.KQUANT_FORMATS)
WEIGHTED = [n for n in NEW_TYPES if not n.startswith("tq")]  # ggml ignores importance for tq1_0 / tq2_0
LEGACY = ["q8_0", "q4_0", "q4_1", "q5_0"]
KINDS = ("normal", "laplace", "uniform", "relu", "outliers", "bimodal", "lognormal", "ties", "constant", "all_zero")


def ggml_quantize(x: np.ndarray, name: str, imatrix: np.ndarray | None = None) -> tuple[bytes, np.ndarray]:
    """(ggml's bytes, gguf's dequantization of them) for ``x`` as rows of its last axis."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    n = x.shape[-1]
    rows = x.size // n
    t = getattr(ggml, f"GGML_TYPE_{name.upper()}")
    size = ggml.ggml_row_size(t, n) * rows
    dst = np.zeros(size, np.uint8)
    fptr = ctypes.POINTER(ctypes.c_float)
    w = None if imatrix is None else np.ascontiguousarray(imatrix, np.float32)
    written = ggml.ggml_quantize_chunk(t, x.ctypes.data_as(fptr), dst.ctypes.data, 0, rows, n,
                                       None if w is None else w.ctypes.data_as(fptr))
    assert written == size
    deq = gguf.quants.dequantize(dst, getattr(gguf.GGMLQuantizationType, name.upper()))
    return dst.tobytes(), deq.reshape(x.shape)


def tensor(kind: str, shape: tuple[int, ...], seed: int, scale: float = 1.0) -> np.ndarray:
    return make_tensor(kind, int(np.prod(shape)), seed, scale).reshape(shape)


def importance(n: int, seed: int, kind: str = "squares") -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "squares":  # like llama-imatrix's mean squared activations: spread over decades
        return (rng.standard_normal(n) ** 2 * rng.lognormal(0, 1.5, n)).astype(np.float32)
    w = rng.random(n).astype(np.float32)
    w[rng.random(n) < 0.3] = 0  # many columns that do not matter at all
    return w


def assert_same_as_ggml(x: np.ndarray, name: str, imatrix: np.ndarray | None = None) -> None:
    raw, deq = ggml_quantize(x, name, imatrix)
    r = ql.Quantizer(name)(x) if imatrix is None else ql.Quantizer(name, imatrix=imatrix)(x)
    ours = ql.to_ggml_bytes(r)
    if ours != raw:
        nb = r.ggml_blocks.raw.shape
        diff = np.flatnonzero((np.frombuffer(ours, np.uint8) != np.frombuffer(raw, np.uint8)).reshape(nb).any(axis=1))
        pytest.fail(f"{name}: {diff.size} of {nb[0]} blocks differ from ggml's bytes, first {diff[:5]}")
    np.testing.assert_array_equal(r.dequantized, deq)


ROWS = [
    *(pytest.param(k, (8, 512), 0, 1.0, id=f"{k}-8x512") for k in KINDS),
    pytest.param("normal", (4, 2048), 1, 1e-3, id="normal-4x2048-x1e-3"),
    pytest.param("normal", (4, 1024), 2, 3e3, id="normal-4x1024-x3e3"),
    pytest.param("laplace", (2, 4096), 3, 1e-6, id="laplace-2x4096-x1e-6"),
    pytest.param("tiny", (2, 1024), 4, 1.0, id="tiny-1e-30"),
    pytest.param("outliers", (16, 256), 5, 1.0, id="outliers-16x256"),
    pytest.param("normal", (3, 2, 768), 6, 1.0, id="normal-3x2x768"),
]


@pytest.mark.parametrize("name", NEW_TYPES + LEGACY)
@pytest.mark.parametrize("kind, shape, seed, scale", ROWS)
def test_bytes_and_values_equal_ggml_without_imatrix(name, kind, shape, seed, scale):
    assert_same_as_ggml(tensor(kind, shape, seed, scale), name)


@pytest.mark.parametrize("name", WEIGHTED + LEGACY)
@pytest.mark.parametrize("kind, shape, seed, scale", ROWS)
@pytest.mark.parametrize("weights", ["squares", "sparse"])
def test_bytes_and_values_equal_ggml_with_imatrix(name, kind, shape, seed, scale, weights):
    x = tensor(kind, shape, seed, scale)
    assert_same_as_ggml(x, name, importance(x.shape[-1], seed, weights))


@pytest.mark.parametrize("name", NEW_TYPES + LEGACY)
def test_special_blocks_equal_ggml(name):
    """All-zero, constant, one-outlier, two-valued and sign-alternating sub-blocks side by side in one row."""
    rng = np.random.default_rng(9)
    x = rng.standard_normal((6, 1024)).astype(np.float32)
    x[0, :300] = 0
    x[1, 256:512] = 2.5
    x[1, 512:544] = -7
    x[2, ::97] = 300
    x[3, :] = np.where(np.arange(1024) % 2, 1.0, -1.0)
    x[4, :64] = 1e-20
    x[5, 32:64] = np.linspace(-1, 1, 32)
    assert_same_as_ggml(x, name)
    if name in WEIGHTED + LEGACY:
        assert_same_as_ggml(x, name, importance(1024, 1))
        assert_same_as_ggml(x, name, np.ones(1024, np.float32))


@pytest.mark.parametrize("name", NEW_TYPES)
def test_huge_magnitudes_equal_ggml_or_are_refused_where_ggml_stores_inf(name):
    """Past float16's range ggml stores an inf scale (refused here with a ValueError); further out
    its float32 sums overflow and some types store zeros instead, which quantlib reproduces."""
    refused = 0
    for scale in (1e4, 1e5, 1e6, 1e10, 1e20, 1e30):
        x = make_tensor("normal", 1024, 0, scale).reshape(2, 512)
        with np.errstate(all="ignore"):
            finite = np.all(np.isfinite(ggml_quantize(x, name)[1]))
        if finite:
            assert_same_as_ggml(x, name)
        else:
            refused += 1
            with pytest.raises(ValueError, match=rf"{name} stores its block scales as float16"):
                ql.Quantizer(name)(x)
    assert refused


@pytest.mark.parametrize("name", NEW_TYPES)
def test_bits_per_weight_are_ggml_type_sizes(name):
    t = getattr(ggml, f"GGML_TYPE_{name.upper()}")
    x = make_tensor("normal", 4096, 0)
    r = ql.Quantizer(name)(x)
    assert r.bits_per_element == 8 * ggml.ggml_row_size(t, 4096) / 4096
    assert len(ql.to_ggml_bytes(r)) == ggml.ggml_row_size(t, 4096)


@st.composite
def rows_and_weights(draw):
    """A (rows, k * 256) float32 tensor of hypothesis-chosen values (ties, repeats, zeros, wide magnitudes)
    and, half of the time, importance weights with zeros among them."""
    rows, k = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    scale = draw(st.sampled_from([1e-3, 1.0, 37.0, 1e3]))
    pool = draw(hnp.arrays(np.float32, 16, elements=st.floats(-4, 4, width=32)))  # few distinct values: ties
    x = draw(hnp.arrays(np.float32, (rows, 256 * k),
                        elements=st.one_of(st.floats(-8, 8, width=32), st.sampled_from(list(pool)))))
    w = draw(st.none() | hnp.arrays(np.float32, 256 * k, elements=st.floats(0, 100, width=32)))
    return (x * np.float32(scale)).astype(np.float32), w


@pytest.mark.parametrize("name", NEW_TYPES + LEGACY)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=rows_and_weights())
def test_hypothesis_tensors_equal_ggml(name, case):
    x, w = case
    assert_same_as_ggml(x, name, w if name in WEIGHTED + LEGACY else None)


@pytest.mark.parametrize("name", NEW_TYPES)
def test_live_formula_shows_the_first_blocks_stored_scales(name):
    """The formula carries the numbers ggml stores: the fp16 d of block 0 (and its first sub-block's codes)."""
    from quantlib._shared import latex_g

    x = tensor("laplace", (2, 512), 7)
    r = ql.Quantizer(name)(x)
    text = ql.SCHEMES[name].live_formula(r)
    raw = np.frombuffer(ql.to_ggml_bytes(r), np.uint8).reshape(r.ggml_blocks.raw.shape)[0]
    d_offset = {"q5_1": 0, "q2_k": 80, "q3_k": 108, "q4_k": 0, "q5_k": 0, "q6_k": 208, "iq4_nl": 0, "iq4_xs": 0,
                "tq1_0": 52, "tq2_0": 64}[name]  # where ggml's block struct keeps its fp16 d
    d = float(raw[d_offset:d_offset + 2].view(np.float16)[0])
    assert latex_g(d) in text
    assert "sub-block 0" in text or fm.KQUANT_FORMATS[name].nsub == 1
    assert latex_g(float(r.dequantized.reshape(-1)[0])) in text


@pytest.mark.parametrize("name", ["q4_k", "q5_k"])
def test_a_lone_value_with_zero_importance_matches_ggml(name):
    """Found by the hypothesis test: a sub-block whose only non-zero value has importance 0 makes
    ggml divide by a zero weight sum (inf in C); numba's default raised ZeroDivisionError."""
    x = np.zeros((1, 256), np.float32)
    x[0, 4] = -0.00675
    w = np.random.default_rng(0).uniform(0, 100, 256).astype(np.float32)
    w[4] = 0.0
    assert_same_as_ggml(x, name, w)


# Found by the hypothesis test (row 0 all -3.25; row 1 mostly -3.25 and these values; importance only on
# columns 160, 161, 186, all three -3.25 in row 1).
HYPOTHESIS_Q4K_ROW = {0: 0.0, 1: 0.0, 2: 0.562617, 3: 0.5, 4: 1.7085097, 5: -5.155674, 9: -7.5736995, 18: 0.0,
                      27: 7.0271177, 29: 0.0, 31: 0.0, 36: 0.0, 42: -0.9, 55: -5.4331045, 59: 0.0, 81: 0.0,
                      89: 0.0, 94: 5.0946636, 97: 0.0, 107: 0.0, 110: 0.4005785, 125: 0.0, 127: 0.0,
                      144: -5.865474, 148: -4.567055, 154: 5.1914988, 158: 0.2865322, 165: 0.0, 170: -7.589554,
                      172: 0.0, 177: 0.0, 187: 0.0, 192: 8.0, 198: -3.1972356, 199: -4.3236427, 200: 0.0,
                      201: 7.335249, 217: 1.7964437, 232: -5.309695, 247: 0.0}


@pytest.mark.parametrize("name", WEIGHTED)
def test_a_negative_sub_block_scale_matches_ggml(name):
    """Found by the hypothesis test (q4_k). Degenerate condition: every weighted value of a sub-block is
    the same (-3.25, the others have importance 0), so make_qkx3_quants' D = sum_w sum_l2 - sum_l**2
    is 0 in exact arithmetic but a float32 rounding makes it positive; the fit then takes
    this_min > 0 -> 0 and a NEGATIVE scale sum_xl / sum_l2 that beats the first guess. make_qp_quants
    then codes that scale as a negative l: it stores uint8 L = 256 + l but sums w x l with the int l
    (quantlib summed the wrapped code, so d came out negative), and quantize_row_q4_K_impl packs the
    uint8 code unclamped, its top bits landing in sub-block j + 4's scale (q5_k clamps it to 63).
    The second tensor has such sub-blocks at j = 1 and j = 5 of one super-block."""
    x = np.full((2, 256), -3.25, np.float32)
    x[1, list(HYPOTHESIS_Q4K_ROW)] = list(HYPOTHESIS_Q4K_ROW.values())
    w = np.zeros(256, np.float32)
    w[[160, 161, 186]] = [12, 68, 1]
    assert_same_as_ggml(x, name, w)
    y = np.full((1, 256), -3.25, np.float32)
    y[0, 0::32] = 0.0
    y[0, 10::32] = -7.5
    v = np.zeros(256, np.float32)
    v[[33, 34, 58, 161, 162, 186]] = [46, 98, 96, 96, 66, 1]
    assert_same_as_ggml(y, name, v)
