"""The Formats page and the grid helpers behind it: quantlib.formats.format_grid / grid_landing / format_table.

Grid facts come from outside quantlib: every bit pattern of the ml_dtypes type, ml_dtypes.finfo,
bitsandbytes' own codebooks (the published NF4 values when bitsandbytes is missing), the OCP
E2M1 table and llama.cpp's code ranges. The page is driven through AppTest; its numbers are
checked against quantlib's results and against counts made here with plain numpy.
"""

from __future__ import annotations

import json

import ml_dtypes
import numpy as np
import pytest
from conftest import open_app

import quantlib as ql
from quantlib import formats as fm
from quantlib.formats import FormatGrid, format_grid, format_table, grid_landing

X = ql.synthetic("normal", 2**16, 0)  # the default data source
E2M1 = [0, 0.5, 1, 1.5, 2, 3, 4, 6]  # OCP MX v1.0, table of FP4 E2M1 values
NF4_PUBLISHED = [-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
                 -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
                 0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
                 0.7229568362236023, 1.0]  # QLoRA (Dettmers et al. 2023), appendix E
BLOCK_SCHEMES = ("mxfp8_e4m3", "mxfp8_e5m2", "mxfp6_e3m2", "mxfp6_e2m3", "mxfp4", "mxint8", "nvfp4", "nf4",
                 "fp4_bnb", "q8_0", "q4_0", "q4_1", "q5_0", "int_group")


def every_finite_value(dtype) -> np.ndarray:
    """All finite values of an ml_dtypes / numpy float type, from every bit pattern, -0 merged into 0."""
    bits = ml_dtypes.finfo(dtype).bits
    patterns = np.arange(2**bits, dtype=np.uint8 if np.dtype(dtype).itemsize == 1 else np.uint16)
    with np.errstate(invalid="ignore"):  # the NaN patterns
        v = patterns.view(dtype).astype(np.float64)
    return np.unique(v[np.isfinite(v)] + 0.0)


def symmetric(magnitudes) -> np.ndarray:
    m = np.asarray(magnitudes, np.float64)
    return np.unique(np.concatenate([-m, m]))


@pytest.fixture(scope="module")
def bnb_codebooks() -> dict[str, np.ndarray]:
    """bitsandbytes' own codebooks when it imports, else the published NF4 values only."""
    try:
        from bitsandbytes.functional import get_4bit_type
    except Exception:  # not installed, or no usable backend
        return {"nf4": np.array(NF4_PUBLISHED)}
    return {name: get_4bit_type(name, device="cpu").numpy().astype(np.float64) for name in ("nf4", "fp4")}


# ----------------------------------------------------------------------------- grids
@pytest.mark.parametrize("name", list(fm.FLOATS))
def test_float_grid_is_every_finite_value_of_the_ml_dtypes_type(name):
    g = format_grid(name)
    assert g.kind == "levels"
    np.testing.assert_array_equal(g.values, every_finite_value(fm.FLOATS[name].dtype))


@pytest.mark.parametrize("name", list(fm.FLOATS))
def test_float_dynamic_range_numbers_come_from_finfo(name):
    fi = ml_dtypes.finfo(fm.FLOATS[name].dtype)
    g = format_grid(name)
    top, sub, normal = float(fi.max), float(fi.smallest_subnormal), float(fi.smallest_normal)
    assert (g.max_magnitude, g.min_positive, g.min_normal) == (top, sub, normal)
    assert g.dynamic_range_db == pytest.approx(20 * np.log10(top / sub), rel=1e-12)
    assert g.binades == pytest.approx(np.log2(top / sub), rel=1e-12)
    assert g.normal_binades == pytest.approx(np.log2(top / normal), rel=1e-12)


@pytest.mark.parametrize("name", ["fp4_e2m1", "mxfp4", "nvfp4"])
def test_e2m1_grid_is_the_ocp_table(name):
    g = format_grid(name)
    np.testing.assert_array_equal(g.values, symmetric(E2M1))
    assert g.kind == ("levels" if name == "fp4_e2m1" else "element grid")
    assert (g.min_normal, g.min_positive, g.max_magnitude) == (1.0, 0.5, 6.0)


@pytest.mark.parametrize("name, dtype", [("mxfp8_e4m3", ml_dtypes.float8_e4m3fn), ("mxfp8_e5m2", ml_dtypes.float8_e5m2),
                                         ("mxfp6_e3m2", ml_dtypes.float6_e3m2fn), ("mxfp6_e2m3", ml_dtypes.float6_e2m3fn)])
