"""Model impact: how quantizing weights and activations changes a real model's accuracy."""

import pandas as pd
import streamlit as st

import quantlib as ql
from pages import _common as ui
from quantlib import export, figures

ui.start_page()
st.title("Model impact")
st.caption("A 64 → 64 → 32 → 10 ReLU MLP trained on the UCI 8×8 handwritten digits (shipped in sample_data/), "
           "run in numpy on its held-out split. Activations are quantized dynamically on the batch.")

SCHEMES = list(ql.SCHEMES)


@st.cache_resource(max_entries=1, ttl=24 * 3600, show_spinner=False)  # the one shipped model
def model() -> ql.DigitsModel:
    return ql.digits_model()


def quantizer(role: str, default_scheme: str, allow_none: bool):
    """Widgets for one quantizer (weights or activations); returns (scheme, settings) or None."""
    options = (["none"] if allow_none else []) + SCHEMES
    scheme = st.selectbox(f"{role.capitalize()} scheme", options, index=options.index(default_scheme),
                          key=f"model.{role}.scheme", **ui.KEEP,
                          help=f"Registry scheme for the {role}; 'none' keeps them float.")
    if scheme not in ql.SCHEMES:
        return None
    spec = ql.SCHEMES[scheme]
    settings = {}
    if spec.at_bits(8, spec.defaults()):
        bits = st.slider(f"{role.capitalize()} bits", 2, 16, value=8, key=f"model.{role}.bits", **ui.KEEP,
                         help="Bit width.")
        settings = spec.at_bits(bits, spec.defaults())
    else:
        st.caption(f"{scheme} has a fixed width; it is used as defined.")
    if spec.per_channel is not None:
        g = st.radio(f"{role.capitalize()} granularity", ["per_tensor", "per_channel"], horizontal=True,
                     index=0, key=f"model.{role}.granularity", **ui.KEEP,
                     help="per_channel: one scale per output neuron (weights) or per feature (activations).")
        if g == "per_channel":
            settings.update(spec.per_channel(0 if role == "weights" else 1))
    return scheme, settings


try:
    m = model()
except (OSError, ValueError) as exc:
    st.error(ui.plain(f"The shipped model cannot be read: {exc}"))
    st.stop()

left, right = st.columns(2)
with left:
    wq = quantizer("weights", "asymmetric", allow_none=True)
with right:
    aq = quantizer("activations", "asymmetric", allow_none=True)

try:
    with st.spinner("Evaluating…"):
        weights = ql.Quantizer(wq[0], **wq[1]) if wq else None
        acts = ql.Quantizer(aq[0], **aq[1]) if aq else None
        r = m.evaluate(weights, acts)
except (ValueError, TypeError) as exc:
    st.error(ui.plain(f"These settings cannot be applied to the model: {exc}"))
    st.stop()

c = st.columns(4)
c[0].metric("accuracy", f"{r['accuracy']:.4f}", f"{r['accuracy'] - r['float_accuracy']:+.4f} vs float",
            help="Share of the held-out digits classified correctly.")
c[1].metric("float accuracy", f"{r['float_accuracy']:.4f}", help="The unquantized model on the same split.")
c[2].metric("agreement", f"{r['agreement']:.4f}", help="Share of predictions equal to the float model's.")
c[3].metric("logit SQNR", f"{r['logit_sqnr_db']:.1f} dB", help=f"logit MSE {r['logit_mse']:.3g}, max error {r['logit_max_error']:.3g}")
st.caption(f"{len(m.test_y)} held-out digits · layers {', '.join(m.layer_names)}")

st.subheader("Accuracy vs bits")
chosen = st.multiselect("Schemes", SCHEMES, default=["asymmetric", "symmetric"], key="model.curve_schemes",
                        **ui.KEEP,
                        help="Each scheme gets one curve (its default settings at each bit width).")
target = st.radio("Quantize", ["weights", "activations", "both"], index=0, key="model.target", horizontal=True,
                  **ui.KEEP,
                  help="What the curve quantizes; the rest stays float.")
frames = []
bar = st.progress(0.0, text="Sweeping bit widths…")
for i, scheme in enumerate(chosen):
    frames.append(ql.accuracy_vs_bits(m, [(scheme, {})], range(2, 9), target=target))
    bar.progress((i + 1) / max(len(chosen), 1), text=f"Swept {scheme}")
bar.empty()
figs = {}
if frames:
    curves = pd.concat(frames, ignore_index=True)
    figs["accuracy_vs_bits"] = figures.accuracy_figure(curves, "accuracy", r["float_accuracy"])
    st.plotly_chart(figs["accuracy_vs_bits"], width="stretch", key="fig.accuracy")

st.subheader("Per-layer sensitivity")
if weights is None and acts is None:
    st.info("Choose a weights or activations scheme above to see which layer is most sensitive.")
else:
    with st.spinner("Quantizing one layer at a time…"):
        sens = ql.layer_sensitivity(m, weights, acts)
    figs["sensitivity"] = figures.sensitivity_figure(sens, r["float_accuracy"])
    st.plotly_chart(figs["sensitivity"], width="stretch", key="fig.sensitivity")
    st.dataframe(sens[["layer", "accuracy", "agreement", "logit_sqnr_db"]], hide_index=True)

with st.expander("Downloads", expanded=False):
    ui.downloads("Results", [("metrics .csv", "model_metrics.csv", lambda: export.metrics_csv(r), "text/csv"),
                             *[(f"{n} .html", f"model_{n}.html", (lambda f=f: export.figure_html(f)), "text/html")
                               for n, f in figs.items()]])
