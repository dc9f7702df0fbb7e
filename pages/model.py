"""Model impact: how quantizing weights and activations changes a real model, layer by layer."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

import quantlib as ql
from pages import _common as ui
from quantlib import export, figures
from quantlib.models import figures as mfig
from quantlib.models.planning import check_budget

ui.start_page()
st.title("Model impact")

SCHEMES = list(ql.SCHEMES)
Key = tuple[str, tuple[tuple[str, Any], ...]] | None  # a hashable (scheme, settings) for the caches


def key_of(config: tuple[str, dict] | None) -> Key:
    return None if config is None else (config[0], tuple(sorted(config[1].items())))


def quantizer_of(key: Key) -> ql.Quantizer | None:
    return None if key is None else ql.Quantizer(key[0], **dict(key[1]))


# ------------------------------------------------------------------ cached engine calls
@st.cache_resource(max_entries=2, ttl=24 * 3600, show_spinner=False)  # the shipped models, shared by sessions
def model(name: str) -> Any:
    return ql.load_model(name)


@st.cache_data(max_entries=128, ttl=3600, show_spinner=False)
def score(name: str, w: Key, a: Key) -> ql.Score:
    return model(name).evaluate(quantizer_of(w), quantizer_of(a))


@st.cache_data(max_entries=512, ttl=3600, show_spinner=False)
def curve_point(name: str, scheme: str, settings: tuple, target: str, bits: int) -> pd.DataFrame:
    return ql.metric_vs_bits(model(name), [(scheme, dict(settings))], [bits], target=target)


@st.cache_data(max_entries=2048, ttl=3600, show_spinner=False)
def sensitivity_row(name: str, w: Key, a: Key, layer: str, everywhere: bool) -> pd.DataFrame:
    """One layer's sensitivity row; ``everywhere``: the activations are quantized at every layer
    (the planner's measurement), else only at this one (the heatmap's)."""
    m = model(name)
    if everywhere and a is not None:
        base = score(name, None, a).objective_value  # the activations-only model, evaluated once
        return ql.measure_candidates(m, [quantizer_of(w)], quantizer_of(a), layers=[layer],
                                     baseline=base).drop(columns="candidate")
    return ql.layer_sensitivity(m, quantizer_of(w), quantizer_of(a), layers=[layer])


def sensitivity(name: str, w: Key, a: Key, text: str, everywhere: bool = False, start: float = 0.0,
                share: float = 1.0, bar=None) -> pd.DataFrame:
    """Every layer's row (each cached on its own, so a rerun or another scan reuses it), with progress."""
    own = bar is None
    bar = bar or st.progress(0.0, text=text)
    layers = model(name).linear_layers
    rows = []
    for i, layer in enumerate(layers):
        bar.progress(min(start + share * i / len(layers), 1.0), text=f"{text} {layer} ({i + 1}/{len(layers)})")
        rows.append(sensitivity_row(name, w, a, layer, everywhere and a is not None))
    if own:
        bar.empty()
    return pd.concat(rows, ignore_index=True)


@st.cache_data(max_entries=64, ttl=3600, show_spinner=False)
def budget_ok(name: str, budget: float, candidates: tuple[Key, ...]) -> bool:
    check_budget(model(name), budget, [quantizer_of(c) for c in candidates])
    return True


@st.cache_data(max_entries=32, ttl=3600, show_spinner=False)
def plan(name: str, budget: float, candidates: tuple[Key, ...], a: Key, measured: pd.DataFrame) -> dict[str, Any]:
    m, qs = model(name), [quantizer_of(c) for c in candidates]
    p = ql.allocate_bits(m, budget, qs, activations=quantizer_of(a), measured=measured)
    cheapest = min(qs, key=lambda q: p.uniform.set_index("configuration").loc[q.label, "average_bits"])
    same = ql.uniform_at_budget(m, budget, cheapest, quantizer_of(a))
    return {"table": p.table(m), "average_bits": p.average_bits, "score": dict(p.score), "uniform": p.uniform,
            "search": p.search, "same": None if same is None else (same[0].label, same[1], dict(same[2]))}


@st.cache_data(max_entries=16, ttl=3600, show_spinner=False)
def channels(name: str, layer: str) -> pd.DataFrame:
    return mfig.channel_stats(model(name).calibration_inputs(layer))