def test_mx_float_element_grid_is_the_element_type_and_the_scale_is_e8m0(name, dtype):
    g = format_grid(name)
    assert g.kind == "element grid" and "E8M0" in g.scale and "32" in g.scale
    np.testing.assert_array_equal(g.values, every_finite_value(dtype))


def test_mxint8_element_grid_is_k_over_64():
    np.testing.assert_array_equal(format_grid("mxint8").values, np.arange(-127, 128) / 64)


def test_nf4_grid_is_the_bitsandbytes_codebook(bnb_codebooks):
    g = format_grid("nf4")
    assert g.kind == "element grid" and "absmax" in g.scale
    np.testing.assert_array_equal(g.values, np.sort(bnb_codebooks["nf4"]))
    np.testing.assert_allclose(g.values, NF4_PUBLISHED, rtol=0, atol=1e-7)


def test_fp4_bnb_grid_is_the_bitsandbytes_codebook(bnb_codebooks):
    if "fp4" not in bnb_codebooks:
        pytest.skip("bitsandbytes is not importable")
    np.testing.assert_array_equal(format_grid("fp4_bnb").values, np.unique(bnb_codebooks["fp4"]))


@pytest.mark.parametrize("name, settings, lo, hi", [
    ("q8_0", {}, -127, 127), ("q4_0", {}, -8, 7), ("q5_0", {}, -16, 15), ("q4_1", {}, 0, 15),
    ("int_group", {"bits": 4}, -8, 7), ("int_group", {"bits": 3, "symmetric": False}, 0, 7),
], ids=["q8_0", "q4_0", "q5_0", "q4_1", "int_group-int4", "int_group-uint3"])
def test_integer_element_grids_are_the_code_ranges(name, settings, lo, hi):
    g = format_grid(name, settings)
    assert g.kind == "element grid" and g.min_normal is None
    np.testing.assert_array_equal(g.values, np.arange(lo, hi + 1))


def test_values_per_binade_of_e4m3fn_count_its_mantissa_steps():
    k, counts = format_grid("fp8_e4m3fn").per_binade()
    # subnormals m * 2**-9 (m = 1..7) fill 1, 2, 4 values of three binades; then 2**3 per binade, and the
    # top binade [256, 512) stops at 448 because S.1111.111 is NaN
    assert k[0] == -9 and k[-1] == 8
    assert list(counts) == [1, 2, 4] + [8] * 14 + [7]
    assert set(format_grid("fp8_e5m2").per_binade()[1][2:]) == {4}


def test_spacing_is_constant_on_an_integer_grid_and_doubles_per_binade_on_a_float():
    mag, gap = format_grid("q4_0").spacing()
    assert set(gap) == {1.0} and mag.max() == 8
    mag, gap = format_grid("fp8_e4m3fn").spacing()
    assert set(gap[(mag > 1) & (mag <= 2)]) == {1 / 8} and set(gap[(mag > 256)]) == {32.0}


def test_a_tensor_dependent_grid_needs_the_result():
    with pytest.raises(ValueError, match="depends on the tensor"):
        format_grid("symmetric")
    r = ql.Quantizer("symmetric", bits=4)(X)
    g = format_grid("symmetric", {"bits": 4}, r)
    assert g.kind == "levels"
    np.testing.assert_array_equal(g.values, r.levels)
    with pytest.raises(ValueError, match="not 'asymmetric'"):
        format_grid("asymmetric", {}, r)


def test_per_tensor_scaled_float_shows_its_actual_levels():
    r = ql.Quantizer("fp8_e4m3fn", scaling="per_tensor")(X)
    g = format_grid("fp8_e4m3fn", {"scaling": "per_tensor"}, r)
    s = float(np.abs(X).max()) / 448
    assert g.kind == "levels" and g.max_magnitude == pytest.approx(float(np.abs(X).max()), rel=1e-6)
    np.testing.assert_allclose(g.values, every_finite_value(ml_dtypes.float8_e4m3fn) * s, rtol=1e-6)
    assert g.min_normal == pytest.approx(2.0**-6 * s, rel=1e-6)


def test_per_channel_schemes_show_an_element_grid():
    w = X.reshape(256, 256)
    g = format_grid("fp8_e5m2", {"scaling": "per_channel"})
    assert g.kind == "element grid" and "per channel" in g.scale
    r = ql.Quantizer("symmetric", bits=4, granularity="per_channel")(w)
    assert grid_landing(w, r).grid.kind == "element grid"
    np.testing.assert_array_equal(grid_landing(w, r).grid.values, np.arange(-8, 8))


