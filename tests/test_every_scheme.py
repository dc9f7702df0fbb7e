"""Every scheme in the registry, on any finite float32 tensor of any shape (hypothesis).

For each registered scheme with its default settings: no exception (except the ggml
formats' clear refusal of tensors whose block scale would overflow their float16); codes and dequantized
values have the input's shape; the metrics compute (with a finite MSE); dequantized
values are finite float32; codes lie in the
scheme's code range (qmin..qmax for affine schemes, within the element's bits for the
others: bit patterns or level indices); per-tensor level sets contain every dequantized value; and the error is bounded
by the family's rule: affine schemes are within half a step of x inside the clipping range
and at the range's edge outside it, the other families never reach beyond twice the
tensor's largest magnitude (log2 rounds up to ~1.41x; every other format stays within
about max|x| plus one element step).
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import quantlib as ql

finite32 = st.floats(allow_nan=False, allow_infinity=False, width=32)
shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=24)
tensors = hnp.arrays(np.float32, shapes, elements=finite32) | hnp.arrays(
    np.float32, shapes, elements=st.floats(-4, 4, width=32)) | st.builds(
    lambda s, v: np.full(s, v, np.float32), shapes, st.sampled_from([0.0, 1e-30, -3.5, 1e30]))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ql.SCHEMES))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(x=tensors)
def test_every_scheme_on_any_finite_tensor(name, x):
    amax = float(np.abs(x).max())
    try:
        r = ql.Quantizer(name)(x)
    except ValueError as exc:  # the one refusal: ggml formats keep block scales/minimums as float16
        assert "float16 (max 65504)" in str(exc) and amax > 65504, str(exc)
        return
    assert r.codes.shape == x.shape and r.dequantized.shape == x.shape
    assert r.dequantized.dtype == np.float32 and np.all(np.isfinite(r.dequantized))
    assert r.codes.dtype.kind in "iu"
    assert np.isfinite(r.metrics(x).mse)  # what every page shows next
    if r.params is not None:
        assert r.codes.min() >= r.params.qmin and r.codes.max() <= r.params.qmax
    else:  # bit patterns or level indices, signed for some block formats: within the element's bits
        width = 2 ** int(np.ceil(r.bits_per_element))
        assert r.codes.min() > -width and r.codes.max() < width
    if r.levels is not None:
        assert np.all(np.isin(r.dequantized, r.levels))
    if r.params is not None and r.params.per_tensor and r.clip_range is not None:
        s = float(r.params.scale)
        lo, hi = r.clip_range
        inside = (x >= lo) & (x <= hi)
        err = np.abs(x.astype(np.float64) - r.dequantized)
        assert np.all(err[inside] <= s / 2 * (1 + 1e-5) + 1e-6 * np.abs(x[inside]) + 1e-30)
    assert np.abs(r.dequantized.astype(np.float64)).max() <= 2.0 * amax + 1e-30


@pytest.mark.parametrize("fmt", sorted(ql.formats.MX_FORMATS))
def test_mx_blocks_near_float32_max_saturate_instead_of_overflowing(fmt):
    """A block maximum a few ulps under 2**128 can round up to an element whose value times
    the block scale is 2**128: the result saturates at float32's largest, never inf."""
    x = np.array([3.4028147e38, -3.4028147e38, 1.0], np.float32)
    r = ql.formats.mx_quantize(x, fmt)
    assert np.all(np.isfinite(r.dequantized))
    assert np.abs(r.dequantized).max() <= np.finfo(np.float32).max
    assert np.sign(r.dequantized[0]) == 1 and np.sign(r.dequantized[1]) == -1


@pytest.mark.parametrize("name", ["symmetric", "asymmetric", "fixed_point", "histogram", "log2", "fp16"])
@pytest.mark.parametrize("values", [[-3.4028235e38, 3.4028235e38], [3.1221190e37, -3.3959934e38], [3.4028235e38] * 40])
def test_data_at_float32s_ends_gives_finite_values_and_metrics(name, values):
    """(q - z) * s at the grid's end can round past float32's largest (torch gives inf there):
    it saturates; and a histogram over [-3.4e38, 3.4e38] (whose span overflows float32) is
    taken in float64 instead of failing inside numpy."""
    x = np.array(values, np.float32)
    r = ql.Quantizer(name)(x)
    assert np.all(np.isfinite(r.dequantized))
    m = r.metrics(x)
    assert np.isfinite(m.mse) and m.levels_used >= 1