# ------------------------------------------------------------------ controls
# options are the registry's names (a link carries the name; a format_func would make it carry the title)
name = st.selectbox("Model", list(ql.MODELS), key="model.name", **ui.KEEP,
                    help="Every registered model; each is run in numpy from the files in sample_data/.")
spec = ql.MODELS[name]
st.caption(f"**{spec.title}**. {spec.description} Activations are quantized dynamically on each batch.")


def quantizer(role: str, default_scheme: str, allow_none: bool) -> tuple[str, dict] | None:
    """Widgets for one quantizer (weights or activations); returns (scheme, settings) or None."""
    options = (["none"] if allow_none else []) + SCHEMES
    scheme = st.selectbox(f"{role.capitalize()} scheme", options, index=options.index(default_scheme),
                          key=f"model.{role}.scheme", **ui.KEEP,
                          help=f"Registry scheme for the {role}; 'none' keeps them float.")
    if scheme not in ql.SCHEMES:
        return None
    s = ql.SCHEMES[scheme]
    settings: dict[str, Any] = {}
    if s.at_bits(8, s.defaults()):
        bits = st.slider(f"{role.capitalize()} bits", 2, 16, value=8, key=f"model.{role}.bits", **ui.KEEP,
                         help="Bit width.")
        settings = s.at_bits(bits, s.defaults())
    else:
        st.caption(f"{scheme} has a fixed width; it is used as defined.")
    if s.per_channel is not None:
        axes = {"per_tensor": None, "per_channel": 0} if role == "weights" else \
            {"per_tensor": None, "per_token": 0, "per_channel": 1}
        g = st.radio(f"{role.capitalize()} granularity", list(axes), horizontal=True, index=0,
                     key=f"model.{role}.granularity", **ui.KEEP,
                     help="weights per_channel: one scale per output neuron. activations per_token: one scale "
                          "per token (row) of the batch; per_channel: one per input feature.")
        if axes[g] is not None:
            settings.update(s.per_channel(axes[g]))
    return scheme, settings


try:
    m = model(name)
except (OSError, ValueError, ImportError) as exc:
    st.error(ui.plain(f"The shipped model {name} cannot be read: {exc}"))
    st.stop()

left, right = st.columns(2)
with left:
    wq = quantizer("weights", "asymmetric", allow_none=True)
with right:
    aq = quantizer("activations", "asymmetric", allow_none=True)
wkey, akey = key_of(wq), key_of(aq)

try:
    with st.spinner("Evaluating…"):
        base = score(name, None, None)
        r = score(name, wkey, akey)
except (ValueError, TypeError) as exc:
    st.error(ui.plain(f"These settings cannot be applied to the model: {exc}"))
    st.stop()

# ------------------------------------------------------------------ metrics
shown = list(r.labels)
cols = st.columns(len(shown) + 1)
for c, key in zip(cols, shown):
    v, f = r[key], base[key]
    delta = f"{v - f:+.4f} vs float" if abs(f) != float("inf") and abs(v) != float("inf") else None
    c.metric(r.labels[key], f"{v:.4f}" if abs(v) != float("inf") else "exact", delta,
             help=f"float model: {f:.4f}" if abs(f) != float("inf") else "float model: exact")
cols[-1].metric(f"float {r.labels[r.metric]}", f"{r.float_value:.4f}", help="The unquantized model, same data.")
st.caption(f"{spec.metric_help} · {len(m.linear_layers)} linear layers")

figs: dict[str, Any] = {}

# ------------------------------------------------------------------ metric vs bits
st.subheader("Metric vs bits")
metric_opts = shown
c1, c2, c3 = st.columns([2, 1, 1])
chosen = c1.multiselect("Schemes", SCHEMES, default=["asymmetric", "symmetric"], key="model.curve_schemes", **ui.KEEP,
                        help="Each scheme gets one curve (its defaults at each bit width; the weights granularity above "
                             "applies when the scheme has one). A fixed-width format is one point.")
target = c2.radio("Quantize", ["weights", "activations", "both"], index=0, key="model.target", horizontal=True,
                  **ui.KEEP, help="What the curve quantizes; the rest stays float.")
metric = c3.selectbox("Curve metric", metric_opts, index=metric_opts.index(r.objective), key=f"model.{name}.curve_metric",
                      **ui.KEEP, help="The score value on the y axis (names as in the score and the downloads).")
