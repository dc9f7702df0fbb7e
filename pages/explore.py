"""Explore: one scheme on one tensor — what quantization does, live."""

import numpy as np
import streamlit as st

import quantlib as ql
from pages import _common as ui
from quantlib import export, figures

ui.start_page()
st.title("Explore")
source = ui.require_source()
x = ui.load_tensor(source)
schemes = list(ql.SCHEMES)

controls, view = st.columns([1, 3], gap="medium")
with controls:
    scheme = st.selectbox("Scheme", schemes, index=schemes.index("symmetric"), key="scheme", **ui.KEEP,
                          help="Every scheme in the registry; its own settings appear below.")
    spec = ql.SCHEMES[scheme]
    st.caption(spec.description)
    settings = ui.scheme_settings(scheme, x.ndim)
    calibrated = dict(settings)

    manual = False
    scale_setting = spec.setting("scale") if spec.manual_params else None
    if scale_setting is not None and scale_setting.acts(settings, x.ndim):
        try:
            auto = ui.run_scheme(source, scheme, calibrated).params
        except (ValueError, TypeError):
            auto = None
        keys = f"{scheme}.scale", f"{scheme}.zero_point"

        def prefill(auto=auto, keys=keys) -> None:
            """Turning manual on starts from the calibrated values."""
            if st.session_state.get(f"{scheme}.manual") and auto is not None:
                st.session_state[keys[0]] = float(auto.scale)
                st.session_state[keys[1]] = int(auto.zero_point)

        manual = st.toggle("Manual scale and zero-point", value=False, key=f"{scheme}.manual", on_change=prefill,
                           **ui.KEEP, disabled=auto is None,
                           help="Off: calibrated from the data. On: type your own (starts from the calibrated values).")
        if manual and auto is not None:
            if keys[0] not in st.session_state:  # on from a link without values: start from the calibrated ones
                prefill()
            settings["scale"] = float(st.number_input(
                "scale", min_value=float(np.finfo(np.float32).tiny), value=float(auto.scale), key=keys[0],
                format="%.8g", **ui.KEEP, help="Step between levels; a float32 value > 0."))
            zp_setting = spec.setting("zero_point")
            if zp_setting.acts(settings, x.ndim):
                if keys[1] in st.session_state:  # the code range moves with bits / signed / narrow range
                    st.session_state[keys[1]] = max(auto.qmin, min(auto.qmax, int(st.session_state[keys[1]])))
                settings["zero_point"] = int(st.number_input(
                    "zero-point", min_value=auto.qmin, max_value=auto.qmax, value=int(auto.zero_point), key=keys[1],
                    step=1, **ui.KEEP, help=f"Code that represents 0, within [{auto.qmin}, {auto.qmax}]."))
            else:
                st.caption(f"zero-point {int(auto.zero_point)}: fixed by the symmetric grid. {zp_setting.help}")
    manual_error = None
    if manual:
        try:
            ui.run_scheme(source, scheme, settings)
        except (ValueError, TypeError) as exc:  # kept at the inputs; the view shows the calibrated result
            manual_error = exc
            st.error(f"Manual values not applied: {ui.plain(exc)}. Showing the calibrated result.",
                     icon=":material/error:")
            settings = calibrated

try:
    with st.spinner("Quantizing…"):
        result = ui.run_scheme(source, scheme, settings)
        m = ui.scheme_metrics(source, scheme, settings, ui.KL_BINS)  # the snippet and metrics.csv use the same
except (ValueError, TypeError) as exc:
    needs = [why for s in spec.settings if (why := s.missing(settings, x.ndim))]
    view.error(f"These settings cannot be applied: {ui.plain(needs[0] if needs else exc)}", icon=":material/error:")
    st.stop()

# deltas: against the previous different setting on the same tensor, and only where a value moved
config = (source, scheme, ui.settings_json(settings))
hist = st.session_state.setdefault("explore.history", {"config": None, "metrics": None, "prev": None})
if hist["config"] != config:
    same_tensor = hist["config"] is not None and hist["config"][0] == source
    hist["prev"] = hist["metrics"] if same_tensor else None
    hist["config"], hist["metrics"] = config, m
