"""Rate–distortion: every scheme against the limits (quantlib/rate.py)."""

import json

import numpy as np
import pytest

import quantlib as ql
from quantlib import rate

GAUSS = ql.synthetic("normal", 2**16, 0)


@pytest.mark.parametrize("storage", ["float16", "bfloat16"])
@pytest.mark.parametrize("sigma", [0.02, 1.0])
def test_entropy_of_a_half_precision_tensor_is_the_sources(storage, sigma):
    """A float16 / bfloat16 checkpoint's values repeat (they lie on the format's grid): the estimate is
    still the Gaussian's, within 0.02 bit, and within 0.005 bit of the same values kept in float32."""
    import ml_dtypes

    dtype = np.float16 if storage == "float16" else ml_dtypes.bfloat16
    x = np.random.default_rng(7).standard_normal(2**17) * sigma
    stored = x.astype(dtype).astype(np.float32)
    assert np.unique(stored).size < stored.size / 4  # many ties: the spacings alone would give −inf
    h = ql.differential_entropy(stored)
    assert abs(h - 0.5 * np.log2(2 * np.pi * np.e * sigma**2)) < 0.02
    assert abs(h - ql.differential_entropy(x.astype(np.float32))) < 0.005
    lim = ql.rd_limits(stored, bits=[2, 4])
    assert "shannon" in set(lim["limit"]) and lim.attrs["distinct"] == np.unique(stored).size


def test_entropy_on_a_coarse_grid_is_the_piecewise_uniform_densitys():
    """Values rounded to steps of 1/8: h of the density uniform within each cell is H(values) + log2(1/8)."""
    u = np.round(np.random.default_rng(3).standard_normal(2**16) * 8) / 8
    p = np.unique(u, return_counts=True)[1] / u.size
    assert abs(ql.differential_entropy(u) - (-(p * np.log2(p)).sum() + np.log2(1 / 8))) < 0.01


def test_an_atom_of_a_float16_relu_has_no_density_and_the_grid_around_it_does_not_hide_it():
    x = np.maximum(np.random.default_rng(1).standard_normal(2**16), 0).astype(np.float16).astype(np.float32)
    assert ql.differential_entropy(x) == -np.inf
    assert ql.differential_entropy(x[x > 0]) > -np.inf  # the rest is a grid, not an atom


@pytest.fixture(scope="module")
def every_point():
    return ql.rate_distortion(GAUSS, bit_widths=range(1, 17))


def test_no_configuration_beats_the_shannon_bound_on_gaussian_data(every_point):
    # N(0, 1): D(R) = 4**-R exactly (the Shannon lower bound is tight for a Gaussian). A scheme whose
    # bits per element left out a scale, zero-point or codebook would land below it. float32 data
    # have a 24-bit significand, so beyond ~24 bits per element a lossless copy is possible:
    # the bound of a continuous source is checked up to 20 bits per element.
    df = every_point[every_point["bits_per_element"] <= 20]
    assert len(df) > 60 and set(ql.SCHEMES) <= set(every_point["scheme"])
    bound = 4.0 ** -df["bits_per_element"]
    below = df[df["mse"] < 0.97 * bound]  # 3%: the sample's own spread (65 536 values)
    assert below.empty, below[["label", "bits_per_element", "mse"]]
    assert (df["shannon_gap_db"] > -0.15).all()  # the same, against the bound from the estimated entropy


def test_every_scheme_appears_at_each_width_it_supports_once(every_point):
    assert not every_point.duplicated(["scheme", "settings"]).any()
    sym = every_point[every_point["scheme"] == "symmetric"]
    assert sorted(sym["bits"]) == list(range(2, 17))
    assert (every_point["scheme"] == "nf4").sum() == 1  # fixed width: once
    row = every_point[every_point["label"] == "symmetric · bits=4 · minmax"].iloc[0]
    r = ql.Quantizer("symmetric", **json.loads(row["settings"]))(GAUSS)
    m = r.metrics(GAUSS)
    assert row["mse"] == m.mse and row["sqnr_db"] == m.sqnr_db and row["bits_per_element"] == r.bits_per_element
    assert row["code_entropy_bits"] == pytest.approx(m.code_entropy_bits, rel=1e-12)