@pytest.mark.parametrize("values", [[], [1.0, 1.0], [2.0, 1.0], [0.0, np.inf]], ids=["empty", "repeat", "descending", "inf"])
def test_a_grid_refuses_values_that_are_no_grid(values):
    with pytest.raises(ValueError, match="strictly increasing"):
        FormatGrid("x", "levels", np.array(values), "level", "")


# --------------------------------------------------------------------------- landing
def test_levels_landing_counts_every_element_on_its_level():
    r = ql.Quantizer("fp8_e4m3fn")(X)
    land = grid_landing(X, r)
    values, counts = np.unique(r.dequantized.astype(np.float64) + 0.0, return_counts=True)
    assert land.used == values.size and land.size == X.size and land.clipped == 0
    np.testing.assert_array_equal(land.counts[np.searchsorted(land.grid.values, values)], counts)
    assert (land.clip_low, land.clip_high) == (-464.0, 464.0)  # 448 + half of the last step 32


def test_clipping_of_a_calibrated_integer_grid_is_quantlibs_clip_ratio():
    r = ql.Quantizer("symmetric", bits=4, calibration="percentile", percentile=99.0)(X)
    land = grid_landing(X, r)
    assert land.clip_share > 0.001
    assert land.clip_share == r.metrics(X).clip_ratio


@pytest.mark.parametrize("name", BLOCK_SCHEMES)
def test_every_element_of_a_block_format_lands_on_its_element_grid(name):
    x = np.resize(X, 4000)  # not a multiple of 64 or 128: short last blocks
    r = ql.Quantizer(name)(x)
    land = grid_landing(x, r)
    assert land.grid.kind == "element grid" and land.size == x.size
    if name in ("nf4", "q8_0", "q4_0", "q5_0", "q4_1", "mxint8", "int_group"):  # one code per grid value
        assert land.used == np.unique(r.codes).size


def test_mxfp4_clipping_is_the_share_beyond_half_a_step_past_6():
    r = ql.Quantizer("mxfp4")(X)
    land = grid_landing(X, r)
    xb = X.reshape(-1, 32).astype(np.float64)
    e = np.floor(np.log2(np.abs(xb).max(axis=1, keepdims=True))) - 2  # OCP: floor(log2 amax) - emax(E2M1)
    y = xb / 2.0**e
    assert (land.clip_low, land.clip_high) == (-7.0, 7.0)
    assert (land.clipped_low, land.clipped_high) == (np.count_nonzero(y < -7), np.count_nonzero(y > 7))
    assert land.clipped > 0


def test_q4_0_clips_the_opposite_sign_of_the_block_maximum():
    land = grid_landing(X, ql.Quantizer("q4_0")(X))
    xb = X.reshape(-1, 32).astype(np.float64)
    m = np.take_along_axis(xb, np.abs(xb).argmax(axis=1)[:, None], axis=1)
    y = xb / (m / -8)  # the value of largest magnitude lands on -8; its opposite sign reaches +8
    assert land.clipped_low == 0 and land.clipped_high == np.count_nonzero(y > 7.5) > 0


def test_bitsandbytes_never_clips():
    for name in ("nf4", "fp4_bnb"):
        assert grid_landing(X, ql.Quantizer(name)(X)).clipped == 0


# ----------------------------------------------------------------------------- table
def test_format_table_covers_the_registry_with_computed_numbers():
    x = X[:4096]
    df = format_table(x)
    assert list(df["scheme"]) == list(ql.SCHEMES) and (df["note"] == "").all()
    for name in ("fp8_e4m3fn", "mxfp4", "nf4", "q4_0", "lloyd_max"):
        row = df[df["scheme"] == name].iloc[0]
        r = ql.Quantizer(name)(x)
        assert row["SQNR dB"] == r.metrics(x).sqnr_db and row["bits/element"] == r.bits_per_element
        assert row["levels"] == grid_landing(x, r).grid.size and row["levels used"] == grid_landing(x, r).used
    assert df.set_index("scheme").loc["mxfp4", "bits/element"] == 4.25


def test_format_table_notes_a_scheme_that_refuses_the_tensor():
    df = format_table(X[:4096] * np.float32(1e7), ["q8_0", "fp8_e4m3fn"])
    row = df.set_index("scheme")
    assert "float16" in row.loc["q8_0", "note"] and np.isnan(row.loc["q8_0", "SQNR dB"])
    assert row.loc["fp8_e4m3fn", "note"] == "" and row.loc["fp8_e4m3fn", "clip_ratio"] > 0.9


# ------------------------------------------------------------------------------ page
def formats_page(**query):
    return open_app("formats", query)


def metric(at, label) -> str:
    return next(m.value for m in at.metric if m.label == label)


def chart_traces(at, i: int) -> list[str]:
    return [t.get("name", "") for t in json.loads(at.get("plotly_chart")[i].proto.spec)["data"]]


