"""Error anatomy (quantlib/anatomy.py): the MSE in parts that add up, saturation, one block."""

import numpy as np
import pytest

import quantlib as ql
from quantlib import anatomy

HEAVY = ql.synthetic("student_t", 3000, 1)  # heavy tails (things saturate), a short last block


@pytest.mark.parametrize("scheme", list(ql.SCHEMES))
def test_the_three_parts_add_up_to_the_mse(scheme):
    spec = ql.SCHEMES[scheme]
    settings = spec.at_bits(4, spec.defaults())
    r = ql.Quantizer(scheme, **settings)(HEAVY)
    a = ql.error_anatomy(HEAVY, r)
    e = HEAVY.astype(np.float64) - r.dequantized
    assert a.mse == pytest.approx(float(np.mean(e * e)), rel=1e-12)
    assert min(a.scale_mse, a.clipping_mse, a.rounding_mse) >= 0
    assert a.scale_mse + a.clipping_mse + a.rounding_mse == pytest.approx(a.mse, rel=1e-9, abs=1e-300)
    assert a.saturated == a.saturated_low + a.saturated_high <= a.size == HEAVY.size
    assert (a.kind == "blocks") == (r.blocks is not None)


def test_block_scale_part_is_what_the_least_squares_scale_removes():
    # independent of the module: numpy's lstsq per block, scale only (Q8_0 stores no offset)
    x = ql.synthetic("normal", 32 * 64, 0)
    r = ql.Quantizer("q8_0")(x)
    d = r.blocks.scales.astype(np.float64)
    v = (r.dequantized.astype(np.float64).reshape(-1, 32)) / d[:, None]
    xb = x.astype(np.float64).reshape(-1, 32)
    best = np.array([np.linalg.lstsq(v[b][:, None], xb[b], rcond=None)[0][0] for b in range(64)])
    removed = np.sum((d[:, None] * v - best[:, None] * v) ** 2) / x.size
    assert ql.error_anatomy(x, r).scale_mse == pytest.approx(removed, rel=1e-9)


def test_block_scale_part_with_a_stored_offset_uses_both():
    x = ql.synthetic("lognormal", 32 * 16, 4)
    r = ql.Quantizer("q4_1")(x)
    d, m = r.blocks.scales.astype(np.float64), r.blocks.offsets.astype(np.float64)
    h = r.dequantized.astype(np.float64).reshape(-1, 32)
    v = (h - m[:, None]) / d[:, None]
    xb = x.astype(np.float64).reshape(-1, 32)
    removed = 0.0
    for b in range(16):
        coef = np.linalg.lstsq(np.stack([v[b], np.ones(32)], axis=1), xb[b], rcond=None)[0]
        removed += np.sum((h[b] - (coef[0] * v[b] + coef[1])) ** 2)
    assert ql.error_anatomy(x, r).scale_mse == pytest.approx(removed / x.size, rel=1e-9)


def test_affine_parts_are_the_metrics_own_clipping_and_rounding():
    r = ql.Quantizer("symmetric", bits=4, calibration="percentile", percentile=99.0)(HEAVY)
    a, m = ql.error_anatomy(HEAVY, r), r.metrics(HEAVY)
    assert a.scale_mse == 0 and a.saturated == round(m.clip_ratio * HEAVY.size) > 0
    assert a.clipping_mse == pytest.approx(m.clipping_mse, rel=1e-12)
    assert a.rounding_mse == pytest.approx(m.rounding_mse, rel=1e-12)


def test_mx_floor_exponent_saturates_and_ceil_does_not():
    x = np.full(32, 1.0, np.float32)
    x[0] = 7.9  # amax 7.9: floor(log2 7.9) - 2 = 0, so 7.9 saturates at E2M1's 6; 1.0 fits
    floor = ql.error_anatomy(x, ql.Quantizer("mxfp4", ties="even")(x))
    ceil = ql.error_anatomy(x, ql.Quantizer("mxfp4", exponent="ceil", ties="even")(x))
    assert (floor.saturated, floor.saturated_high, floor.saturated_low) == (1, 1, 0)
    assert floor.clipping_mse > 0 and ceil.saturated == 0 and ceil.clipping_mse == 0