def test_bits_per_element_counts_what_each_format_stores():
    df = ql.rate_distortion(np.zeros(4096, np.float32) + GAUSS[:4096], ["nf4", "mxfp4", "nvfp4", "q4_0", "q4_1"])
    bpe = dict(zip(df["scheme"], df["bits_per_element"]))
    assert bpe == {"nf4": 4.5, "mxfp4": 4.25, "nvfp4": 4.5 + 32 / 4096, "q4_0": 4.5, "q4_1": 5.0}


def test_points_of_a_large_tensor_use_a_documented_deterministic_subsample():
    x = ql.synthetic("laplace", 2**20, 3)
    df = ql.rate_distortion(x, ["integer", "nf4"], [3])
    assert df.attrs["size"] == rate.MAX_POINT_SAMPLES == 2**18
    assert "2**18" in ql.rate_distortion.__doc__ and "structured_sample" in ql.rate_distortion.__doc__
    again = ql.rate_distortion(x.copy(), ["integer", "nf4"], [3])  # the same values, the same points
    assert df.drop(columns="settings").equals(again.drop(columns="settings"))
    # every 4th value, written out, with the tensor's minimum and maximum each in place of its nearest
    stride_at = np.arange(2**18) * 4
    for end in (int(np.argmin(x)), int(np.argmax(x))):
        stride_at[np.argmin(np.abs(stride_at - end))] = end
    stride = x[np.sort(stride_at)]
    assert stride.min() == x.min() and stride.max() == x.max()
    whole = ql.rate_distortion(stride, ["integer", "nf4"], [3], max_samples=None)
    assert list(df["mse"]) == list(whole["mse"]) and list(df["bits_per_element"]) == list(whole["bits_per_element"])
    full = ql.rate_distortion(x, ["nf4"], [3], max_samples=None)
    assert full.attrs["size"] == 2**20
    assert abs(full["sqnr_db"].item() - df.query("scheme == 'nf4'")["sqnr_db"].item()) < 0.05  # the same picture


def test_families_select_their_schemes_and_unknown_names_are_refused():
    df = ql.rate_distortion(GAUSS[:2048], ["microscaling"], [4])
    assert set(df["scheme"]) == {n for n, s in ql.SCHEMES.items() if s.family == "microscaling"}
    with pytest.raises(ValueError, match="neither a scheme nor a family.*microscaling"):
        ql.rate_distortion(GAUSS, ["nope"])


def test_refused_configurations_are_listed_not_fatal():
    x = GAUSS[:1024] * np.float32(1e7)  # q4_0's float16 block scale overflows
    df = ql.rate_distortion(x, ["q4_0", "symmetric"], [4])
    assert list(df["scheme"]) == ["symmetric"]
    assert df.attrs["skipped"][0][0] == "q4_0" and "float16" in df.attrs["skipped"][0][1]


def test_pareto_front_keeps_only_unbeaten_points():
    bits = [2, 2, 3, 4, 4, 5]
    sqnr = [5, 7, 6, 10, 10, 9]
    assert rate.pareto_front(bits, sqnr).tolist() == [False, True, False, True, False, False]


def test_pareto_points_of_the_chart_are_not_dominated(every_point):
    df = every_point
    b, q = df["bits_per_element"].to_numpy(), df["sqnr_db"].to_numpy()
    for i in np.flatnonzero(df["pareto"]):
        assert not np.any((b <= b[i]) & (q > q[i]))


@pytest.mark.parametrize("sigma", [1e-3, 1.0, 50.0])
def test_entropy_of_a_gaussian_within_0_02_bit(sigma):
    x = (ql.synthetic("normal", 2**16, 3) * np.float32(sigma))
    assert abs(ql.differential_entropy(x) - 0.5 * np.log2(2 * np.pi * np.e * sigma**2)) < 0.02


@pytest.mark.parametrize("dist, h", [("uniform", np.log2(2.0)), ("laplace", np.log2(2 * np.e))], ids=["uniform", "laplace"])
def test_entropy_of_other_densities(dist, h):
    rng = np.random.default_rng(5)
    x = rng.uniform(-1, 1, 2**16) if dist == "uniform" else rng.laplace(0, 1, 2**16)
    assert abs(ql.differential_entropy(x.astype(np.float32)) - h) < 0.02