per_channel = wq is not None and "granularity" in wq[1] and wq[1]["granularity"] != "per_tensor"
frames = []
bar = st.progress(0.0, text="Sweeping bit widths…")
try:
    jobs = [(scheme, b) for scheme in chosen for b in spec.curve_bits]
    for i, (scheme, b) in enumerate(jobs):
        bar.progress(i / len(jobs), text=f"Sweeping bit widths… {scheme} at {b} bits")
        sp = ql.SCHEMES[scheme]
        settings = sp.per_channel(0) if per_channel and sp.per_channel is not None and target == "weights" else {}
        frames.append(curve_point(name, scheme, tuple(sorted(settings.items())), target, b))
except (ValueError, TypeError) as exc:
    st.error(ui.plain(f"A curve cannot be computed: {exc}"))
bar.empty()
if frames:
    curves = pd.concat(frames, ignore_index=True).drop_duplicates(["configuration", "bits"])
    figs["metric_vs_bits"] = mfig.metric_bits_figure(curves, metric, base[metric])
    st.plotly_chart(figs["metric_vs_bits"], width="stretch", key="fig.accuracy")

# ------------------------------------------------------------------ sensitivity
st.subheader("Per-layer sensitivity")
sens = None
if wq is None and aq is None:
    st.info("Choose a weights or activations scheme above to see which layers are most sensitive.")
else:
    try:
        sens = sensitivity(name, wkey, akey, "Quantizing one layer at a time…")
    except (ValueError, TypeError) as exc:
        st.error(ui.plain(f"The sensitivity scan cannot run with these settings: {exc}"))
if sens is not None:
    st.caption(f"Each cell: how much {r.labels[r.objective]} drops when only that layer is quantized with the "
               "configuration above, the rest float. Darker is more sensitive.")
    figs["sensitivity_heatmap"] = mfig.sensitivity_heatmap(sens, r.objective)
    st.plotly_chart(figs["sensitivity_heatmap"], width="stretch", key="fig.sensitivity_heatmap")
    figs["sensitivity"] = figures.sensitivity_figure(sens, base[r.objective], r.objective)
    st.plotly_chart(figs["sensitivity"], width="stretch", key="fig.sensitivity")
    ui.dataframe(sens[list(dict.fromkeys(["layer", "index", "kind", "bits_per_weight", r.metric, r.objective, "drop",
                                          "agreement"]))], hide_index=True)

# ------------------------------------------------------------------ planner
st.subheader("Mixed-precision planner")
st.caption("Each layer gets one of the candidate weight configurations so that the average bits per weight "
           "(weighted by layer size, scales included) stays within the budget: a greedy search over the measured "
           "per-layer sensitivities (see quantlib.allocate_bits). The activations setting above applies throughout.")
CANDIDATES: dict[str, Key] = {}
for sname, sp in ql.SCHEMES.items():
    d = sp.defaults()
    if sp.at_bits(8, d):
        for b in (2, 3, 4, 5, 6, 8):
            st_ = {**sp.at_bits(b, d), **(sp.per_channel(0) if sp.per_channel is not None else {})}
            CANDIDATES[ql.Quantizer(sname, **st_).label] = (sname, tuple(sorted(st_.items())))
    else:
        CANDIDATES[ql.Quantizer(sname).label] = (sname, ())
DEFAULT_CANDIDATES = [ql.Quantizer("symmetric", bits=4, granularity="per_channel").label,
                      ql.Quantizer("symmetric", bits=8, granularity="per_channel").label]
p1, p2, p3 = st.columns([2, 1, 1])
cands = p1.multiselect("Candidate configurations", list(CANDIDATES), default=DEFAULT_CANDIDATES,
                       key="model.plan.candidates", **ui.KEEP,
                       help="The configurations a layer may get (per-channel where the scheme has it).")
budget = p2.slider("Budget (bits per weight)", 2.0, 16.0, 6.0, step=0.25, key="model.plan.budget", **ui.KEEP,
                   help="Largest average bits per weight of the plan, scales included.")
run_plan = p3.toggle("Run the planner", value=False, key="model.plan.run", **ui.KEEP,
                     help="Measures every layer under every candidate (cached), then plans.")
planned = None
if run_plan and not cands:
    st.info("Choose at least one candidate configuration.")
