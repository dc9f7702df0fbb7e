"""quantlib's number formats against the real references, side by side, bit for bit.

References (expected values come from them only): ml_dtypes casts for the float formats;
``bitsandbytes.functional.quantize_4bit`` / ``dequantize_4bit`` on CPU for nf4 / fp4;
``gguf.quants.quantize`` / ``dequantize`` for Q8_0, Q4_0, Q4_1, Q5_0 and MXFP4 (dequantized values
and every packed field: scales, mins, codes); NVIDIA ModelOpt's ``NVFP4QTensor`` for nvfp4.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

import quantlib as ql
import quantlib.formats as fm
from conftest import cases, make_tensor

FLOAT_DTYPES = {f.name: f.dtype for f in fm.FLOATS.values()}
GGML_KINDS = ("normal", "laplace", "uniform", "relu", "outliers", "bimodal", "lognormal", "ties", "tiny",
              "constant", "all_zero")


def cast(x: np.ndarray, dtype) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        return x.astype(dtype)


# ------------------------------------------------------------------- ml_dtypes casts
def finite_values(dtype) -> np.ndarray:
    """Every finite value of the format, through ml_dtypes, as float64 (sorted, distinct)."""
    width = ml_dtypes.finfo(dtype).bits
    with np.errstate(invalid="ignore"):
        raw = np.arange(2**width, dtype=np.uint16 if width == 16 else np.uint8).view(dtype).astype(np.float64)
    return np.unique(raw[np.isfinite(raw)])


def special(kind: str, fmt: str) -> np.ndarray:
    """Hand-made tensors at the format's edges: ties, subnormals, overflow."""
    dtype = FLOAT_DTYPES[fmt]
    fi = ml_dtypes.finfo(dtype)
    v = finite_values(dtype)
    if kind == "midpoints":  # exactly halfway between neighbours: every one is a rounding tie
        mids = (v[:-1] + v[1:]) / 2
        x = np.concatenate([v, mids, np.nextafter(mids.astype(np.float32), np.float32(np.inf)),
                            np.nextafter(mids.astype(np.float32), np.float32(-np.inf))])
    elif kind == "subnormals":  # the format's subnormal range, in quarter steps
        x = np.outer([1, -1], np.arange(0, 4 * 2**fi.nmant + 5) * float(fi.smallest_subnormal) / 4).ravel()
    elif kind == "past_max":  # at, around and far past the largest finite value
        top, ulp = v[-1], v[-1] - v[-2]
        m = np.array([top, top + ulp / 2, top + ulp / 2 * (1 - 2**-20), top + ulp / 2 * (1 + 2**-20), top + ulp,
                      top * 1.5, top * 4, 3e38])
        x = np.concatenate([m, -m])
        x = x[np.abs(x) <= np.finfo(np.float32).max]  # bf16's neighbours past the max are beyond float32
    elif kind == "float32_edges":  # float32 subnormals and extremes
        f32 = np.finfo(np.float32)
        m = np.array([f32.smallest_subnormal, f32.smallest_subnormal * 3, f32.tiny, f32.tiny * 1.5, 1e-30, 1e30, f32.max])
        x = np.concatenate([m, -m, [0.0]])
    else:
        raise ValueError(kind)
    return np.asarray(x, dtype=np.float32)


SPECIAL = ("midpoints", "subnormals", "past_max", "float32_edges")
RANDOM = [("normal", 1.0), ("laplace", 30.0), ("outliers", 1.0), ("lognormal", 1e3), ("ties", 1.0), ("uniform", 1e-6),
          ("tiny", 1.0), ("huge", 1.0), ("constant", 1.0), ("all_zero", 1.0)]
FLOAT_TENSORS = [pytest.param(k, None, id=k) for k in SPECIAL] + [
    pytest.param(k, sc, id=f"{k}-x{sc:g}") for k, sc in RANDOM
]


def float_tensor(kind: str, scale: float | None, fmt: str) -> np.ndarray:
    return special(kind, fmt) if scale is None else make_tensor(kind, 2000, 0, scale)


