"""The registry and Quantizer: every scheme runs, reports itself and agrees with the engine functions."""

import numpy as np
import pytest

import quantlib as ql

X = np.random.default_rng(5).standard_normal((32, 64)).astype(np.float32)


@pytest.mark.parametrize("name", sorted(ql.SCHEMES))
def test_every_scheme_is_complete_and_runs_with_defaults(name):
    spec = ql.SCHEMES[name]
    assert spec.family and spec.description and spec.formula and spec.settings
    assert all(s.help for s in spec.settings)
    r = ql.Quantizer(name)(X)
    assert r.scheme == name and r.codes.shape == X.shape and r.dequantized.dtype == np.float32
    assert np.all(np.isfinite(r.dequantized))
    m = r.metrics(X)
    # 1-2 bit codes (ternary / binary, Q2_K) cannot reach 10 dB on a normal tensor: absmax ternary keeps ~2 dB
    floor = 10 if (spec.code_bits(r.settings) or 8) > 2 else 1.5
    assert m.sqnr_db > floor and m.bits_per_element == r.bits_per_element > 0


def test_quantizer_matches_the_functional_api():
    r = ql.Quantizer("asymmetric", bits=6, calibration="percentile", percentile=99.5, convention="onnxruntime")(X)
    p = ql.choose_qparams(X, bits=6, symmetric=False, calibration="percentile", percentile=99.5, convention="onnxruntime")
    assert r.params == p
    np.testing.assert_array_equal(r.codes, ql.quantize(X, p))
    np.testing.assert_array_equal(r.dequantized, ql.fake_quantize(X, p))
    np.testing.assert_array_equal(r.levels, ql.dequantize(np.arange(p.qmin, p.qmax + 1), p))


def test_manual_scale_and_zero_point():
    r = ql.Quantizer("asymmetric", scale=0.05, zero_point=100)(X)
    assert (r.params.scale, r.params.zero_point) == (float(np.float32(0.05)), 100)
    with pytest.raises(ValueError, match="zero_point must be within"):
        ql.Quantizer("asymmetric", scale=0.05, zero_point=999)(X)


@pytest.mark.parametrize("granularity, shape", [("per_channel", (32,)), ("per_group", (32, 2))])
def test_granularity_setting(granularity, shape):
    r = ql.Quantizer("symmetric", bits=4, granularity=granularity, group_size=32)(X)
    assert np.shape(r.params.scale) == shape
    assert r.metrics(X).sqnr_db > ql.Quantizer("symmetric", bits=4)(X).metrics(X).sqnr_db


def test_histogram_scheme_fixes_the_blog_bin_index_bug():
    x = np.array([0.0, 0.5, 1.0], np.float32)  # x = max would index bin num_bins without the clamp
    r = ql.Quantizer("histogram", num_bins=4)(x)
    assert r.codes.tolist() == [0, 2, 3]
    np.testing.assert_allclose(r.dequantized, [0.125, 0.625, 0.875])
    r = ql.Quantizer("histogram", num_bins=4, reconstruction="mean")(np.array([0.0, 0.1, 1.0], np.float32))
    np.testing.assert_allclose(r.dequantized, [0.05, 0.05, 1.0])


def test_settings_are_validated_with_their_allowed_values():
    with pytest.raises(ValueError, match=r"'rounding' = 'up' is not allowed; choose one of"):
        ql.Quantizer("symmetric", rounding="up")
    with pytest.raises(TypeError, match="'signed' must be True or False"):
        ql.Quantizer("symmetric", signed="yes")


def test_registering_a_scheme_makes_it_available_to_everything():
    base = ql.SCHEMES["symmetric"]
    spec = ql.SchemeSpec("test_int4", "integer", "int4 for the test", base.formula, base.settings, base.run)
    ql.register(spec)
    try:
        df = ql.sweep_bits(X, "test_int4", [3, 4])
        assert list(df["bits"]) == [3, 4]
        with pytest.raises(ValueError, match="already registered"):
            ql.register(spec)
    finally:
        del ql.SCHEMES["test_int4"]