prev = hist["prev"]


def card(col, label, key, fmt, unit="", better="higher", scale=1.0):
    delta = None
    if prev is not None and np.isfinite(prev[key]) and np.isfinite(m[key]):
        change = (m[key] - prev[key]) * scale
        if f"{abs(change):{fmt}}" != f"{0.0:{fmt}}":  # no delta for a change that the shown digits cannot see
            delta = f"{change:+{fmt}}{unit}"
    value = m[key] * scale
    shown = f"{'∞' if value > 0 else '−∞'}{unit}" if np.isinf(value) else f"{value:{fmt}}{unit}"  # ∞: exact
    col.metric(label, shown, delta, delta_color="normal" if better == "higher" else "inverse",
               help=f"{ql.METRIC_INFO[key].help()} The change is against the previous setting on this tensor.")


with view:
    plot_opts = st.columns([1.2, 1, 1, 1.3])
    plot_bins = plot_opts[0].select_slider("Plot bins", [32, 64, 96, 128, 192, 256, 384, 512, 1024, 2048], value=128,
                                           key="plot_bins", **ui.KEEP,
                                           help="Bins of the value and error histograms (the calibrators have their own).")
    zoom = plot_opts[1].selectbox("Value range", list(figures.VIEW_RANGES), key="plot_range", **ui.KEEP,
                                  help="x range of the distribution, error-vs-value and transfer plots: all values, "
                                       "the clipping range, or the central 99.9 % (outliers off the axis).")
    log_counts = plot_opts[2].toggle("Log counts", value=False, key="plot_log", **ui.KEEP,
                                     help="Log count axes (values, codes, errors): a few tall spikes no longer flatten the rest.")
    window = plot_opts[3].selectbox("Transfer view", figures.TRANSFER_WINDOWS, key="transfer_view", **ui.KEEP,
                                    help="The staircase over the value range, or 8 steps either side of 0 or of the "
                                         "upper clipping threshold, where the steps show at any bit width.")
    channel = None
    p = result.params
    if p is not None and not p.per_tensor and p.group_size is None and np.ndim(p.scale) == 1:
        channel = st.slider("Channel (transfer function)", 0, int(np.size(p.scale)) - 1, 0, key="transfer_channel",
                            **ui.KEEP, help="Per-channel scales: the staircase of this channel.")
    formulas, cards, charts = st.container(), st.container(), st.container()
value_range = ui.view_range(source, scheme, settings, zoom)


def draw_cards() -> None:
    c = [*cards.columns(3), *cards.columns(3)]
    card(c[0], "SQNR", "sqnr_db", ".2f", " dB")
    card(c[1], "MSE", "mse", ".3g", better="lower")
    card(c[2], "cosine", "cosine_similarity", ".6f")
    card(c[3], "max error", "max_abs_error", ".3g", better="lower")
    card(c[4], "clipped", "clip_ratio", ".3f", " %", better="lower", scale=100.0)
    share = m["clipping_mse"] / m["mse"] if m["mse"] > 0 else 0.0
    c[5].metric("clipping share of MSE", f"{share:.1%}", help=f"the rest, {1 - share:.1%}, is rounding error")
    cards.caption(f"{m['levels_used']:,} levels used · code entropy {m['code_entropy_bits']:.2f} bits · "
                  f"{m['bits_per_element']:.3f} bits per element · tensor shape {x.shape}")


def draw_formulas() -> None:
    formulas.latex(spec.formula)
    if spec.live_formula is not None:
        for part in spec.live_formula(result).split(r",\quad"):  # one line each: long maps wrap, not clip
            formulas.latex(part)


figs: dict = {}


def draw_charts() -> None:
    """The four views, built here: after a move the cards are already on their way to the browser."""
    figs.update({
        "distribution": figures.distribution_figure(
            x, result, plot_bins, ui.histograms(source, scheme, settings, plot_bins, value_range), log_counts),
        "codes": figures.codes_figure(result, log_counts),
        "error": figures.error_figure(x, result, plot_bins, value_range=value_range, log_counts=log_counts),
        "transfer": figures.transfer_figure(x, result, window=window, channel=channel, value_range=value_range),
    })
    # one chart of four panels: a browser draws it in about the time of one of four charts
    charts.plotly_chart(figures.views_figure(figs), width="stretch", key="fig.views")