@pytest.mark.parametrize("fmt", list(FLOAT_DTYPES))
@pytest.mark.parametrize("kind, scale", FLOAT_TENSORS)
def test_plain_cast_equals_ml_dtypes(fmt, kind, scale):
    """saturate=False, scaling='none': exactly ``x.astype(dtype)`` — or refused when that cast is non-finite."""
    x = float_tensor(kind, scale, fmt)
    ref = cast(x, FLOAT_DTYPES[fmt])
    ref32 = ref.astype(np.float32)
    q = ql.Quantizer(fmt, saturate=False)
    overflow = int(np.count_nonzero(~np.isfinite(ref32)))
    if overflow:
        with pytest.raises(ValueError, match=rf"{fmt} with saturate=False: {overflow} of {x.size} value\(s\) overflow"):
            q(x)
        return
    r = q(x)
    np.testing.assert_array_equal(r.dequantized, ref32)
    np.testing.assert_array_equal(r.codes, ref.view(r.codes.dtype))
    assert np.array_equal(np.signbit(r.dequantized), np.signbit(ref32))  # -0 stays -0


@pytest.mark.parametrize("fmt", list(FLOAT_DTYPES))
@pytest.mark.parametrize("kind, scale", FLOAT_TENSORS)
def test_saturating_cast_is_the_cast_with_overflow_clipped_to_max(fmt, kind, scale):
    x = float_tensor(kind, scale, fmt)
    dtype = FLOAT_DTYPES[fmt]
    ref32 = cast(x, dtype).astype(np.float32)
    top = np.float32(ml_dtypes.finfo(dtype).max)
    expected = np.where(np.isfinite(ref32), ref32, np.copysign(top, x))
    r = ql.Quantizer(fmt)(x)
    np.testing.assert_array_equal(r.dequantized, expected)
    np.testing.assert_array_equal(r.codes, cast(expected, dtype).view(r.codes.dtype))


@pytest.mark.parametrize("fmt", ["fp8_e4m3fn", "fp8_e5m2", "fp6_e2m3", "fp4_e2m1", "bf16"])
@pytest.mark.parametrize("kind, n, seed, scale", cases(("normal", "outliers", "lognormal", "tiny", "huge"), (1000,)))
def test_per_tensor_scaling_is_the_cast_of_x_over_amax_scale(fmt, kind, n, seed, scale):
    x = make_tensor(kind, n, seed, scale)
    dtype = FLOAT_DTYPES[fmt]
    top = np.float32(ml_dtypes.finfo(dtype).max)
    s = max(np.abs(x).max() / top, np.float32(2.0**-126))
    expected = cast(np.clip(x / s, -top, top), dtype).astype(np.float32) * s
    r = ql.Quantizer(fmt, scaling="per_tensor")(x)
    np.testing.assert_array_equal(r.dequantized, expected)
    assert r.clip_range == (-float(top) * float(s), float(top) * float(s))


def test_e4m3fn_overflow_rule_matches_ml_dtypes():
    """464 is the tie between 448 and the (NaN) code above it: it rounds to even 448; 479 becomes NaN."""
    assert cast(np.array([464.0, 479.0], np.float32), ml_dtypes.float8_e4m3fn).astype(np.float32)[0] == 448
    np.testing.assert_array_equal(ql.Quantizer("fp8_e4m3fn", saturate=False)(np.array([464.0], np.float32)).dequantized, [448])
    with pytest.raises(ValueError, match=r"1 of 2 value\(s\) overflow .* makes them NaN"):
        ql.Quantizer("fp8_e4m3fn", saturate=False)(np.array([464.0, 479.0], np.float32))
    with pytest.raises(ValueError, match=r"makes them ±inf"):
        ql.Quantizer("fp8_e5m2", saturate=False)(np.array([1e6], np.float32))