elif run_plan:
    keys = tuple(CANDIDATES[c] for c in cands)
    bar = st.progress(0.0, text="Planning…")
    try:
        budget_ok(name, float(budget), keys)  # refuses a budget below the cheapest plan before any scan
        measured = pd.concat([sensitivity(name, c, akey, f"Measuring {cands[i]}:", everywhere=True,
                                          start=i / (len(keys) + 1), share=1 / (len(keys) + 1), bar=bar).assign(candidate=i)
                              for i, c in enumerate(keys)], ignore_index=True)
        bar.progress(len(keys) / (len(keys) + 1), text="Planning… measuring the plan and the uniform configurations")
        planned = plan(name, float(budget), keys, akey, measured)
    except (ValueError, TypeError) as exc:
        st.error(ui.plain(f"No plan: {exc}"))
    bar.empty()
if planned is not None:
    ps = planned["score"]
    rows = [{"configuration": f"plan ({planned['search']})", "average_bits": planned["average_bits"],
             **{r.labels[k]: ps[k] for k in shown}}]
    if planned["same"] is not None:
        label, bits, s = planned["same"]
        rows.append({"configuration": f"uniform {label} (widest that fits)", "average_bits": bits,
                     **{r.labels[k]: s[k] for k in shown}})
    for u in planned["uniform"].to_dict("records"):
        if u["fits_budget"]:
            rows.append({"configuration": f"uniform {u['configuration']}", "average_bits": u["average_bits"],
                         **{r.labels[k]: u[k] for k in shown}})
        else:
            rows.append({"configuration": f"uniform {u['configuration']} (over budget)", "average_bits": u["average_bits"]})
    compare = pd.DataFrame(rows)
    q = st.columns(3)
    q[0].metric("plan: average bits per weight", f"{planned['average_bits']:.3f}", help=f"budget {budget:g}")
    q[1].metric(f"plan: {r.labels[r.objective]}", f"{ps[r.objective]:.4f}",
                f"{ps[r.objective] - planned['same'][2][r.objective]:+.4f} vs uniform" if planned["same"] else None)
    other = r.metric if r.metric != r.objective else "agreement"
    q[2].metric(f"plan: {r.labels[other]}", f"{ps[other]:.4f}")
    ui.dataframe(compare, hide_index=True)
    figs["plan"] = mfig.plan_heatmap(planned["table"])
    st.plotly_chart(figs["plan"], width="stretch", key="fig.plan")
    ui.dataframe(planned["table"], hide_index=True)

# ------------------------------------------------------------------ activation statistics
st.subheader("Activation ranges per channel")
layers = list(m.linear_layers)
layer = st.selectbox("Layer input", layers, index=layers.index(spec.example_layer) if spec.example_layer in layers else 0,
                     key=f"model.{name}.act_layer", **ui.KEEP,
                     help="The real inputs this layer sees on the model's calibration data, per input channel.")
try:
    stats = channels(name, layer)
except (ValueError, TypeError) as exc:
    st.error(ui.plain(f"No activation statistics: {exc}"))
    stats = None
if stats is not None:
    top = stats.nlargest(1, "max_abs").iloc[0]
    med = float(stats["max_abs"].median())
    step = 2 * float(stats["max_abs"].max()) / 255
    st.caption(f"Largest: channel {int(top.channel)} with max |x| {top.max_abs:.3g}, {top.times_median:.1f}× the median "
               f"channel ({med:.3g}). A per-tensor 8-bit grid spanning ±{stats['max_abs'].max():.3g} has step "
               f"{step:.3g}, so the median channel uses about {2 * med / step:.0f} of its 256 codes: the outlier "
               "channels are why per-token or per-channel activation scales (or keeping a layer wider) help.")
    figs["channels"] = mfig.channel_figure(stats, layer)
    st.plotly_chart(figs["channels"], width="stretch", key="fig.channels")

with st.expander("Downloads", expanded=False):
    files = [("metrics .csv", "model_metrics.csv", lambda: export.metrics_csv(dict(r)), "text/csv")]
    if sens is not None:
        files.append(("sensitivity .csv", "model_sensitivity.csv", lambda: export.metrics_csv(sens), "text/csv"))
    if planned is not None:
        files.append(("plan .csv", "model_plan.csv", lambda: export.metrics_csv(planned["table"]), "text/csv"))
    files += [(f"{n} .html", f"model_{n}.html", (lambda f=f: export.figure_html(f)), "text/html") for n, f in figs.items()]
    ui.downloads("Results", files)