# Elements reach the browser as they are drawn, and this one run draws the whole page: the views
# are on screen while the error curves below are computed, and each element a control changes
# stays on screen until its new value replaces it (no follow-up run of the server's own, which
# could race a page link clicked meanwhile). A session's first visit sends the charts first, so
# the browser loads Plotly while it lays out the rest, and the formulas (KaTeX) last; later runs
# send the cards first, the numbers a person watches when a control moves.
first_visit = not st.session_state.get("explore.visited")
if first_visit:
    draw_charts()
    draw_cards()
else:
    draw_cards()
    draw_formulas()
    draw_charts()

st.subheader("Error curves")
curves = st.columns(2)
metric = curves[0].selectbox("Metric", ql.sweeps.METRIC_COLUMNS, key="curve_metric", **ui.KEEP,
                             format_func=lambda k: ql.METRIC_INFO[k].title(),
                             index=ql.sweeps.METRIC_COLUMNS.index("sqnr_db"),
                             help="Metric drawn against bits per element and against the clipping threshold.")
plots, notes = st.container(), st.columns(2)  # the curves, then what each needs said under it
# No spinners here: one appearing under load for the sweeps of a new setting made the page jump by a line.
if x.size > ql.sweeps.CURVE_SAMPLES:
    notes[0].caption(f"An estimate on {ql.sweeps.CURVE_SAMPLES:,} of the tensor's {x.size:,} values (whole rows, with "
                     "its extremes); the cards above use every value.")
try:
    bits_df = ui.bits_curve(source, scheme, settings)
    figs["bits"] = figures.bits_figure(bits_df, metric,
                                       current=[(ql.sweeps.series_of(scheme), scheme, result.bits_per_element)])
    if spec.fixed_width:
        notes[0].caption(f"{scheme} has a fixed width: it is one point, beside the other {spec.family} formats at "
                         "the bits per element each costs (block scales included).")
except (ValueError, TypeError) as exc:
    notes[0].warning(ui.plain(f"No bit-width curve for these settings: {exc}"))
if spec.threshold_sweep is not None:
    args = spec.threshold_sweep(settings)
    thr = ui.threshold_curve(source, args["bits"], args["symmetric"], args["convention"], args["num_bins"],
                             args["percentile"])
    note = (f"per-tensor ranges on a 65,536-value sample; your setting has one range per {args['granularity']}"
            if args["granularity"] else "")
    figs["threshold"] = figures.threshold_figure(thr, metric if metric in thr else "mse",
                                                 selected=None if manual else args["calibration"], note=note)
    if manual:
        notes[1].caption("A manual scale is in use: no calibrator's pick is yours.")
else:
    notes[1].info("The clipping-threshold curve applies to calibrated integer schemes.")
if "bits" in figs and "threshold" in figs:  # one chart of two panels, as the views: one chart fewer to draw
    plots.plotly_chart(figures.views_figure(figs, figures.CURVE_GRID, figures.CURVE_CELL, legends="below"),
                       width="stretch", key="fig.curves")
else:
    for col, name in zip(plots.columns(2), ("bits", "threshold")):
        if name in figs:
            col.plotly_chart(figs[name], width="stretch", key=f"fig.{name}")

with st.expander("Downloads", expanded=False):
    stem = f"{scheme}"
    ui.downloads("Result", ui.result_files(stem, result, m, source, num_bins=ui.KL_BINS))
    ui.downloads("Figures", [("figures .html", f"{stem}_figures.html", lambda: export.figures_html(figs, "Explore"),
                              "text/html")], columns=2)
    st.caption(f"figures .html: all {len(figs)} figures in one file that opens offline (plotly.js inside, once).")
    ui.snippet(export.python_snippet(ui.source_dict(source), [(scheme, settings)], num_bins=ui.KL_BINS),
               key="explore.snippet")

if first_visit:
    draw_formulas()
    st.session_state["explore.visited"] = True