# ----------------------------------------------------------------------- bitsandbytes
def bnb_reference(x: np.ndarray, quant_type: str, block_size: int):
    """(dequantized, absmax, 4-bit codes) from bitsandbytes on CPU; eager (no torch.compile: an odd
    last dimension would otherwise compile bitsandbytes' fallback for seconds per shape)."""
    torch = pytest.importorskip("torch")
    bnb_functional = pytest.importorskip("bitsandbytes.functional")
    import torch._dynamo

    with torch._dynamo.config.patch(disable=True):
        packed, state = bnb_functional.quantize_4bit(torch.from_numpy(x.copy()), blocksize=block_size, quant_type=quant_type)
        deq = bnb_functional.dequantize_4bit(packed, state).numpy().reshape(x.shape)
    p = packed.numpy().reshape(-1)
    codes = np.stack([p >> 4, p & 15], axis=1).reshape(-1)[: x.size]  # first element in the high nibble
    return deq, state.absmax.numpy(), codes


def bnb_ties(n: int = 640) -> np.ndarray:
    """Blocks holding ±1 (absmax 1, so x is its own scaled value) and every codebook midpoint: all ties."""
    bnb_functional = pytest.importorskip("bitsandbytes.functional")
    codebooks = [np.sort(bnb_functional.get_4bit_type(t, device="cpu").numpy()) for t in ("nf4", "fp4")]
    mids = np.concatenate([(c[:-1] + c[1:]) / np.float32(2) for c in codebooks])
    x = np.resize(np.concatenate([mids, -mids, np.nextafter(mids, np.float32(2))]), n).reshape(-1, 64)
    x[:, 0], x[1::2, 0] = 1.0, -1.0
    return x.reshape(-1).astype(np.float32)


BNB_TENSORS = [
    *(pytest.param(k, (1000,), id=f"{k}-n1000") for k in ("normal", "laplace", "outliers", "ties", "tiny", "huge",
                                                            "constant", "all_zero")),
    pytest.param("normal", (64, 96), id="normal-64x96"),
    pytest.param("laplace", (32, 128), id="laplace-32x128"),
    pytest.param("lognormal", (4096,), id="lognormal-n4096"),
    pytest.param("normal", (1001,), id="normal-n1001-odd"),
    pytest.param("bnb_ties", (640,), id="midpoint-ties"),
]


@pytest.mark.parametrize("fmt, quant_type", [("nf4", "nf4"), ("fp4_bnb", "fp4")], ids=["nf4", "fp4"])
@pytest.mark.parametrize("block_size", [64, 32, 256, 4096])
@pytest.mark.parametrize("kind, shape", BNB_TENSORS)
def test_bitsandbytes_4bit_matches_quantize_4bit_dequantize_4bit(fmt, quant_type, block_size, kind, shape):
    """Blocks run over the flattened tensor, as ``quantize_4bit`` cuts them. bitsandbytes' CPU
    ``dequantize_4bit`` kernel (float32, even last dimension) instead reads absmax[r * (n // bs) + c // bs]
    for element (r, c) of an (m, n) tensor, which disagrees with its own quantize when n is not a
    multiple of the block size; such 2-D tensors are compared with bitsandbytes on the flattened tensor."""
    x = bnb_ties() if kind == "bnb_ties" else make_tensor(kind, int(np.prod(shape)), 3).reshape(shape)
    bnb_input = x.reshape(-1) if x.ndim > 1 and x.shape[-1] % block_size else x
    deq, absmax, codes = bnb_reference(bnb_input, quant_type, block_size)
    deq = deq.reshape(x.shape)
    ours = fm.bnb_quantize(x, fmt, block_size=block_size)
    np.testing.assert_array_equal(ours.dequantized, deq)
    np.testing.assert_array_equal(ours.scales, absmax)
    np.testing.assert_array_equal(ours.codes.reshape(-1), codes)
    r = ql.Quantizer(fmt, block_size=block_size)(x)
    np.testing.assert_array_equal(r.dequantized, deq)


# ------------------------------------------------------------------------------ gguf
GGUF_TYPES = {"q8_0": "Q8_0", "q4_0": "Q4_0", "q4_1": "Q4_1", "q5_0": "Q5_0", "mxfp4": "MXFP4"}


