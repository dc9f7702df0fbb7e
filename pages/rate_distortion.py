"""Rate–distortion: every registry scheme on the current tensor at the bits it really costs, against
the limits of this tensor; the anatomy of one configuration's error, a block picker, golden vectors."""

import json

import numpy as np
import streamlit as st

import quantlib as ql
from pages import _common as ui
from quantlib import export, golden, rate
from quantlib import rd_figures as figs

POINT_SAMPLES = rate.MAX_POINT_SAMPLES  # the chart runs on at most 262 144 values (strided), as ql.rate_distortion
VECTOR_MAX_VALUES = 2**22  # golden vectors of up to 4 M values (~60 MB) are offered for download
ANATOMY_MAX_VALUES = 2**21  # the anatomy works in float64 blocks: ~70 bytes a value at its peak
DEFAULT_PICK = "nf4"


@st.cache_data(max_entries=16, ttl=3600, show_spinner=False)
def chart_data(source: tuple, bits: tuple[int, ...], registry: tuple[str, ...]) -> rate.RDChart:
    """Every registry scheme's points at ``bits`` and the tensor's limits, as one pool of tasks on the
    server's cores (:func:`quantlib.rate.rd_chart`), whatever families are shown: choosing families then
    only filters. ``registry`` (the scheme names) is in the key so that a newly registered scheme is
    placed. The progress bar lives inside, so a cached call replays only the bar's removal."""
    bar = st.progress(0.0, text="Placing the schemes and computing the limits of this tensor…")
    step = [0.0]

    def progress(done: int, total: int, label: str) -> None:
        if done == total or done / total >= step[0] + 0.05:  # ~20 updates, not one per task
            step[0] = done / total
            bar.progress(done / total, text=f"{done} of {total} done: {label}")

    chart = rate.rd_chart(ui.load_tensor(source), list(registry), bits, max_samples=POINT_SAMPLES, progress=progress)
    bar.empty()
    return chart


def analysed(source: tuple, scheme: str, frozen: tuple) -> tuple:
    """(tensor, result) the anatomy and the block picker read: the whole tensor, or its first
    ANATOMY_MAX_VALUES values (whole blocks of every format) quantized on their own."""
    x = ui.load_tensor(source)
    if x.size <= ANATOMY_MAX_VALUES:
        return x, ui.run_scheme(source, scheme, dict(frozen))
    return _head_result(source, scheme, frozen)


@st.cache_resource(max_entries=2, ttl=3600, show_spinner=False)
def _head_result(source: tuple, scheme: str, frozen: tuple) -> tuple:
    head = np.ascontiguousarray(ui.load_tensor(source).reshape(-1)[:ANATOMY_MAX_VALUES])
    return head, ql.Quantizer(scheme, **dict(frozen))(head)


@st.cache_data(max_entries=64, ttl=3600, show_spinner=False)
def anatomy(source: tuple, scheme: str, frozen: tuple) -> ql.ErrorAnatomy:
    return ql.error_anatomy(*analysed(source, scheme, frozen))


@st.cache_data(max_entries=64, ttl=3600, show_spinner=False)
def block(source: tuple, scheme: str, frozen: tuple, index: int):
    return ql.block_view(*analysed(source, scheme, frozen), index)


@st.cache_data(max_entries=64, ttl=3600, show_spinner=False)
def block_count(source: tuple, scheme: str, frozen: tuple) -> int:
    return ql.anatomy.block_count(*analysed(source, scheme, frozen))


@st.cache_data(max_entries=4, ttl=3600, show_spinner=False)
def vectors(source: tuple, scheme: str, frozen: tuple, _x: np.ndarray) -> tuple[bytes, dict]:
    """Golden vectors of the tensor ``source`` names, passed in (``_x``: not hashed, ``source`` is its
    key). The download runs this when clicked, outside the page's run, where an upload kept in the
    session's state cannot be looked up: the tensor is taken while the page offers the download."""
    return ql.golden_vectors(_x, scheme, **dict(frozen))


ui.start_page()
st.title("Rate–distortion")
st.caption("Every registry scheme on the current tensor at every bit width it supports, placed at the bits per element "
           "it really costs (codes plus every stored scale, zero-point and codebook), against what is possible for "
           "this tensor. Hover a point for its configuration; ★ marks the Pareto front.")
source = ui.require_source()
families = sorted({s.family for s in ql.SCHEMES.values()})