def test_page_default_view_shows_quantlibs_numbers():
    at = formats_page()
    r = ql.Quantizer("fp8_e4m3fn")(X)
    used = np.unique(r.dequantized).size  # counted here, without quantlib's grid code
    assert metric(at, "values used") == f"{used:,} of 253"
    assert metric(at, "values") == "253" and metric(at, "largest magnitude") == "448"
    assert metric(at, "dynamic range") == f"{20 * np.log10(448 / 2**-9):.1f} dB"
    assert metric(at, "clipped") == "0.000%" and metric(at, "clip above") == "464"
    assert metric(at, "bits per element") == "8"
    assert len(at.get("plotly_chart")) == 3
    assert len(chart_traces(at, 0)) == 4  # the format and its three default overlays
    table = at.dataframe[0].value
    assert list(table["scheme"]) == list(ql.SCHEMES)


def test_page_renders_every_registry_scheme_with_quantlibs_numbers():
    at = formats_page(**{"formats.overlay": ""})
    for name in ql.SCHEMES:
        at.selectbox(key="formats.scheme").set_value(name).run()
        assert not at.exception and not at.error, (name, at.exception, [e.value for e in at.error])
        land = grid_landing(X, ql.Quantizer(name)(X))
        assert metric(at, "values used") == f"{land.used:,} of {land.grid.size:,}", name
        assert metric(at, "clipped") == f"{land.clip_share:.3%}", name
        assert len(at.get("plotly_chart")) == 3


def test_page_shows_where_mxfp4_clips():
    at = formats_page(**{"formats.scheme": "mxfp4"})
    land = grid_landing(X, ql.Quantizer("mxfp4")(X))
    assert land.clipped > 0
    assert metric(at, "clipped") == f"{land.clip_share:.3%}"
    assert (metric(at, "clip below"), metric(at, "clip above")) == ("-7", "7")
    assert any(f"{land.clipped:,} elements clipped" in c.value for c in at.caption)


def test_page_link_reproduces_the_view_made_with_the_controls():
    at = formats_page()
    at.selectbox(key="formats.scheme").set_value("mxfp6_e2m3").run()
    at.selectbox(key="formats.mxfp6_e2m3.exponent").set_value("ceil").run()
    at.multiselect(key="formats.overlay").set_value(["q4_0", "nvfp4"]).run()
    # a multiselect's link repeats its key, one value each (?formats.overlay=q4_0&formats.overlay=nvfp4)
    link = {"formats.scheme": "mxfp6_e2m3", "formats.mxfp6_e2m3.exponent": "ceil", "formats.overlay": ["q4_0", "nvfp4"]}
    again = formats_page(**link)
    assert dict(again.query_params) == link
    assert again.selectbox(key="formats.mxfp6_e2m3.exponent").value == "ceil"
    assert again.multiselect(key="formats.overlay").value == ["q4_0", "nvfp4"]
    for label in ("values used", "clipped", "SQNR", "bits per element"):
        assert metric(again, label) == metric(at, label)
    assert metric(again, "clipped") == f"{grid_landing(X, ql.Quantizer('mxfp6_e2m3', exponent='ceil')(X)).clip_share:.3%}"
    assert len(chart_traces(again, 0)) == 3


@pytest.mark.parametrize("query, key", [({"formats.scheme": "<script>"}, "formats.scheme"),
                                        ({"formats.overlay": "fp8_e4m3fn,nope"}, "formats.overlay"),
                                        ({"formats.fp8_e4m3fn.scaling": "log"}, "formats.fp8_e4m3fn.scaling")],
                         ids=["scheme", "overlay", "setting"])
def test_page_refuses_hostile_url_values(query, key):
    at = formats_page(**query)
    assert key not in at.query_params and not at.warning
    assert metric(at, "values") == "253"  # the default view still renders
    assert len(chart_traces(at, 0)) == 4  # with the default overlays


def test_page_keeps_the_known_overlays_of_a_link_and_drops_the_rest():
    at = formats_page(**{"formats.overlay": ["nf4", "nope", "<b>"]})
    assert at.multiselect(key="formats.overlay").value == ["nf4"]
    assert at.query_params["formats.overlay"] == "nf4"  # the link is corrected
    assert len(chart_traces(at, 0)) == 2


def test_page_explains_settings_that_cannot_apply():
    at = formats_page(**{"formats.fp8_e4m3fn.scaling": "per_channel"})
    assert "at least 2 dimensions" in at.error[0].value
    at.radio(key="data.layout").set_value("matrix").run()
    assert not at.error and metric(at, "values used").endswith("of 253")
