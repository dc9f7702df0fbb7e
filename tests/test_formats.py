"""Number-format and non-uniform schemes: properties per family, sizes and bits, bad input.

Properties (hypothesis): codes stay within the format's code range / codebook; every value goes
to a nearest representable value, so inside the range the error is at most half the local level
spacing; quantize∘dequantize is idempotent where the format's scale survives a second pass.
The side-by-side checks against ml_dtypes, bitsandbytes, gguf and ModelOpt are in
test_reference_formats.py.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import quantlib as ql
import quantlib.formats as fm
import quantlib.nonuniform as nu

NEW_SCHEMES = (
    *fm.FLOATS, *fm.MX_FORMATS, "nvfp4", *fm.BNB_FORMATS, *fm.GGML_FORMATS, "int_group", "quantile", "lloyd_max", "log2",
)
X = np.random.default_rng(5).standard_normal((32, 64)).astype(np.float32)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# a test parametrized over formats (and options) is one hypothesis run per case: 25 tensors of up to
# 70 x 70 values each, so a family still sees 100-300 tensors
PER_CASE = settings(SETTINGS, max_examples=25)
finite = st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False, width=32)
tensors = hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=70), elements=finite)


def assert_nearest(x: np.ndarray, xhat: np.ndarray, levels: np.ndarray, tol: float | np.ndarray = 0.0) -> None:
    """Inside [levels[0], levels[-1]]: |x - x_hat| <= half the gap between the levels around x (+ tol)."""
    x, xhat, lv = (np.asarray(a, np.float64).ravel() for a in (x, xhat, levels))
    tol = np.broadcast_to(np.asarray(tol, np.float64).ravel(), x.shape) if np.ndim(tol) else np.full(x.shape, tol)
    inside = (x >= lv[0]) & (x <= lv[-1])
    hi = lv[np.minimum(np.searchsorted(lv, x[inside], "left"), lv.size - 1)]
    lo = lv[np.maximum(np.searchsorted(lv, x[inside], "right") - 1, 0)]
    err = np.abs(x[inside] - xhat[inside])
    bad = err > (hi - lo) / 2 + tol[inside]
    assert not bad.any(), f"x={x[inside][bad][:5]}, x_hat={xhat[inside][bad][:5]}, levels around: {lo[bad][:5]}, {hi[bad][:5]}"


def signed_levels(values: np.ndarray) -> np.ndarray:
    return np.unique(np.concatenate([values, -values]))


# ----------------------------------------------------------------------------- registry
@pytest.mark.parametrize("name", NEW_SCHEMES)
@pytest.mark.parametrize("shape", [(32, 64), (1000,), (1,), (3, 5, 7)], ids=["32x64", "n1000", "n1", "3x5x7"])
def test_scheme_is_registered_complete_and_runs_on_any_shape(name, shape):
    spec = ql.SCHEMES[name]
    assert spec.family and spec.description and spec.formula and spec.settings
    assert all(s.help for s in spec.settings)
    x = np.resize(X, shape)
    r = ql.Quantizer(name)(x)
    assert r.scheme == name and r.codes.shape == x.shape and r.codes.dtype.kind in "iu"
    assert r.dequantized.shape == x.shape and r.dequantized.dtype == np.float32
    assert np.all(np.isfinite(r.dequantized))
    if r.levels is not None:
        assert r.levels.dtype == np.float32 and np.all(np.diff(r.levels) > 0)
    assert r.metrics(x).bits_per_element == r.bits_per_element


@pytest.mark.parametrize(
    "name, settings, size, expected",
    [
        ("mxfp4", {}, 4096, 4.25),
        ("mxfp6_e2m3", {}, 4096, 6.25),
        ("mxfp8_e4m3", {}, 4096, 8.25),
        ("mxint8", {}, 4096, 8.25),
        ("mxfp4", {}, 1000, 4 + 8 * 32 / 1000),  # 31 full blocks and a short one
        ("nvfp4", {}, 4096, 4 + 8 / 16 + 32 / 4096),
        ("nf4", {}, 4096, 4.5),
        ("fp4_bnb", {"block_size": 128}, 4096, 4.25),
        ("nf4", {}, 1000, 4 + 32 * 16 / 1000),
        ("q8_0", {}, 4096, 8.5),
        ("q4_0", {}, 4096, 4.5),
        ("q4_1", {}, 4096, 5.0),
        ("q5_0", {}, 4096, 5.5),
        ("int_group", {}, 4096, 4 + 32 / 128),
        ("int_group", {"symmetric": False, "bits": 3, "group_size": 32}, 4096, 3 + (32 + 3) / 32),
        ("fp8_e4m3fn", {}, 4096, 8.0),
        ("fp8_e4m3fn", {"scaling": "per_tensor"}, 4096, 8 + 32 / 4096),
        ("fp16", {}, 4096, 16.0),
        ("fp4_e2m1", {}, 4096, 4.0),
        ("fp6_e3m2", {"scaling": "per_channel"}, 4096, 6 + 32 * 64 / 4096),
        ("log2", {"bits": 5}, 4096, 5 + 8 / 4096),
        ("quantile", {"bits": 3}, 4096, 3 + 32 * 8 / 4096),
    ],
    ids=lambda v: str(v) if not isinstance(v, dict) else ",".join(f"{k}={w}" for k, w in v.items()) or "defaults",
)
def test_bits_per_element_counts_the_scales(name, settings, size, expected):
    x = np.random.default_rng(1).standard_normal(size).astype(np.float32)
    x = x.reshape(64, -1) if settings.get("scaling") == "per_channel" else x
    assert ql.Quantizer(name, **settings)(x).bits_per_element == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("name", NEW_SCHEMES)
def test_bit_sweeps_put_each_format_at_the_bits_it_costs(name):
    spec = ql.SCHEMES[name]
    df = ql.sweep_bits(X, name, [2, 4, 8, 16])
    assert df["sqnr_db"].notna().all()
    own = df[df["series"] == ql.sweeps.series_of(name)]
    if spec.fixed_width:  # one point per format of the family, each at its own cost: no flat line over bit widths
        assert own["scheme"].is_unique and name in set(own["scheme"])
        assert set(own["scheme"]) <= {n for n, s in ql.SCHEMES.items() if s.family == spec.family}
        mine = own[own["scheme"] == name].iloc[0]
        assert mine["bits_per_element"] == ql.Quantizer(name)(X).bits_per_element
    else:
        assert list(own["bits"]) == [min(b, 12) if name == "lloyd_max" else b for b in [2, 4, 8, 16]] or \
            len(own) == 4


# ------------------------------------------------------------------------------ floats
@pytest.mark.slow
@PER_CASE
@pytest.mark.parametrize("fmt", list(fm.FLOATS))
@given(x=tensors)
def test_float_cast_is_nearest_value_and_idempotent(fmt, x):
    f = fm.FLOATS[fmt]
    r = ql.Quantizer(fmt)(x)
    assert int(r.codes.max()) < 2**f.bits
    assert_nearest(x, r.dequantized, r.levels)
    assert np.abs(r.dequantized).max() <= f.max
    np.testing.assert_array_equal(ql.Quantizer(fmt)(r.dequantized).dequantized, r.dequantized)


@pytest.mark.slow
@PER_CASE
@pytest.mark.parametrize("fmt", ["fp8_e4m3fn", "fp8_e5m2fnuz", "fp6_e3m2", "fp4_e2m1", "bf16"])
@given(x=tensors)
def test_per_tensor_scaling_maps_amax_to_max_and_rounds_to_nearest_scaled_value(fmt, x):
    r = ql.Quantizer(fmt, scaling="per_tensor")(x)
    amax = np.abs(x).max()
    if amax > 0:  # the scale is at least 2**-126 (bf16: amax below ~4 sits inside the range)
        assert r.clip_range[1] == pytest.approx(max(amax, fm.FLOATS[fmt].max * 2.0**-126), rel=1e-6)
    tol = 4 * np.spacing(np.abs(x).astype(np.float32))  # x / s and the product back are float32 roundings
    assert_nearest(x, r.dequantized, r.levels, tol)


def test_per_channel_scaling_gives_each_channel_its_own_scale():
    x = X * np.logspace(-3, 3, 32, dtype=np.float32)[:, None]
    r = ql.Quantizer("fp8_e4m3fn", scaling="per_channel", axis=0)(x)
    amax, top = np.abs(x).max(axis=1), np.abs(r.dequantized).max(axis=1)
    np.testing.assert_allclose(top, amax, rtol=1e-6)
    assert r.levels is None and r.clip_range is None
    assert ql.Quantizer("fp8_e4m3fn", scaling="per_channel", axis=1)(x).bits_per_element == 8 + 32 * 64 / x.size


def test_saturate_false_is_refused_with_the_overflow_count_and_remedy():
    x = np.array([1.0, 500.0, -1000.0], np.float32)
    with pytest.raises(ValueError, match=r"fp8_e4m3fn with saturate=False: 2 of 3 value\(s\) overflow .*448.* NaN; "
                                         r"use saturate=True to clip them to ±448, or a scaling"):
        ql.Quantizer("fp8_e4m3fn", saturate=False)(x)
    np.testing.assert_array_equal(ql.Quantizer("fp8_e4m3fn")(x).dequantized, [1, 448, -448])
    np.testing.assert_array_equal(ql.Quantizer("fp4_e2m1", saturate=False)(x).dequantized, [1, 6, -6])  # fp4 saturates
    assert np.all(np.isfinite(ql.Quantizer("fp8_e4m3fn", saturate=False, scaling="per_tensor")(x).dequantized))


# ------------------------------------------------------------------------ microscaling
def mx_element_levels(f: fm.MXFormat) -> np.ndarray:
    if f.element is np.int8:
        return np.arange(-127, 128) / 64
    v = np.arange(2 ** ml_dtypes.finfo(f.element).bits, dtype=np.uint8).view(f.element).astype(np.float64)
    return np.unique(v[np.isfinite(v)])


@pytest.mark.slow
@PER_CASE
@pytest.mark.parametrize("fmt", list(fm.MX_FORMATS))
@pytest.mark.parametrize("ties", fm.MX_TIES)
@given(x=tensors)
def test_mx_elements_are_nearest_and_the_scale_is_the_shared_power_of_two(fmt, ties, x):
    f = fm.MX_FORMATS[fmt]
    r = fm.mx_quantize(x, fmt, ties=ties)
    assert (r.codes.min() >= -127 and r.codes.max() <= 127) if f.element is np.int8 else int(r.codes.max()) < 2**f.bits
    pad = -x.size % 32
    scale = np.repeat(r.scales, 32)[: x.size]
    assert np.all(np.log2(r.scales) == np.round(np.log2(r.scales)))
    assert_nearest(x.ravel() / scale, r.dequantized.ravel() / scale, mx_element_levels(f))
    amax = np.abs(np.concatenate([x.ravel(), np.full(pad, x.ravel()[-1])])).reshape(-1, 32).max(axis=1)
    ratio = (amax / r.scales)[amax > 2.0**-100]
    assert np.all(ratio < 2.0 ** (f.emax + 1)) and np.all(ratio >= 2.0**f.emax * (1 - 2.0**-16))
    np.testing.assert_array_equal(fm.mx_quantize(r.dequantized, fmt, ties=ties).dequantized, r.dequantized)


@pytest.mark.slow
@PER_CASE
@pytest.mark.parametrize("fmt", list(fm.MX_FORMATS))
@given(x=tensors)
def test_mx_ceil_exponent_never_saturates(fmt, x):
    f = fm.MX_FORMATS[fmt]
    r = fm.mx_quantize(x, fmt, exponent="ceil")
    scale = np.repeat(r.scales, 32)[: x.size]
    elem_max = mx_element_levels(f)[-1]
    assert np.all(np.abs(x.ravel()) / scale <= elem_max)
    assert_nearest(x.ravel() / scale, r.dequantized.ravel() / scale, mx_element_levels(f))


@pytest.mark.parametrize(
    "ties, expected",
    [("toward_zero", [0, 0.5, 1, 1.5, 2, 3, 4, 4, 6, -0.5, 0]), ("even", [0, 1, 1, 2, 2, 4, 4, 4, 6, -1, -0])],
)
def test_mxfp4_tie_rules(ties, expected):
    """Block amax 6 -> scale 1; 0.25, 0.75, ... 5 are exact ties; 7 saturates to 6."""
    x = np.array([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 4.5, 5, 7, -0.75, -0.1] + [6.0] * 21, np.float32)
    r = ql.Quantizer("mxfp4", ties=ties)(x)
    np.testing.assert_array_equal(r.dequantized[:11], expected)
    assert r.codes[10] == (0 if ties == "toward_zero" else 8)  # gguf writes +0 for a value that rounds to zero


def test_mx_floor_exponent_saturates_where_ceil_does_not():
    x = np.full(32, 7.9, np.float32)  # floor(log2 7.9) - 2 = 0: scale 1, 7.9 saturates to 6
    assert ql.Quantizer("mxfp4")(x).dequantized[0] == 6
    assert ql.Quantizer("mxfp4", exponent="ceil")(x).dequantized[0] == 8  # scale 2, element 4


@pytest.mark.parametrize("name", [*fm.MX_FORMATS, *fm.GGML_FORMATS])
def test_a_short_last_block_is_quantized_on_its_own(name):
    x = make = np.random.default_rng(3).standard_normal(1000).astype(np.float32)
    x[-3] = 40.0  # an outlier in the short block must not touch the full blocks
    whole = ql.Quantizer(name)(x).dequantized
    parts = np.concatenate([ql.Quantizer(name)(make[:992]).dequantized, ql.Quantizer(name)(make[992:]).dequantized])
    np.testing.assert_array_equal(whole, parts)
    with pytest.raises(ValueError, match=rf"{name} needs a tensor size that is a multiple of its block size 32; got 1000"):
        ql.Quantizer(name, partial_block="error")(x)


# ------------------------------------------------------------------------------- nvfp4
@pytest.mark.slow
@SETTINGS
@given(x=tensors)
def test_nvfp4_elements_are_nearest_e2m1_values_of_their_block(x):
    r = fm.nvfp4_quantize(x)
    assert int(r.codes.max()) < 16
    scale = np.repeat(r.scales * np.float32(r.global_scale), 16)[: x.size].astype(np.float64)
    assert np.all(r.scales <= 448)
    assert_nearest(x.ravel() / scale, r.dequantized.ravel() / scale, signed_levels(np.array([0, .5, 1, 1.5, 2, 3, 4, 6])),
                   tol=1e-6)


# ------------------------------------------------------------------------ bitsandbytes
@pytest.mark.slow
@PER_CASE
@pytest.mark.parametrize("fmt", list(fm.BNB_FORMATS))
@pytest.mark.parametrize("block_size", [32, 64, 256])
@given(x=tensors)
def test_bnb_values_are_nearest_codebook_entries_times_absmax(fmt, block_size, x):
    r = fm.bnb_quantize(x, fmt, block_size=block_size)
    assert int(r.codes.max()) < 16
    code = fm.BNB_FORMATS[fmt]
    absmax = np.repeat(r.scales, block_size)[: x.size].astype(np.float64)
    np.testing.assert_array_equal(r.dequantized.ravel(), code[r.codes.ravel()] * absmax.astype(np.float32))
    ok = absmax > 1e-37  # bitsandbytes floors absmax at 1e-38 in the reciprocal: subnormal blocks become 0
    assert_nearest(x.ravel()[ok] / absmax[ok], code[r.codes.ravel()][ok], np.unique(code), tol=1e-6)
    again = fm.bnb_quantize(r.dequantized, fmt, block_size=block_size).dequantized
    np.testing.assert_array_equal(again.ravel()[ok], r.dequantized.ravel()[ok])


# -------------------------------------------------------------------------------- ggml
@pytest.mark.slow
@PER_CASE
@pytest.mark.parametrize("fmt", list(fm.GGML_FORMATS))
@given(x=tensors)
def test_ggml_codes_in_range_and_error_within_half_a_step(fmt, x):
    f = fm.GGML_FORMATS[fmt]
    r = fm.ggml_quantize(x, fmt)
    lo, hi = (-127, 127) if fmt == "q8_0" else (0, 2**f.bits - 1)
    assert r.codes.min() >= lo and r.codes.max() <= hi
    d = np.abs(np.repeat(r.scales, 32)[: x.size]).astype(np.float64)
    flat = np.resize(x.ravel(), -(-x.size // 32) * 32)
    flat[x.size:] = x.ravel()[-1]
    block_amax = np.repeat(np.abs(flat).reshape(-1, 32).max(axis=1), 32)[: x.size].astype(np.float64)
    # half a step, plus what storing d (and Q4_1's min) in float16 moves a level by: 2**-11 relative,
    # 2**-25 absolute (float16 subnormals) per unit of the code
    slack = 2.0**-9 * block_amax + 2.0**-18
    if fmt in ("q4_0", "q5_0"):  # the top code is cut off: values opposite the block's extreme may lose a step
        slack = slack + np.where(r.codes.ravel() == 2**f.bits - 1, d, 0)
    err = np.abs(x.ravel().astype(np.float64) - r.dequantized.ravel())
    assert np.all(err <= d / 2 + slack)


# ------------------------------------------------------------------------ group-wise int
@pytest.mark.slow
@SETTINGS
@given(x=hnp.arrays(np.float32, st.sampled_from([(128,), (4, 64), (2, 3, 32)]), elements=finite),
       bits=st.integers(1, 8), symmetric=st.booleans(), group=st.sampled_from([32, 64, 128]))
def test_int_group_is_quantlibs_per_group_pipeline(x, bits, symmetric, group):
    if symmetric and bits == 1:  # no symmetric 1-bit grid: the pipeline refuses it, saying why
        with pytest.raises(ValueError, match=r"1-bit signed grid is \{-1, 0\}"):
            ql.Quantizer("int_group", bits=1, symmetric=True, group_size=group)(x)
        return
    r = ql.Quantizer("int_group", bits=bits, symmetric=symmetric, group_size=group)(x)
    if x.size % group:
        assert r.params is None
        return
    p = ql.choose_qparams(x, bits=bits, symmetric=symmetric, group_size=group)
    assert r.params.to_dict() == p.to_dict()
    np.testing.assert_array_equal(r.codes, ql.quantize(x, p))
    np.testing.assert_array_equal(r.dequantized, ql.fake_quantize(x, p))
    assert r.codes.min() >= p.qmin and r.codes.max() <= p.qmax


def test_int_group_pads_a_short_last_group():
    x = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
    r = ql.Quantizer("int_group", group_size=128)(x)
    assert r.params is None
    np.testing.assert_array_equal(r.dequantized[:896], ql.Quantizer("int_group", group_size=128)(x[:896]).dequantized)
    np.testing.assert_array_equal(r.dequantized[896:], ql.Quantizer("int_group", group_size=128)(
        np.resize(np.concatenate([x[896:], np.full(24, x[-1], np.float32)]), 128)).dequantized[:104])


# -------------------------------------------------------------------------- non-uniform
@pytest.mark.slow
@PER_CASE
@pytest.mark.parametrize("name", ["quantile", "lloyd_max", "log2"])
@given(x=tensors, bits=st.integers(1, 6))
def test_codebook_schemes_round_to_the_nearest_level_and_are_idempotent(name, x, bits):
    bits = max(bits, ql.SCHEMES[name].setting("bits").min)  # log2 starts at 2 bits
    r = ql.Quantizer(name, bits=bits)(x)
    assert r.codes.min() >= 0 and r.codes.max() < r.levels.size <= 2**bits
    np.testing.assert_array_equal(r.dequantized, r.levels[r.codes])
    assert_nearest(x, r.dequantized, r.levels)
    assert r.clip_range == (r.levels[0], r.levels[-1])
    codes, again = nu.codebook_quantize(r.dequantized, r.levels)
    np.testing.assert_array_equal(again, r.dequantized)
    np.testing.assert_array_equal(codes, r.codes)


@pytest.mark.slow
@SETTINGS
@given(x=tensors, bits=st.integers(1, 5))
def test_lloyd_max_never_does_worse_than_its_quantile_start(x, bits):
    mse = {n: ql.Quantizer(n, bits=bits)(x).metrics(x).mse for n in ("quantile", "lloyd_max")}
    assert mse["lloyd_max"] <= mse["quantile"] * (1 + 1e-5) + 1e-30


def test_lloyd_max_converges_to_max_1960_gaussian_quantizer():
    """Max (1960): the 16-level MSE-optimal quantizer of N(0, 1) has distortion 0.009497 (20.22 dB)."""
    x = np.random.default_rng(0).standard_normal(400_000).astype(np.float32)
    r = ql.Quantizer("lloyd_max", bits=4)(x)
    assert r.metrics(x).sqnr_db == pytest.approx(20.22, abs=0.05)
    means = np.bincount(r.codes, weights=x.astype(np.float64)) / np.bincount(r.codes)
    np.testing.assert_allclose(r.levels, means, rtol=1e-5, atol=1e-6)  # a fixed point: each level is its cell's mean
    np.testing.assert_array_equal(r.levels, ql.Quantizer("lloyd_max", bits=4)(x).levels)  # deterministic


def test_lloyd_max_random_start_is_seeded():
    x = np.random.default_rng(1).laplace(size=5000).astype(np.float32)
    a, b, c = (ql.Quantizer("lloyd_max", bits=3, init="random", seed=s)(x).levels for s in (7, 7, 8))
    np.testing.assert_array_equal(a, b)
    assert a.size == c.size == 8


def test_quantile_levels_are_the_centres_of_equal_mass_bins():
    x = np.random.default_rng(2).permutation(np.arange(1600, dtype=np.float32))
    r = ql.Quantizer("quantile", bits=4)(x)
    np.testing.assert_array_equal(r.levels, np.arange(16) * 100 + 50)
    assert np.abs(np.bincount(r.codes) - 100).max() <= 1  # evenly spaced data: every code used equally (± a tie)


@pytest.mark.parametrize("amax, top", [(1.0, 1.0), (1.49, 1.0), (1.5, 2.0), (3.0, 4.0), (1e-3, 2.0**-10)])
def test_log2_levels_are_signed_powers_of_two_topped_by_the_one_nearest_amax(amax, top):
    x = np.array([amax, -0.01 * amax, 0.3 * amax], np.float32)
    lv = ql.Quantizer("log2", bits=4)(x).levels
    assert lv.size == 15 and lv[-1] == top and lv[7] == 0
    np.testing.assert_array_equal(lv[8:], top * 2.0 ** -np.arange(6, -1, -1))
    np.testing.assert_array_equal(lv[:7], -lv[8:][::-1])


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("name", ["fp8_e4m3fn", "mxfp4", "nvfp4", "nf4", "q4_0", "int_group", "quantile", "lloyd_max", "log2"])
@pytest.mark.parametrize(
    "x, exc, message",
    [
        (np.array([1.0, np.nan], np.float32), ValueError, r"1 non-finite value\(s\) \(1 NaN"),
        (np.array([1.0, np.inf]), ValueError, r"non-finite value\(s\) \(0 NaN, 1 ±Inf\)"),
        (np.array([], np.float32), ValueError, "is empty"),
        (np.float32(3.0), ValueError, "0-d scalar"),
        (np.array(["a"]), TypeError, "must hold real numbers"),
    ],
    ids=["nan", "inf", "empty", "0-d", "strings"],
)
def test_bad_tensors_are_refused_by_every_family(name, x, exc, message):
    with pytest.raises(exc, match=message):
        ql.Quantizer(name)(x)


@pytest.mark.parametrize(
    "name, settings, exc, message",
    [
        pytest.param("fp8_e4m3fn", {"scaling": "per_row"}, ValueError,
                     r"'scaling' = 'per_row' is not allowed; choose one of \['none', 'per_tensor', 'per_channel'\]", id="scaling-name"),
        pytest.param("fp8_e4m3fn", {"saturate": "yes"}, TypeError,
                     r"'saturate' must be True or False, got 'yes'", id="saturate-type"),
        pytest.param("fp8_e4m3fn", {"axis": 40}, ValueError,
                     r"'axis' = 40 is out of range; allowed: \[-32, 31\]", id="axis-range"),
        pytest.param("nf4", {"block_size": 48}, ValueError,
                     r"'block_size' = 48 is not allowed; choose one of \[32, 64, 128, 256, 512, 1024, 2048, 4096\]", id="bnb-block-size"),
        pytest.param("int_group", {"group_size": 100}, ValueError,
                     r"'group_size' = 100 is not allowed; choose one of \[32, 64, 128\]", id="group-size"),
        pytest.param("int_group", {"bits": 9}, ValueError,
                     r"'bits' = 9 is out of range; allowed: \[1, 8\] \(1 bit only with symmetric=False: a 1-bit signed "
                     r"grid is \{-1, 0\}, not symmetric", id="int-group-bits"),
        pytest.param("log2", {"bits": 1}, ValueError,
                     r"'bits' = 1 is out of range; allowed: \[2, 8\] \(one code is 0 and the others ±2\^k: with 1 bit "
                     r"only 0 would be left", id="log2-one-bit"),
        pytest.param("mxfp4", {"ties": "up"}, ValueError,
                     r"'ties' = 'up' is not allowed; choose one of \['even', 'toward_zero'\]", id="mx-ties"),
        pytest.param("mxint8", {"exponent": "round"}, ValueError,
                     r"'exponent' = 'round' is not allowed; choose one of \['floor', 'ceil'\]", id="mx-exponent"),
        pytest.param("q8_0", {"partial_block": "drop"}, ValueError,
                     r"'partial_block' = 'drop' is not allowed; choose one of \['pad', 'error'\]", id="partial-block"),
        pytest.param("lloyd_max", {"init": "kmeans++"}, ValueError,
                     r"'init' = 'kmeans\+\+' is not allowed; choose one of \['best', 'quantile', 'random'\]", id="lloyd-init"),
        pytest.param("lloyd_max", {"bits": 13}, ValueError,
                     r"'bits' = 13 is out of range; allowed: \[1, 12\]", id="lloyd-bits"),
        pytest.param("log2", {"bits": 1.5}, TypeError, r"'bits' must be an integer, got 1.5", id="log2-bits-type"),
        pytest.param("q4_0", {"block_size": 32}, ValueError,
                     r"scheme 'q4_0' has no setting\(s\) \['block_size'\]; its settings are \['imatrix', 'partial_block'\]", id="unknown-setting"),
    ],
)
def test_bad_settings_name_the_value_and_what_is_allowed(name, settings, exc, message):
    with pytest.raises(exc, match=message):
        ql.Quantizer(name, **settings)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: ql.Quantizer("fp8_e4m3fn", scaling="per_channel")(np.ones(8, np.float32)),
         r"scaling='per_channel' needs a tensor with at least 2 dimensions, got shape \(8,\); use scaling='per_tensor'"),
        (lambda: ql.Quantizer("q8_0")(np.full(32, 1e9, np.float32)),
         r"q8_0 stores the block scale d as float16 \(max 65504\), but this tensor needs \|scale d\| up to 7.87402e\+06"),
        (lambda: ql.Quantizer("nvfp4", partial_block="error")(np.ones(20, np.float32)),
         r"nvfp4 needs a tensor size that is a multiple of its block size 16; got 20 elements \(shape \(20,\)\)\. "
         r"Allowed: sizes 16, 32, 48, \.\.\.; or partial_block='pad'"),
        (lambda: fm.float_quantize(np.ones(3, np.float32), "fp7"), r"unknown float format 'fp7'; choose one of: 'fp16'"),
        (lambda: fm.bnb_quantize(np.ones(3, np.float32), "nf4", block_size=100), r"block_size 100 is not allowed"),
        (lambda: nu.codebook_quantize(np.ones(3, np.float32), np.array([1.0, 0.0])), r"strictly increasing"),
    ],
    ids=["per-channel-1d", "fp16-scale-overflow", "partial-block-error", "unknown-format", "bnb-block", "codebook-order"],
)
def test_format_specific_errors_explain_themselves(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ----------------------------------------------------------------- the tables' own constants
@pytest.mark.parametrize("fmt", list(fm.FLOATS))
def test_float_table_constants_are_ml_dtypes_finfo(fmt):
    f = fm.FLOATS[fmt]
    fi = ml_dtypes.finfo(f.dtype)
    assert (f.max, f.nexp, f.nmant, f.smallest_subnormal) == (float(fi.max), fi.nexp, fi.nmant,
                                                             float(fi.smallest_subnormal))
    assert f.bits == fi.bits


@pytest.mark.parametrize("fmt", list(fm.MX_FORMATS))
def test_mx_table_element_max_is_the_element_types(fmt):
    f = fm.MX_FORMATS[fmt]
    assert f.element_max == (127 / 64 if f.is_int else float(ml_dtypes.finfo(f.element).max))


def test_registering_the_formats_does_not_import_ml_dtypes():
    import subprocess
    import sys

    code = "import sys, quantlib; assert 'ml_dtypes' not in sys.modules, 'ml_dtypes imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