c1, c2, c3, c4 = st.columns([3, 2, 1, 1])
chosen = c1.multiselect("Families", families, default=families, key="rd.families", **ui.KEEP,
                        help="Which scheme families to place on the chart (every scheme of the registry belongs to one).")
lo, hi = c2.select_slider("Bit widths", list(range(1, 17)),
                          value=(min(rate.DEFAULT_BITS), max(rate.DEFAULT_BITS)), key="rd.bits", **ui.KEEP,
                          help="The code widths to run each bit-swept scheme at; fixed-width formats appear once.")
metric = c3.radio("y axis", list(figs.METRICS), format_func=figs.METRICS.get, key="rd.metric", **ui.KEEP,
                  help="SQNR in dB, or MSE on a log axis.")
xaxis = c4.radio("x axis", list(figs.AXES), format_func=lambda k: "bits per element" if k == "bits_per_element"
                 else "code entropy", key="rd.x", **ui.KEEP,
                 help="Bits spent (what the format stores) or bits of information (the entropy of its codes).")
if not chosen:
    st.info("Choose at least one family.")
    st.stop()

x = ui.load_tensor(source)
data = chart_data(source, tuple(range(lo, hi + 1)), tuple(ql.SCHEMES))
points = rate.select(data.points, [n for n, s in ql.SCHEMES.items() if s.family in chosen])
lim, skipped = data.limits, points.attrs["skipped"]
if lim is None:
    st.warning(ui.plain(f"No limits for this tensor: {data.limits_error}"))
if points.empty:
    st.error("No configuration could be applied to this tensor.")
    st.stop()
if x.size > POINT_SAMPLES:
    st.caption(f"The chart is an estimate on a sample of {POINT_SAMPLES:,} of the {x.size:,} values (whole rows of a "
               f"matrix, evenly strided, with its extremes; bits per element counted over that size); the anatomy and "
               f"block picker below read the first "
               f"{min(x.size, ANATOMY_MAX_VALUES):,} values, quantized on their own; the vectors, the whole tensor.")

labels = points.sort_values("bits_per_element")["label"].tolist()
pick = st.selectbox("Configuration", labels, index=labels.index(DEFAULT_PICK) if DEFAULT_PICK in labels else 0,
                    key="rd.pick", **ui.KEEP, help="The configuration ringed on the chart, analysed and exported below.")
chart = figs.rd_figure(points, lim, metric=metric, x=xaxis, highlight=pick)
st.plotly_chart(chart, width="stretch", key="fig.rd")
if lim is not None:
    beyond = rate.beyond_limit(points, lim, "lloyd_max")
    if len(beyond):
        fams = ", ".join(sorted(set(beyond["family"])))
        st.caption(f"{len(beyond)} configuration(s) lie above the Lloyd-Max curve ({ui.plain(fams)}): each picks its "
                   "grid per block or channel, which one set of levels for the whole tensor cannot; Lloyd-Max bounds "
                   "only per-tensor scalar quantizers (what each curve bounds is under *The limits*).")

if lim is not None:
    with st.expander("The limits, for this tensor", expanded=True):
        hb = lim.attrs["entropy_bits"]
        n, distinct = lim.attrs["samples"], lim.attrs["distinct"]
        if hb == float("-inf"):
            st.markdown("This tensor has an **atom**: one value (often exact zeros) holds a large share of the values, "
                        "far more than its neighbours, so it has no density there: its differential entropy is −∞ "
                        "and the Shannon bound is 0 — not drawn. The other limits are.")
        else:
            grid = ("" if distinct == n else
                    f" Its values lie on a grid ({distinct:,} distinct among {n:,}, as in a float16 or bfloat16 "
                    "tensor): each repeated value is first spread at random over its grid cell, so h is that of "
                    "the density uniform within each cell, the source's entropy to the grid's resolution.")
            st.markdown(f"Estimated differential entropy **h = {hb:.4f} bits** (m-spacing estimator on "
                        f"{n:,} values; a Gaussian of this variance would have "
                        f"{rate.gaussian_entropy(lim.attrs['variance']):.4f}).{grid}")
        cols = st.columns(2)
        for i, lm in enumerate(ql.LIMITS.values()):
            with cols[i % 2]:
                st.markdown(f"**{lm.title}** — {lm.sentence}")
                st.latex(lm.formula)
                st.caption(f"Bounds: {lm.bounds}")
