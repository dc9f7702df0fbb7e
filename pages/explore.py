"""Explore: one scheme on one tensor — what quantization does, live."""

import numpy as np
import streamlit as st

import quantlib as ql
from pages import _common as ui
from quantlib import export, figures

ui.start_page()
st.title("Explore")
source = ui.require_source()
schemes = list(ql.SCHEMES)

controls, view = st.columns([1, 3], gap="medium")
with controls:
    scheme = st.selectbox("Scheme", schemes, index=schemes.index("symmetric"), key="scheme", **ui.KEEP,
                          help="Every scheme in the registry; its own settings appear below.")
    spec = ql.SCHEMES[scheme]
    st.caption(spec.description)
    bins = st.slider("Histogram bins", 8, 8192, value=2048, key="bins", step=8, **ui.KEEP,
                     help="Bin count for the plots, and for the histogram-based calibrators and the histogram scheme.")
    settings = {}
    for s in spec.settings:
        if s.name == spec.bins_setting:
            settings[s.name] = bins
        elif not s.optional:
            settings[s.name] = ui.setting_widget(scheme, s)

    manual = False
    if spec.manual_params:
        def prefill() -> None:
            """Switching to manual starts from the calibrated values."""
            if st.session_state.get(f"{scheme}.manual"):
                auto = ui.run_scheme(source, scheme, {**settings, "scale": None, "zero_point": None})
                if auto.params is not None and auto.params.per_tensor:
                    st.session_state[f"{scheme}.scale"] = float(auto.params.scale)
                    st.session_state[f"{scheme}.zero_point"] = int(auto.params.zero_point)

        manual = st.toggle("Manual scale and zero-point", value=False, key=f"{scheme}.manual", on_change=prefill,
                           **ui.KEEP,
                           help="Off: calibrated from the data. On: type your own (starts from the calibrated values).")
        if manual:
            settings["scale"] = float(st.number_input("scale", value=0.01, key=f"{scheme}.scale", format="%.8g",
                                                      **ui.KEEP, help="Step between levels; must be finite and > 0."))
            settings["zero_point"] = int(st.number_input("zero-point", value=0, key=f"{scheme}.zero_point", step=1,
                                                         **ui.KEEP,
                                                         help="Code that represents 0; must lie in [qmin, qmax]."))

try:
    with st.spinner("Quantizing…"):
        x = ui.load_tensor(source)
        result = ui.run_scheme(source, scheme, settings)
        hists = ui.histograms(source, scheme, settings, bins)
        m = ui.scheme_metrics(source, scheme, settings, bins)
except (ValueError, TypeError) as exc:
    view.error(f"These settings cannot be applied: {ui.plain(exc)}")
    st.stop()

# deltas against the previous, different configuration
config = (source, scheme, ui.settings_json(settings))
hist = st.session_state.setdefault("explore.history", {"config": None, "metrics": None, "prev": None})
if hist["config"] != config:
    hist["prev"], hist["config"], hist["metrics"] = hist["metrics"], config, m
prev = hist["prev"]


def card(col, label, key, fmt, unit="", better="higher"):
    delta = None
    if prev is not None and np.isfinite(prev[key]) and np.isfinite(m[key]):
        delta = f"{m[key] - prev[key]:+{fmt}}{unit}"
    col.metric(label, f"{m[key]:{fmt}}{unit}", delta, delta_color="normal" if better == "higher" else "inverse",
               help=f"{key}; the delta is against the previous setting")


with view:
    # The charts are sent first, so the browser starts loading Plotly before it lays out the
    # formulas and cards that sit above them.
    head, charts = st.container(), st.container()
with charts:
    figs = {
        "distribution": figures.distribution_figure(x, result, bins, hists),
        "codes": figures.codes_figure(result),
        "error": figures.error_figure(x, result, bins),
        "transfer": figures.transfer_figure(x, result),
    }
    row1, row2 = st.columns(2), st.columns(2)
    for col, name in zip([*row1, *row2], figs):
        col.plotly_chart(figs[name], width="stretch", key=f"fig.{name}")
with head:
    if st.session_state.get("explore.started"):  # a session's first run leaves KaTeX to the next (ui.defer_rest)
        st.latex(spec.formula)
        if spec.live_formula is not None:
            st.latex(spec.live_formula(result))
    c = [*st.columns(3), *st.columns(3)]
    card(c[0], "SQNR", "sqnr_db", ".2f", " dB")
    card(c[1], "MSE", "mse", ".3g", better="lower")
    card(c[2], "cosine", "cosine_similarity", ".6f")
    card(c[3], "max error", "max_abs_error", ".3g", better="lower")
    card(c[4], "clipped", "clip_ratio", ".3%", better="lower")
    share = m["clipping_mse"] / m["mse"] if m["mse"] > 0 else 0.0
    c[5].metric("clipping share of MSE", f"{share:.1%}", help=f"the rest, {1 - share:.1%}, is rounding error")
    st.caption(f"{m['levels_used']:,} levels used · code entropy {m['code_entropy_bits']:.2f} bits · "
               f"{m['bits_per_element']:.3f} bits per element · tensor shape {x.shape}")

if ui.defer_rest("explore", "Error curves against bit width and clipping threshold follow…"):
    st.stop()

st.subheader("Error curves")
curves = st.columns(2)
metric = curves[0].selectbox("Metric", ql.sweeps.METRIC_COLUMNS, key="curve_metric", **ui.KEEP,
                             index=ql.sweeps.METRIC_COLUMNS.index("sqnr_db"),
                             help="Metric drawn against bit width and against the clipping threshold.")
try:
    with st.spinner("Sweeping bit widths…"):
        bits_df = ui.bits_curve(source, scheme, settings)
    figs["bits"] = figures.bits_figure(bits_df, metric)
    curves[0].plotly_chart(figs["bits"], width="stretch", key="fig.bits")
except (ValueError, TypeError) as exc:
    curves[0].warning(ui.plain(f"No bit-width curve for these settings: {exc}"))
if spec.symmetric is not None:
    with st.spinner("Sweeping clipping thresholds…"):
        thr = ui.threshold_curve(source, settings["bits"], spec.symmetric, settings["convention"], bins)
    figs["threshold"] = figures.threshold_figure(thr, metric if metric in thr else "mse")
    curves[1].plotly_chart(figs["threshold"], width="stretch", key="fig.threshold")
else:
    curves[1].info("The clipping-threshold curve applies to calibrated integer schemes.")

with st.expander("Downloads", expanded=False):
    stem = f"{scheme}"
    ui.downloads("Result", ui.result_files(stem, result, m, source))
    ui.downloads("Figures (.html)", [(f"{n} .html", f"{stem}_{n}.html", (lambda f=f: export.figure_html(f)), "text/html")
                                     for n, f in figs.items()])
    ui.snippet(export.python_snippet(ui.source_dict(source), [(scheme, settings)]), key="explore.snippet")
