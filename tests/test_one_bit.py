"""One bit per code where a scheme allows it: two levels, checked against torch and by invariants.

Which schemes take 1 bit is each spec's own ``bits`` setting (``Setting.min``, with its reason):
asymmetric, int_group with symmetric off, quantile and Lloyd-Max do; symmetric cannot (a 1-bit
signed grid is {-1, 0}) and log2 cannot (1 bit would leave only the level 0).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import cases, make_tensor, open_app
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import quantlib as ql

# torch 2.13 deprecates the quantized dtypes (quint8/qint8) but they are the reference here
pytestmark = pytest.mark.filterwarnings("ignore:.*quantized tensor creation functions.*:UserWarning")
X = ql.synthetic("normal", 2**16, 0)  # the app's default data source
ONE_BIT = {"asymmetric", "int_group", "quantile", "lloyd_max"}  # the registry schemes with a bits setting that start at 1
TWO_BITS = {"symmetric": "a 1-bit signed grid is {-1, 0}", "log2": "only 0 would be left"}
finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, width=32)
arrays = hnp.arrays(np.float32, st.integers(2, 300), elements=finite)


def _torch():
    return pytest.importorskip("torch")


# ------------------------------------------------------------------ the registry's decisions
def test_each_bits_setting_states_its_minimum_and_why():
    with_bits = {n: s.setting("bits") for n, s in ql.SCHEMES.items() if "bits" in {t.name for t in s.settings}}
    assert {n for n, b in with_bits.items() if b.min == 1} >= ONE_BIT
    for name, needle in TWO_BITS.items():
        assert with_bits[name].min == 2 and needle in with_bits[name].range_reason
    assert all(b.range_reason for b in with_bits.values()), "every bits setting says why its range ends where it does"


@pytest.mark.parametrize("name", sorted(ONE_BIT))
def test_one_bit_schemes_make_two_levels_and_codes_0_and_1(name):
    s = {"bits": 1, **({"symmetric": False} if name == "int_group" else {})}
    r = ql.Quantizer(name, **s)(X)
    assert set(np.unique(r.codes).tolist()) == {0, 1}
    groups = r.dequantized.reshape(-1, 128) if name == "int_group" else r.dequantized.reshape(1, -1)
    assert all(np.unique(g).size == 2 for g in groups)  # two levels (per group of 128 for int_group)
    assert 1 < r.bits_per_element < 1.3  # one bit plus the stored scales / zero-points / codebook


@pytest.mark.parametrize("name, settings, message", [
    ("symmetric", {}, r"allowed: \[2, 16\] \(a 1-bit grid cannot be symmetric: a 1-bit signed grid is \{-1, 0\}"),
    ("symmetric", {"signed": False}, r"a 1-bit signed grid is \{-1, 0\} and an unsigned one around a middle zero-point"),
    ("log2", {}, r"allowed: \[2, 8\] \(one code is 0 and the others ±2\^k: with 1 bit only 0 would be left"),
], ids=["symmetric", "symmetric-unsigned", "log2"])
def test_schemes_that_cannot_take_one_bit_say_why(name, settings, message):
    with pytest.raises(ValueError, match=message):
        ql.Quantizer(name, bits=1, **settings)


def test_symmetric_kernels_refuse_one_bit_before_calibrating():
    for call in (lambda: ql.choose_qparams(X, bits=1, calibration="entropy"),
                 lambda: ql.qparams_from_range(-1.0, 1.0, bits=1, symmetric=True),
                 lambda: ql.calibrate(X, "mse", bits=1, symmetric=True),
                 lambda: ql.Quantizer("int_group", bits=1, symmetric=True)(X)):
        with pytest.raises(ValueError, match=r"bits=1: a 1-bit grid cannot be symmetric"):
            call()


def test_qrange_at_one_bit():
    from quantlib.params import qrange

    assert qrange(1, signed=False) == (0, 1) and qrange(1, signed=True) == (-1, 0)
    for signed in (False, True):
        with pytest.raises(ValueError, match="narrow_range at bits=1 would leave a single code"):
            qrange(1, signed, narrow_range=True)


def test_fixed_point_takes_one_bit_total():
    assert ql.levels(ql.fixed_point_params(0, 0, signed=True)).tolist() == [-1.0, 0.0]  # the sign bit alone
    assert ql.levels(ql.fixed_point_params(0, 1, signed=False)).tolist() == [0.0, 0.5]


# ------------------------------------------------------------------------- against torch
@pytest.mark.parametrize("signed", [False, True], ids=["quint-0-1", "qint-minus1-0"])
@pytest.mark.parametrize("kind,n,seed,scale", cases(("normal", "relu", "outliers", "lognormal", "ties", "all_zero"),
                                                    sizes=(3000,)))
def test_one_bit_asymmetric_equals_torch_observer_fake_quantize_and_codes(signed, kind, n, seed, scale):
    """torch's MinMaxObserver with quant_min/quant_max of one bit gives the same scale and zero-point;
    ``torch.fake_quantize_per_tensor_affine`` with that range gives the same values as
    ``ql.fake_quantize``; and torch's codes (``quantize_per_tensor``, which saturates at the 8-bit
    type's range) clamped to the 1-bit range are quantlib's codes."""
    torch = _torch()
    from torch.ao.quantization import MinMaxObserver

    qmin, qmax = (-1, 0) if signed else (0, 1)
    dtype = torch.qint8 if signed else torch.quint8
    x = make_tensor(kind, n, seed, scale)
    obs = MinMaxObserver(dtype=dtype, qscheme=torch.per_tensor_affine, quant_min=qmin, quant_max=qmax)
    obs(torch.from_numpy(x))
    s, z = float(obs.calculate_qparams()[0].item()), int(obs.calculate_qparams()[1].item())
    r = ql.Quantizer("asymmetric", bits=1, signed=signed, convention="pytorch")(x)
    p = r.params
    assert (p.qmin, p.qmax, np.float32(p.scale), p.zero_point) == (qmin, qmax, np.float32(s), z)
    expected = torch.fake_quantize_per_tensor_affine(torch.from_numpy(x), s, z, qmin, qmax).numpy()
    np.testing.assert_array_equal(ql.fake_quantize(x, p), expected)
    codes = torch.quantize_per_tensor(torch.from_numpy(x), s, z, dtype).int_repr().numpy()
    np.testing.assert_array_equal(r.codes.astype(np.int64), np.clip(codes.astype(np.int64), qmin, qmax))
    assert r.levels.size == 2 and np.unique(expected).size <= 2


@pytest.mark.parametrize("kind,n,seed,scale", cases(("normal", "laplace", "relu", "bimodal", "ties", "tiny"), sizes=(5000,)))
def test_one_bit_with_quantlibs_own_params_in_torchs_fake_quantize_kernel(kind, n, seed, scale):
    """quantlib's own scale and zero-point, run through torch's kernel with quant_min=0,
    quant_max=1 and through quantlib's with torch's arithmetic: the same values."""
    torch = _torch()
    x = make_tensor(kind, n, seed, scale)
    r = ql.Quantizer("asymmetric", bits=1)(x)
    p = r.params
    expected = torch.fake_quantize_per_tensor_affine(torch.from_numpy(x), float(p.scale), int(p.zero_point), 0, 1)
    np.testing.assert_array_equal(ql.fake_quantize(x, p, convention="pytorch"), expected.numpy())
    assert set(np.unique(r.codes).tolist()) <= {0, 1} and r.levels.size == 2


# ------------------------------------------------------------------------------ invariants
@settings(max_examples=60, deadline=None)
@given(x=arrays, signed=st.booleans(), calibration=st.sampled_from(["minmax", "percentile", "mse", "entropy"]))
def test_one_bit_asymmetric_invariants(x, signed, calibration):
    r = ql.Quantizer("asymmetric", bits=1, signed=signed, calibration=calibration)(x)
    p = r.params
    assert set(np.unique(r.codes).tolist()) <= ({-1, 0} if signed else {0, 1})
    assert r.levels.size == 2 and 0.0 in r.levels  # two levels, 0 exactly among them
    assert set(np.unique(r.dequantized).tolist()) <= set(r.levels.tolist())
    np.testing.assert_array_equal(ql.quantize(r.dequantized, p), r.codes)  # idempotent
    inside = (x >= r.levels[0]) & (x <= r.levels[1])
    err = np.abs(x.astype(np.float64) - r.dequantized)
    assert np.all(err[inside] <= np.float64(p.scale) / 2 * (1 + 2**-20))  # nearest of the two levels


@settings(max_examples=60, deadline=None)
@given(x=arrays)
def test_one_bit_quantile_levels_are_the_quartile_order_statistics(x):
    xs = np.sort(x)
    n = xs.size
    expected = np.unique(xs[[min(n // 4, n - 1), min(3 * n // 4, n - 1)]])  # centres of the two halves' ranks
    np.testing.assert_array_equal(ql.Quantizer("quantile", bits=1)(x).levels, expected)


@settings(max_examples=60, deadline=None)
@given(x=arrays)
def test_one_bit_lloyd_max_levels_are_the_means_of_their_halves(x):
    r = ql.Quantizer("lloyd_max", bits=1)(x)
    xd = x.astype(np.float64)
    assert r.levels.size <= 2
    for k, level in enumerate(r.levels):
        members = xd[r.codes == k]
        if members.size:
            tol = 4 * np.finfo(np.float32).eps * max(np.abs(members).max(), 1e-30)
            assert abs(level - members.mean()) <= tol  # a converged 2-means: each level is its cluster's mean


# ---------------------------------------------------------------------------------- sweeps
def test_bit_sweeps_start_at_one_bit_where_the_scheme_allows_it():
    asym = ql.sweep_bits(X, "asymmetric", max_samples=2**14)
    sym = ql.sweep_bits(X, "symmetric", range(1, 9), max_samples=2**14)
    assert asym["bits"].min() == 1 and list(asym["bits"][:3]) == [1, 2, 3]
    assert list(sym["bits"]) == list(range(2, 9))  # 1 bit left out, not an error
    one = asym[asym["bits"] == 1].iloc[0]
    at = np.arange(0, X.size, 4)  # every 4th value, with the minimum and maximum in place of their nearest
    for end in (int(np.argmin(X)), int(np.argmax(X))):
        at[np.argmin(np.abs(at - end))] = end
    sample = X[np.sort(at)]
    assert one["sqnr_db"] == pytest.approx(ql.Quantizer("asymmetric", bits=1)(sample).metrics(sample).sqnr_db)


def test_rate_distortion_has_one_bit_points_for_the_schemes_that_allow_them():
    df = ql.rate_distortion(X[:8192], ["asymmetric", "symmetric", "quantile", "lloyd_max", "log2"])
    one = set(df.loc[df["bits"] == 1, "scheme"])
    assert one == {"asymmetric", "quantile", "lloyd_max"}
    assert not df.attrs["skipped"]  # a width a scheme does not take is not a configuration, not a failure


# ------------------------------------------------------------------------------------ pages
def test_explore_offers_one_bit_for_asymmetric_only():
    at = open_app("explore", {"scheme": "asymmetric"})
    slider = at.slider(key="asymmetric.bits")
    assert slider.min == 1
    slider.set_value(1).run()
    assert not at.exception and not at.error
    expected = ql.Quantizer("asymmetric", bits=1)(X).metrics(X)
    assert next(m.value for m in at.metric if m.label == "SQNR") == f"{expected.sqnr_db:.2f} dB"
    at.selectbox(key="scheme").set_value("symmetric").run()
    assert at.slider(key="symmetric.bits").min == 2


def test_compare_takes_a_one_bit_configuration_and_explains_a_refused_one():
    import json

    at = open_app("compare", {"configs": json.dumps([["asymmetric", {"bits": 1}], ["symmetric", {"bits": 2}]])})
    table = at.dataframe[0].value
    row = table[table["configuration"] == "asymmetric · bits=1 · minmax"]
    assert np.isclose(row["SQNR dB"].item(), ql.Quantizer("asymmetric", bits=1)(X).metrics(X).sqnr_db)
    bad = open_app("compare", {"configs": json.dumps([["symmetric", {"bits": 1}]])})
    assert any("a 1-bit signed grid is {-1, 0}" in w.value.replace("\\", "") for w in bad.warning)
    at.selectbox(key="add.scheme").set_value("asymmetric").run()
    assert at.slider(key="add.asymmetric.bits").min == 1