def test_an_atom_has_no_density():
    x = np.maximum(GAUSS, 0)  # half the values are exactly 0
    assert ql.differential_entropy(x) == -np.inf
    lim = ql.rd_limits(x)
    assert "shannon" not in set(lim["limit"]) and {"lloyd_max", "uniform"} <= set(lim["limit"])


@pytest.fixture(scope="module")
def gauss_limits():
    return ql.rd_limits(ql.synthetic("normal", 2**20, 1), max_samples=None)


# J. Max, "Quantizing for minimum distortion", IRE Trans. Inf. Theory 6(1), 1960, Table I (optimum
# non-uniform) and Table II (optimum uniform), N(0, 1).
@pytest.mark.parametrize("bits, max_mse", [(2, 0.1175), (3, 0.03454), (4, 0.009497), (5, 0.002499)])
def test_lloyd_max_matches_max_1960(gauss_limits, bits, max_mse):
    df = gauss_limits
    mse = df[(df["limit"] == "lloyd_max") & (df["rate_bits"] == bits)]["mse"].item()
    assert mse == pytest.approx(max_mse, rel=0.01)


@pytest.mark.parametrize("bits", [6, 7, 8])
def test_lloyd_max_scheme_converges_at_high_rate_and_is_the_limit(bits):
    # Panter & Dite (1951): at high rate the best scalar quantizer of N(0, σ²) has D ≈ (√3 π / 2) σ² 4**-b.
    # From the quantile start alone Lloyd stops at 1.4x (7 bits) and 2.4x (8 bits) of it after 1000 rounds.
    x = np.random.default_rng(0).standard_normal(2**18).astype(np.float32)
    panter_dite = np.sqrt(3) * np.pi / 2 * np.var(x.astype(np.float64)) * 4.0**-bits
    mse = ql.Quantizer("lloyd_max", bits=bits)(x).metrics(x).mse
    assert mse <= 1.05 * panter_dite
    lim = ql.rd_limits(x, bits=[bits])
    assert lim[lim["limit"] == "lloyd_max"]["mse"].item() == pytest.approx(mse, rel=1e-11)  # one code path


@pytest.mark.parametrize("bits, max_mse", [(1, 0.3634), (2, 0.1188), (3, 0.03744), (4, 0.01154)])
def test_best_uniform_matches_max_1960(gauss_limits, bits, max_mse):
    df = gauss_limits
    mse = df[(df["limit"] == "uniform") & (df["rate_bits"] == bits)]["mse"].item()
    assert mse == pytest.approx(max_mse, rel=0.01)


@pytest.mark.parametrize("bits", [2, 4, 6, 8])
def test_best_uniform_beats_every_calibrated_integer_grid(bits):
    x = ql.synthetic("student_t", 2**16, 2)
    lim = ql.rd_limits(x, bits=[bits])
    best = lim[lim["limit"] == "uniform"]["mse"].item()
    lloyd = lim[lim["limit"] == "lloyd_max"]["mse"].item()
    for scheme in ("symmetric", "asymmetric"):
        for cal in ql.CALIBRATION_METHODS:
            m = ql.Quantizer(scheme, bits=bits, calibration=cal)(x).metrics(x).mse
            assert best <= m * (1 + 1e-9), (scheme, cal)
    assert lloyd <= best * (1 + 1e-9)


def test_entropy_coded_uniform_is_1_53_db_from_the_bound_at_high_rate(gauss_limits):
    df, h = gauss_limits, gauss_limits.attrs["entropy_bits"]
    ec = df[(df["limit"] == "entropy_coded_uniform") & (df["rate_bits"].between(5, 8))]
    gap = 10 * np.log10(ec["mse"] / rate.shannon_bound(ec["rate_bits"], h))
    assert len(ec) >= 8 and np.all(np.abs(gap - 10 * np.log10(np.pi * np.e / 6)) < 0.1)  # 1.533 dB


def test_limits_are_refused_for_a_constant_tensor():
    with pytest.raises(ValueError, match="not all equal"):
        ql.rd_limits(np.ones(100, np.float32))