if skipped:
    with st.expander(f"{len(skipped)} configuration(s) refused on this tensor"):
        for label, msg in skipped:
            st.markdown(f"- `{label}`: {ui.plain(msg)}")

st.subheader("Every point")
sampled = x.size > POINT_SAMPLES  # the chart's numbers are estimates on its sample: the columns say so
shown = points.rename(columns={"bits_per_element": "bits/element", "sqnr_db": "SQNR dB (sample)" if sampled else
                               "SQNR dB", "mse": "MSE (sample)" if sampled else "mse", "code_entropy_bits":
                               "code entropy", "shannon_gap_db": "dB below bound"})
ui.dataframe(shown.drop(columns=["settings"]).sort_values("bits/element"), hide_index=True, width="stretch",
             key="rd.table", column_config={"pareto": st.column_config.CheckboxColumn("Pareto", help="on the front")})

# ----------------------------------------------------------------- one configuration
row = points[points["label"] == pick].iloc[0]
scheme, settings = row["scheme"], json.loads(row["settings"])
frozen = tuple(sorted(settings.items()))
st.subheader(f"Error anatomy of {pick}")
try:
    a = anatomy(source, scheme, frozen)
except (ValueError, TypeError) as exc:
    st.error(ui.plain(f"{pick}: {exc}"))
    st.stop()
whole = ui.scheme_metrics(source, scheme, settings)  # the number Explore, Compare and Formats show for it
m0, m1, m2, m3, m4 = st.columns(5)
m0.metric("SQNR, whole tensor", f"{whole['sqnr_db']:.2f} dB", help=ql.METRIC_INFO["sqnr_db"].help())
if x.size > POINT_SAMPLES:
    st.caption(f"The chart's point for {ui.plain(pick)} is an estimate on its sample: {row['sqnr_db']:.2f} dB; on the "
               f"whole tensor it is {whole['sqnr_db']:.2f} dB (Explore, Compare and Formats show this one).")
m1.metric("MSE", f"{a.mse:.4g}")
m2.metric("saturated", f"{a.saturated:,}", help=f"{a.saturated_low:,} at the low end, {a.saturated_high:,} at the high end")
m3.metric("block scale share", f"{a.scale_mse / a.mse:.1%}" if a.mse > 0 else "0%")
m4.metric("clipping share", f"{a.clipping_mse / a.mse:.1%}" if a.mse > 0 else "0%")
st.plotly_chart(figs.anatomy_figure([(pick, a)]), width="stretch", key="fig.anatomy")
st.caption(ui.plain(a.note) + ". Parts: block scale + clipping (saturated elements) + rounding (the rest) = MSE.")

nb = block_count(source, scheme, frozen)
if nb:
    st.subheader("Block picker")
    index = st.number_input("Block", 0, nb - 1, value=0, step=1, key="rd.block", **ui.KEEP,
                            help=f"Which of the {nb:,} blocks to show: its values, stored scale, codes and error.")
    view = block(source, scheme, frozen, int(index))
    st.plotly_chart(figs.block_figure(view), width="stretch", key="fig.block")
    ui.dataframe(view.table, hide_index=True, width="stretch", key="rd.block_table")

st.subheader("Golden vectors")
st.caption("Exact reference outputs of this configuration for testing a kernel: input, codes, scales, dequantized "
           "output and a manifest (scheme, settings, rounding rule, library versions, sha256 of each array). "
           "`quantlib.check_golden_vectors(file)` or `python -m quantlib vectors --check FILE` re-checks a file.")
if x.size > VECTOR_MAX_VALUES:
    st.info(f"Golden vectors are offered for tensors of up to {VECTOR_MAX_VALUES:,} values; this one has {x.size:,}. "
            "Use `python -m quantlib vectors` on the file instead.")
else:
    stem = f"golden_{scheme}"
    ui.downloads("Downloads", [
        ("vectors .npz", f"{stem}.npz", lambda: vectors(source, scheme, frozen, x)[0], "application/octet-stream"),
        ("manifest .json", f"{stem}.json", lambda: golden.manifest_json(vectors(source, scheme, frozen, x)[1]),
         "application/json"),
        ("points .csv", "rate_distortion.csv", lambda: export.metrics_csv(
            points.assign(values_used=int(points.attrs.get("size", x.size)), tensor_values=int(x.size))), "text/csv"),
        ("chart .html", "rate_distortion.html", lambda: export.figure_html(chart), "text/html"),
    ])