def nibbles(qs: np.ndarray) -> np.ndarray:
    """ggml packing of 32 4-bit values in 16 bytes: element j in the low nibble of byte j, j + 16 in the high one."""
    return np.concatenate([qs & 15, qs >> 4], axis=1)


def gguf_fields(fmt: str, raw: np.ndarray) -> dict[str, np.ndarray]:
    """Unpack gguf's bytes into (scales, offsets, codes) per block, as quantlib reports them."""
    b = raw.reshape(-1, {"q8_0": 34, "q4_0": 18, "q4_1": 20, "q5_0": 22, "mxfp4": 17}[fmt])
    if fmt == "mxfp4":
        return {"scales": np.ldexp(np.float32(1), b[:, 0].astype(np.int32) - 127), "codes": nibbles(b[:, 1:])}
    d = b[:, :2].copy().view(np.float16).astype(np.float32).reshape(-1)
    if fmt == "q8_0":
        return {"scales": d, "codes": b[:, 2:].view(np.int8)}
    if fmt == "q4_0":
        return {"scales": d, "codes": nibbles(b[:, 2:])}
    if fmt == "q4_1":
        return {"scales": d, "offsets": b[:, 2:4].copy().view(np.float16).astype(np.float32).reshape(-1),
                "codes": nibbles(b[:, 4:])}
    high = (b[:, 2:6].copy().view(np.uint32) >> np.arange(32, dtype=np.uint32)) & 1
    return {"scales": d, "codes": nibbles(b[:, 6:]) | (high.astype(np.uint8) << 4)}


def ggml_ties(fmt: str) -> np.ndarray:
    """Blocks whose scale makes x / d land exactly on .5 (ggml's rounding ties)."""
    k = np.arange(-127, 127) + 0.5
    if fmt == "q8_0":  # amax 127 -> d = 1: x * 1/d = k + .5
        blocks = np.resize(k, (8, 32))
        blocks[:, 0] = 127
    elif fmt in ("q4_0", "q5_0"):  # signed max -8 (-16) -> d = 1: trunc(x + 8.5) is the tie rule
        half = 8 if fmt == "q4_0" else 16
        blocks = np.resize(np.arange(-half, half) + 0.5, (8, 32))
        blocks[:, 0] = -half
    elif fmt == "q4_1":  # min 0, max 15 -> d = 1: trunc(x + .5)
        blocks = np.resize(np.arange(15) + 0.5, (8, 32))
        blocks[:, 0], blocks[:, 1] = 0, 15
    else:  # mxfp4: amax 6 -> E = 0, scale 1: every E2M1 midpoint, both signs
        mids = np.array([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, 7.0])
        blocks = np.resize(np.concatenate([mids, -mids]), (8, 32))
        blocks[:, 0] = 6
    return blocks.reshape(-1).astype(np.float32)


