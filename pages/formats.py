"""Formats: the value grid of a number format, its dynamic range and bits, and how the tensor lands on it.

Axes: the grid and landing plots use a symmetric-log value axis — linear within ±c (c = the smallest
non-zero magnitude shown, so only 0 lies in the linear part), one unit per binade beyond, negatives
mirrored — because Plotly's log axis cannot show negative values or 0.
"""

import streamlit as st

import quantlib as ql
from pages import _common as ui
from quantlib import export, figures
from quantlib.formats import GGMLBlocks, format_table, ggml_table, grid_landing, proxy_importance, superblock_view

DEFAULT_SCHEME = "fp8_e4m3fn"
DEFAULT_OVERLAY = ["fp8_e5m2", "fp4_e2m1", "nf4"]
TABLE_MAX_SAMPLES = 2**20


@st.cache_data(max_entries=32, ttl=3600, show_spinner=False)
def landing(source: tuple, scheme: str, frozen: tuple) -> ql.formats.GridLanding:
    return grid_landing(ui.load_tensor(source), ui.run_scheme(source, scheme, dict(frozen)))


@st.cache_data(max_entries=8, ttl=3600, show_spinner=False)
def table(source: tuple, names: tuple[str, ...]):
    """Every registry format ranked on the tensor; keyed by the registry's names too, so a
    scheme registered later is ranked as well."""
    return format_table(ui.load_tensor(source), names, max_samples=TABLE_MAX_SAMPLES)