def test_q4_0_negative_scale_counts_the_far_side_as_high():
    x = np.linspace(-1, 1, 32).astype(np.float32)
    x[3], x[5] = 2.0, -(2.0 - 1e-3)  # the value of largest magnitude is +2: d = 2 / -8 < 0
    r = ql.Quantizer("q4_0")(x)
    a = ql.error_anatomy(x, r)
    assert r.blocks.scales[0] < 0
    # -1.999 / d = 7.996 is beyond the grid's top code value 7 (x_hat = 7 d = -1.75): the low end in x
    assert r.dequantized[5] == np.float32(7 * r.blocks.scales[0])
    assert (a.saturated, a.saturated_low) == (1, 1)


def test_block_view_shows_the_block_as_stored():
    x = ql.synthetic("normal", 1000, 2)
    r = ql.Quantizer("nvfp4")(x)
    assert anatomy.block_count(x, r) == 63
    v = ql.block_view(x, r, 62)  # the short last block: 1000 = 62 * 16 + 8
    assert (v.blocks, v.size, v.start, len(v.table)) == (63, 16, 992, 8)
    assert np.array_equal(v.table["x"].to_numpy(), x[992:].astype(np.float64))
    assert np.array_equal(v.table["x_hat"].to_numpy(), r.dequantized[992:].astype(np.float64))
    assert np.array_equal(v.table["code"].to_numpy(), r.codes[992:])
    assert v.scale == float(r.blocks.scales[62]) * r.blocks.global_scale and v.offset is None
    assert np.allclose(v.table["grid value"] * v.scale, v.table["x_hat"], rtol=1e-6)


def test_block_view_refuses_a_scheme_without_blocks_and_a_bad_index():
    r = ql.Quantizer("symmetric")(HEAVY)
    with pytest.raises(ValueError, match="not a block format"):
        ql.block_view(HEAVY, r, 0)
    with pytest.raises(ValueError, match="block index"):
        ql.block_view(HEAVY, ql.Quantizer("nf4")(HEAVY), 999)


def _outlier_weight() -> np.ndarray:
    """A 256 × 512 float32 weight whose input column 7 holds outliers, as transformer weights do."""
    w = (np.random.default_rng(11).standard_normal((256, 512)) * 0.02).astype(np.float32)
    w[:, 7] *= 50
    return w


@pytest.mark.parametrize("scheme", [n for n in ql.SCHEMES if ql.SCHEMES[n].grid is not None
                                    or n in ("symmetric", "asymmetric", "histogram", "lloyd_max")])
def test_one_clipping_count_for_the_cards_the_formats_page_and_the_anatomy(scheme):
    """Explore's and Compare's "clipped" (Metrics.clip_ratio), Formats' landing and Rate–distortion's
    saturated count are one number: q4_k once showed 0.204 % on Formats and 0 on Rate–distortion, and
    every block format showed 0 on Explore's cards."""
    from quantlib.formats.grids import grid_landing

    w = _outlier_weight()
    try:
        r = ql.Quantizer(scheme)(w)
    except ValueError:
        pytest.skip(f"{scheme} refuses this tensor")
    m, a = r.metrics(w), ql.error_anatomy(w, r)
    try:
        landed = grid_landing(w, r).clipped
    except ValueError:
        landed = 0  # no grid: nothing to clip at
    assert round(m.clip_ratio * w.size) == a.saturated == landed
    assert a.saturated == a.saturated_low + a.saturated_high
    if a.scale_mse == 0:  # no block-scale part: the anatomy's clipping part is the metrics' own
        assert a.clipping_mse == pytest.approx(m.clipping_mse, rel=1e-12, abs=1e-30)


def test_k_quants_clip_the_outlier_column():
    w = _outlier_weight()
    for scheme in ("q4_k", "q3_k", "q6_k"):
        r = ql.Quantizer(scheme)(w)
        assert ql.error_anatomy(w, r).saturated > 0 and r.metrics(w).clip_ratio > 0, scheme