def below_powers_of_two(n: int = 4096) -> np.ndarray:
    """Blocks whose amax sits a few float32 ulps below 2**k: where float32 log2 rounds up."""
    rng = np.random.default_rng(7)
    top = np.ldexp(np.float32(1), rng.integers(-20, 16, n // 32)).astype(np.float32)
    x = rng.uniform(-0.99, 0.99, (n // 32, 32)).astype(np.float32) * top[:, None]
    step = rng.integers(1, 40, n // 32)
    x[:, 5] = [np.float32(t) - np.float32(s) * np.spacing(np.float32(t) / 2) for t, s in zip(top, step)]
    return x.reshape(-1)


GGUF_TENSORS = [
    *(pytest.param(k, (4096,), id=f"{k}-n4096") for k in GGML_KINDS),
    pytest.param("normal", (64, 96), id="normal-64x96"),
    pytest.param("laplace", (96, 64), id="laplace-96x64"),
    pytest.param("ties", None, id="rounding-ties"),
    pytest.param("below_pow2", None, id="amax-just-below-powers-of-two"),
]


@pytest.mark.parametrize("fmt", list(GGUF_TYPES))
@pytest.mark.parametrize("kind, shape", GGUF_TENSORS)
def test_ggml_and_mxfp4_match_gguf_quants_bit_for_bit(fmt, kind, shape):
    gguf = pytest.importorskip("gguf")
    if shape is None:
        x = ggml_ties(fmt) if kind == "ties" else below_powers_of_two()
    else:
        x = make_tensor(kind, int(np.prod(shape)), 4).reshape(shape)
    qtype = getattr(gguf.GGMLQuantizationType, GGUF_TYPES[fmt])
    raw = gguf.quants.quantize(x, qtype)
    ref = gguf.quants.dequantize(raw, qtype)
    ours = fm.mx_quantize(x, fmt) if fmt == "mxfp4" else fm.ggml_quantize(x, fmt)
    np.testing.assert_array_equal(ours.dequantized, ref)
    fields = gguf_fields(fmt, raw)
    np.testing.assert_array_equal(ours.scales, fields["scales"])
    np.testing.assert_array_equal(ours.codes.reshape(-1, 32), fields["codes"])
    if "offsets" in fields:
        np.testing.assert_array_equal(ours.offsets, fields["offsets"])
    np.testing.assert_array_equal(ql.Quantizer(fmt)(x).dequantized, ref)


@pytest.mark.parametrize("fmt", ["q8_0", "q4_0", "q4_1", "q5_0"])
def test_ggml_refuses_what_gguf_turns_into_inf(fmt):
    """|x| ~ 1e30 needs a block scale beyond float16: gguf stores inf, quantlib says so."""
    gguf = pytest.importorskip("gguf")
    x = make_tensor("huge", 256, 0)
    qtype = getattr(gguf.GGMLQuantizationType, GGUF_TYPES[fmt])
    with np.errstate(all="ignore"):
        assert not np.all(np.isfinite(gguf.quants.dequantize(gguf.quants.quantize(x, qtype), qtype)))
    with pytest.raises(ValueError, match=rf"{fmt} stores the block .* as float16 \(max 65504\)"):
        ql.Quantizer(fmt)(x)


def test_mxfp4_huge_and_tiny_magnitudes_match_gguf():
    gguf = pytest.importorskip("gguf")
    x = np.concatenate([make_tensor("huge", 1024, 1), make_tensor("tiny", 1024, 2)])
    qtype = gguf.GGMLQuantizationType.MXFP4
    np.testing.assert_array_equal(fm.mx_quantize(x, "mxfp4").dequantized,
                                  gguf.quants.dequantize(gguf.quants.quantize(x, qtype), qtype))


# ----------------------------------------------------------------------- ModelOpt NVFP4
@pytest.mark.parametrize("kind, n, seed, scale", cases(("normal", "laplace", "outliers", "lognormal", "ties", "tiny", "huge",
                                                        "constant"), (1024,)) + cases(("normal",), (16 * 37,), scales=(3e4,)))
def test_nvfp4_matches_modelopt_nvfp4_qtensor(kind, n, seed, scale):
    torch = pytest.importorskip("torch")
    nvfp4 = pytest.importorskip("modelopt.torch.quantization.qtensor.nvfp4_tensor")
    x = make_tensor(kind, n, seed, scale)
    qt, block_scale, global_scale = nvfp4.NVFP4QTensor.quantize(torch.from_numpy(x.copy()), 16)
    ref = qt.dequantize(dtype=torch.float32, scale=block_scale, double_scale=global_scale, block_sizes={-1: 16}).numpy()
    ours = fm.nvfp4_quantize(x)
    np.testing.assert_array_equal(ours.dequantized, ref)
    packed = qt._quantized_data.numpy().reshape(-1)
    np.testing.assert_array_equal(ours.codes, np.stack([packed & 15, packed >> 4], axis=1).reshape(-1))
    np.testing.assert_array_equal(ours.scales.astype(ml_dtypes.float8_e4m3fn).view(np.uint8),
                                  block_scale.view(torch.uint8).numpy().reshape(-1))
    assert ours.global_scale == float(global_scale)