def test_figures_mark_the_front_and_draw_the_limits_on_either_axis(every_point, gauss_limits):
    from quantlib import rd_figures

    fig = rd_figures.rd_figure(every_point, gauss_limits, metric="mse", x="code_entropy_bits", highlight="nf4")
    names = [t.name for t in fig.data]
    assert fig.layout.yaxis.type == "log" and "selected" in names and "Shannon lower bound" in names
    front = next(t for t in rd_figures.rd_figure(every_point, gauss_limits).data if t.name == "Pareto front (★)")
    assert len(front.x) == int(every_point["pareto"].sum())
    with pytest.raises(ValueError, match="metric must be one of"):
        rd_figures.rd_figure(every_point, metric="psnr")


@pytest.mark.parametrize("dist", ["normal", "student_t", "laplace", "bimodal"])
def test_lloyd_max_limit_is_at_or_below_every_per_tensor_codebook_scheme(dist):
    # the registry's lloyd_max (the same lloyd_best as the limit) and quantile levels, same values,
    # same number of levels: the limit is never above them
    x = ql.synthetic(dist, 2**16, 1)
    lim = ql.rd_limits(x, bits=range(2, 9))
    best = lim[lim["limit"] == "lloyd_max"].set_index("rate_bits")["mse"]
    for b in range(2, 9):
        for scheme in ("lloyd_max", "quantile"):
            assert best[b] <= ql.Quantizer(scheme, bits=b)(x).metrics(x).mse * (1 + 1e-9), (scheme, b)


@pytest.mark.parametrize("x", [
    np.array([1e30], np.float32),
    np.full(100, 3e38, np.float32),
    np.array([1e30, np.nextafter(np.float32(1e30), np.float32(np.inf))], np.float32),
    np.array([-3e38, 3e38] * 50, np.float32),
], ids=["one-huge-value", "constant-near-max", "two-adjacent-floats", "both-ends-of-float32"])
def test_lloyd_max_at_8_bits_is_exact_on_degenerate_tensors(x):
    """Found by hypothesis: the compander start's histogram refused a range narrower than its bins
    (one value of 1e30). With at most 2 distinct values, 8-bit Lloyd-Max keeps each one exactly."""
    r = ql.Quantizer("lloyd_max", bits=8)(x)
    np.testing.assert_array_equal(r.dequantized, x)


def _outlier_weight() -> np.ndarray:
    w = (np.random.default_rng(0).standard_normal((512, 512)) * 0.02).astype(np.float32)
    w[:, 7] *= 50  # an outlier input column: a dense bulk at 0 and far tails
    return w


#: Schemes with one grid for the whole tensor (at their default, per-tensor settings): the limits bound them
PER_TENSOR_UNIFORM = ("symmetric", "asymmetric", "fixed_point")
PER_TENSOR_SCALAR = (*PER_TENSOR_UNIFORM, "lloyd_max", "quantile", "histogram", "log2", "fp8_e4m3fn", "fp8_e5m2")


@pytest.mark.parametrize("tensor", ["outlier-column", "laplace", "normal"])
def test_no_per_tensor_configuration_lies_above_the_limits_that_bound_it(tensor):
    """The best uniform quantizer and Lloyd-Max bound every per-tensor scalar configuration at its bits per
    element; on a weight with an outlier column minmax 4-bit beat the "best uniform" limit (its search never
    put a level on the bulk at 0) and FP8 beat Lloyd-Max at 8 bits (no start spread levels like a float)."""
    x = _outlier_weight() if tensor == "outlier-column" else ql.synthetic(tensor, 2**16, 4)
    chart = ql.rd_chart(x, list(PER_TENSOR_SCALAR), range(2, 9))
    above_uniform = rate.beyond_limit(chart.points[chart.points["scheme"].isin(PER_TENSOR_UNIFORM)], chart.limits,
                                      "uniform")
    above_lloyd = rate.beyond_limit(chart.points, chart.limits, "lloyd_max")
    assert above_uniform.empty, above_uniform[["label", "bits_per_element", "sqnr_db"]]
    assert above_lloyd.empty, above_lloyd[["label", "bits_per_element", "sqnr_db"]]


def test_block_formats_beyond_lloyd_max_are_named_as_such():
    chart = ql.rd_chart(_outlier_weight(), ["q4_0", "nf4", "symmetric"], [4])
    beyond = rate.beyond_limit(chart.points, chart.limits, "lloyd_max")
    assert set(beyond["scheme"]) <= {"q4_0", "nf4"} and not beyond.empty
    assert "block" in ql.LIMITS["lloyd_max"].bounds and "above this curve" in ql.LIMITS["lloyd_max"].bounds