@st.cache_data(max_entries=8, ttl=3600, show_spinner=False)
def ggml_types_table(source: tuple, importance: bool):
    """Every ggml type on the tensor (its first TABLE_MAX_SAMPLES values), with the stand-in imatrix or without."""
    x = ui.load_tensor(source)
    if x.size > TABLE_MAX_SAMPLES:
        x = x.reshape(-1, x.shape[-1])[: max(1, TABLE_MAX_SAMPLES // x.shape[-1])] if x.ndim > 1 else x[:TABLE_MAX_SAMPLES]
    return ggml_table(x, proxy_importance(x) if importance else None)


@st.cache_resource(max_entries=4, ttl=3600, show_spinner=False)
def ggml_result(source: tuple, scheme: str, frozen: tuple, importance: bool) -> ql.QuantResult:
    x = ui.load_tensor(source)
    extra = {"imatrix": proxy_importance(x)} if importance else {}
    return ql.Quantizer(scheme, **{**dict(frozen), **extra})(x)


def block_inspector(source: tuple, scheme: str, settings: dict) -> None:
    """One block of a ggml-type result, field by field (super-block scales, sub-block codes, elements, errors)."""
    st.subheader("ggml block inspector")
    c = st.columns([1, 1, 2])
    takes = any(s.name == "imatrix" for s in ql.SCHEMES[scheme].settings)  # tq1_0 / tq2_0: ggml ignores it
    importance = c[1].toggle("Importance weights", value=False, key="formats.imatrix", **ui.KEEP, disabled=not takes,
                             help="Quantize with an importance matrix, as llama-quantize --imatrix does. A lone tensor "
                                  "has no activations, so the stand-in is each column's mean x² over the rows."
                                  + ("" if takes else " This type takes none (as in ggml).")) and takes
    try:
        r = ggml_result(source, scheme, frozen(settings), importance)
        nb = r.ggml_blocks.q.shape[0]
        index = int(c[0].number_input("Block", 0, nb - 1, value=0, step=1, key="formats.block", **ui.KEEP,
                                      help=f"Which (super-)block of the {nb:,} to open, in the order ggml stores them."))
        v = superblock_view(ui.load_tensor(source), r, min(index, nb - 1))
    except (ValueError, TypeError) as exc:
        st.error(f"This block cannot be shown: {ui.plain(exc)}")
        return
    m = st.columns(4)
    m[0].metric("d (fp16)", f"{v['d']:.6g}", help="The block's stored float16 scale (of the sub-block scales).")
    m[1].metric("dmin (fp16)", "—" if v["dmin"] is None else f"{v['dmin']:.6g}",
                help="The stored float16 scale of the sub-block minimums (the block minimum for Q4_1 / Q5_1).")
    m[2].metric("sub-blocks", f"{v['codes'].shape[0]} × {v['codes'].shape[1]}", help="Sub-blocks × elements each.")
    m[3].metric("bytes", f"{len(v['bytes'])}", help="Bytes of this block as ggml stores it (to_ggml_bytes).")
    st.caption("Per sub-block: its quantized scale and minimum codes and what they mean, "
               "x̂ = (d·sc)·v[q] + offset, and its largest error.")
    ui.dataframe(v["sub_blocks"], hide_index=True, width="stretch")
    st.caption("Element codes q (one row per sub-block), as stored:")
    ui.dataframe(v["codes"], width="stretch")
    st.caption("Errors x̂ − x of the same elements:")
    ui.dataframe(v["error"], width="stretch", column_config={str(i): st.column_config.NumberColumn(format="%.3g")
                                                              for i in range(v["error"].shape[1])})
    with st.expander("Raw bytes of this block", expanded=False):
        st.code(v["bytes"].hex(" "), language=None)


def ggml_types_section(source: tuple) -> None:
    st.subheader("Every ggml type on this tensor")
    importance = st.toggle("With importance weights", value=False, key="formats.table_imatrix", **ui.KEEP,
                           help="Quantize with the stand-in importance matrix (each column's mean x² over the rows), "
                                "as llama-quantize --imatrix; Q8_0 and the ternary types ignore it, as in ggml.")
    with st.spinner("Quantizing the tensor with every ggml type…"):
        df = ggml_types_table(source, importance)
    ui.dataframe(df, hide_index=True, width="stretch", height=35 * (len(df) + 1) + 3, column_config={
        "bits/weight": st.column_config.NumberColumn(format="%.4g"),
        "size bytes": st.column_config.NumberColumn(format="%d"),
        "MSE": st.column_config.NumberColumn(format="%.4g"),
        "SQNR dB": st.column_config.NumberColumn(format="%.2f"),
        "weighted MSE": st.column_config.NumberColumn(format="%.4g"),
    })
    st.caption("Like the table llama.cpp's quantize prints: bits per weight from the block layout, the tensor's size "
               "in that type, MSE and SQNR; weighted MSE weighs each column's error by the stand-in importance. "
               "Click a column header to sort.")


def frozen(settings: dict) -> tuple:
    return tuple(sorted(settings.items()))


ui.start_page()
st.title("Formats")
st.caption("The value grid of a number format, its dynamic range and bits per element, and how the current tensor "
           "lands on it. Per-tensor formats show their actual levels; block formats show the grid of one element, "
           "in units of its block scale.")
source = ui.require_source()
schemes = list(ql.SCHEMES)

controls, view = st.columns([1, 3], gap="medium")
with controls:
    scheme = st.selectbox("Format", schemes, index=schemes.index(DEFAULT_SCHEME), key="formats.scheme", **ui.KEEP,
                          help="Any registry scheme; its own settings appear below. Its grid, dynamic range and "
                               "how the tensor lands on it are shown on the right.")
    spec = ql.SCHEMES[scheme]
    st.caption(spec.description)
    settings = ui.scheme_settings(scheme, ui.load_tensor(source).ndim, prefix="formats.")

try:
    with st.spinner("Quantizing and placing the tensor on the grid…"):
        result = ui.run_scheme(source, scheme, settings)
        land = landing(source, scheme, frozen(settings))
        m = ui.scheme_metrics(source, scheme, settings)
except (ValueError, TypeError) as exc:
    view.error(f"These settings cannot be applied: {exc}")
    st.stop()
grid = land.grid

with view:
    st.markdown(f"**{scheme}** · {grid.kind}: {grid.size:,} distinct values, each a {grid.element}")
    st.caption(("Actual levels, in the tensor's units: " if grid.kind == "levels" else
                "Element grid, in units of the block scale — a block's real values are this grid times its scale: ")
               + grid.scale + ".")
    c = st.columns(4)
    c[0].metric("values", f"{grid.size:,}", help="Distinct finite values of the grid (+0 and −0 counted once).")
    c[1].metric("dynamic range", f"{grid.dynamic_range_db:.1f} dB",
                help="20·log10(largest / smallest non-zero magnitude) of the grid; 6.02 dB per binade.")
    c[2].metric("binades", f"{grid.binades:.2f}", help="log2(largest / smallest non-zero magnitude): octaves covered.")
    c[3].metric("largest magnitude", f"{grid.max_magnitude:.6g}", help="max |v| over the grid.")
    c = st.columns(4)
    c[0].metric("smallest normal", "—" if grid.min_normal is None else f"{grid.min_normal:.4g}",
                help="Smallest positive normal value of a float element type (— for other grids)"
                     + ("" if grid.normal_binades is None else f"; normals span {grid.normal_binades:.2f} binades."))
    c[1].metric("smallest non-zero", "—" if grid.min_positive is None else f"{grid.min_positive:.4g}",
                help="Smallest non-zero magnitude: the smallest subnormal of a float type.")
    c[2].metric("bits per element", f"{result.bits_per_element:.4g}",
                help="Element bits plus the stored scales (and codebook or zero-points) per element, on this tensor.")
    c[3].metric("SQNR", f"{m['sqnr_db']:.2f} dB", help="10·log10(Σx² / Σ(x − x̂)²) of this format on the tensor.")
    c = st.columns(4)
    c[0].metric("values used", f"{land.used:,} of {grid.size:,}",
                help="Grid values at least one element of the tensor is quantized to.")
    c[1].metric("clipped", f"{land.clip_share:.3%}",
                help=f"{land.clipped:,} of {land.size:,} elements lie beyond the clip thresholds: their error exceeds "
                     "half the last step.")
    unit = "in the tensor's units" if grid.kind == "levels" else "in units of the block scale"
    c[2].metric("clip below", f"{land.clip_low:.4g}", help=f"Half a step below the lowest value, {unit}; "
                f"{land.clipped_low:,} elements lie below it.")
    c[3].metric("clip above", f"{land.clip_high:.4g}", help=f"Half a step above the highest value, {unit}; "
                f"{land.clipped_high:,} elements lie above it.")
    st.caption(f"{land.clipped:,} elements clipped ({land.clipped_low:,} below, {land.clipped_high:,} above) · "
               f"MSE {m['mse']:.3g} · code entropy {m['code_entropy_bits']:.2f} bits")

# Full width, above the plots it acts on: in the narrow controls column the chips overflowed.
overlay = st.multiselect("Overlay formats", schemes, default=DEFAULT_OVERLAY, key="formats.overlay", **ui.KEEP,
                         help="Draw these formats' grids (at their default settings, on the same tensor) next "
                              "to the chosen one, in the grid and density plots.")
grids, skipped = [grid], []
with st.spinner("Building the overlay grids…"):
    for name in overlay:
        if name == scheme:
            continue
        try:
            grids.append(landing(source, name, ()).grid)
        except (ValueError, TypeError) as exc:
            skipped.append(f"{name}: {exc}")
for msg in skipped:
    st.warning(f"Overlay skipped — {msg}")

figs = {
    "grid": figures.grid_figure(grids),
    "density": figures.grid_density_figure(grids),
    "landing": figures.grid_landing_figure(land),
}
st.plotly_chart(figs["grid"], width="stretch", key="fig.grid")
st.caption("Symmetric-log axis: linear within ±c (c = the smallest non-zero magnitude shown, so only 0 lies inside), "
           "one unit per binade beyond, negatives mirrored. Element grids are in units of their block scale: the "
           "scale stretches the whole grid by one factor per block, so the real values of a block are the grid "
           "times that block's scale.")
st.plotly_chart(figs["density"], width="stretch", key="fig.density")
st.plotly_chart(figs["landing"], width="stretch", key="fig.landing")

if isinstance(result.ggml_blocks, GGMLBlocks):  # a llama.cpp type: its blocks, and all its siblings on this tensor
    block_inspector(source, scheme, settings)
    ggml_types_section(source)

st.subheader("Every format on this tensor")
with st.spinner("Quantizing the tensor with every registry scheme…"):
    df = table(source, tuple(ql.SCHEMES))
ui.dataframe(df, hide_index=True, width="stretch", height=35 * (len(df) + 1) + 3, column_config={
    "dynamic range dB": st.column_config.NumberColumn(format="%.1f"),
    "binades": st.column_config.NumberColumn(format="%.2f"),
    "bits/element": st.column_config.NumberColumn(format="%.4g"),
    "SQNR dB": st.column_config.NumberColumn(format="%.2f"),
    "SQNR dB per bit": st.column_config.NumberColumn(format="%.3f"),
    "clip_ratio": st.column_config.NumberColumn("clipped", format="percent",
                                                help="Share of elements clipped (a fraction in the .csv)."),
})
st.caption("Each scheme at its default settings. levels: values of its grid (per element for block formats); "
           "bits/element includes the scale overhead"
           + (f"; computed on the first {TABLE_MAX_SAMPLES:,} elements of this tensor." if ui.load_tensor(source).size
              > TABLE_MAX_SAMPLES else "."))

with st.expander("Downloads", expanded=False):
    ui.downloads("Table and figures", [
        ("table .csv", "formats.csv", lambda: df.to_csv(index=False), "text/csv"),
        ("figures .html", f"formats_{scheme}_figures.html", lambda: export.figures_html(figs, f"Formats: {scheme}"),
         "text/html"),
    ], columns=2)
    st.caption(f"figures .html: all {len(figs)} figures in one file that opens offline (plotly.js inside, once).")
