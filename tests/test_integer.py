"""Behaviour of the integer engine that the toolkits do not cover (see test_reference_* for those)."""

import numpy as np
import pytest

import quantlib as ql


def test_blog_example_scale_point_one_gives_codes_ten_to_fifty():
    x = np.array([1, 2, 3, 4, 5], np.float32)
    p = ql.QuantParams(scale=0.1, zero_point=0, qmin=-128, qmax=127)
    assert ql.quantize(x, p).tolist() == [10, 20, 30, 40, 50]


@pytest.mark.parametrize(
    "mode, expected",
    [("half_even", [-2, -2, 0, 0, 2, 2]), ("half_away", [-3, -2, -1, 1, 2, 3]), ("floor", [-3, -2, -1, 0, 1, 2])],
    ids=["half-even", "half-away", "floor"],
)
def test_rounding_modes_on_exact_ties(mode, expected):
    p = ql.QuantParams(scale=1.0, zero_point=0, qmin=-128, qmax=127)
    x = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5], np.float32)
    assert ql.quantize(x, p, rounding=mode).tolist() == expected


def test_half_away_does_not_round_the_largest_float_below_one_half_up():
    p = ql.QuantParams(scale=1.0, zero_point=0, qmin=-128, qmax=127)
    below_half = np.nextafter(np.float32(0.5), np.float32(0))
    assert ql.quantize(np.array([below_half, -below_half]), p, rounding="half_away").tolist() == [0, 0]


def test_stochastic_rounding_mean_approaches_the_value():
    p = ql.QuantParams(scale=1.0, zero_point=0, qmin=-128, qmax=127)
    x = np.full(200_000, 0.3, np.float32)
    assert abs(ql.quantize(x, p, rounding="stochastic", seed=1).mean() - 0.3) < 0.01


def test_wrap_overflow_matches_a_two_complement_int8_cast():
    # the blog's Go code converts to int8 without clamping: 300 -> 44, 128 -> -128, -129 -> 127
    p = ql.fixed_point_params(7, 0)
    x = np.array([300, 128, -129, 127, -128, 1000], np.float32)
    expected = np.array([300, 128, -129, 127, -128, 1000]).astype(np.int64).astype(np.int8)
    np.testing.assert_array_equal(ql.quantize(x, p, overflow="wrap"), expected)
    assert ql.quantize(x, p).tolist() == [127, 127, -128, 127, -128, 127]


def test_fixed_point_q3_4_grid():
    p = ql.fixed_point_params(3, 4)
    assert (p.qmin, p.qmax, p.scale) == (-128, 127, 1 / 16)
    lv = ql.levels(p)
    assert lv[0] == -8.0 and lv[-1] == 8 - 1 / 16 and np.all(np.diff(lv) == 1 / 16)


def test_fixed_point_refuses_impossible_widths():
    with pytest.raises(ValueError, match="allowed total width is 1..16"):
        ql.fixed_point_params(12, 8)


def test_power_of_two_scale_covers_the_range():
    x = np.array([-3.3, 0.2, 5.1], np.float32)
    p = ql.choose_qparams(x, power_of_two=True)
    assert np.log2(p.scale).is_integer() and p.scale * 127 >= 5.1


@pytest.mark.parametrize("convention", ["quantlib", "pytorch", "onnxruntime"])
def test_asymmetric_uses_every_code_on_a_uniform_ramp(convention):
    x = np.linspace(-1, 3, 10_000, dtype=np.float32)
    p = ql.choose_qparams(x, bits=4, symmetric=False, convention=convention)
    assert np.unique(ql.quantize(x, p)).size == 16


def test_known_toolkit_disagreement_zero_point_on_minus_one_one():
    x = np.array([-1.0, 1.0], np.float32)
    torch_zp = ql.choose_qparams(x, symmetric=False, convention="pytorch").zero_point
    ort_zp = ql.choose_qparams(x, symmetric=False, convention="onnxruntime").zero_point
    assert (torch_zp, ort_zp) == (127, 128)


def test_symmetric_scales_differ_as_documented():
    x = np.array([-2.0, 1.0], np.float32)
    assert ql.choose_qparams(x, convention="pytorch").scale == float(np.float32(2.0) / np.float32(127.5))
    assert ql.choose_qparams(x, convention="onnxruntime").scale == float(np.float32(2.0 / 127))
    assert ql.choose_qparams(x, convention="quantlib").scale == float(np.float32(2.0 / 127))


def test_all_zero_tensor_gets_a_usable_scale():
    z = np.zeros(10, np.float32)
    for conv in ql.CONVENTIONS:
        p = ql.choose_qparams(z, convention=conv)
        assert np.all(ql.fake_quantize(z, p) == 0)
    assert ql.choose_qparams(z, convention="pytorch").scale == float(np.finfo(np.float32).eps)


def test_per_group_blocks_split_rows_into_consecutive_groups():
    w = np.arange(16, dtype=np.float32).reshape(2, 8)
    p = ql.choose_qparams(w, axis=0, group_size=4, symmetric=False, bits=2)
    assert np.shape(p.scale) == (2, 2)
    expected = [[(3 - 0) / 3, (7 - 0) / 3], [(11 - 0) / 3, (15 - 0) / 3]]  # groups [0..3], [4..7] etc., range widened to 0
    np.testing.assert_allclose(p.scale, expected, rtol=1e-6)


def test_group_size_must_divide():
    with pytest.raises(ValueError, match="group_size 5 does not divide"):
        ql.choose_qparams(np.ones((2, 8), np.float32), axis=0, group_size=5)


def test_per_channel_on_1d_is_refused():
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        ql.choose_qparams(np.ones(8, np.float32), axis=0)


def test_dequantize_rejects_float_codes_that_are_not_integers():
    p = ql.QuantParams(scale=1.0, zero_point=0, qmin=-128, qmax=127)
    with pytest.raises(TypeError, match="codes must be integers"):
        ql.dequantize(np.array([0.5]), p)


def test_tensorrt_convention_is_symmetric_only():
    with pytest.raises(ValueError, match="symmetric quantization only"):
        ql.choose_qparams(np.ones(4, np.float32), symmetric=False, convention="tensorrt")
