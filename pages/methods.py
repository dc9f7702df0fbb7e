"""Methods: beyond round-to-nearest — every registered linear method on one real layer and its
real inputs (or an uploaded pair), then on every layer of the model."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

import quantlib as ql
from pages import _common as ui
from quantlib import export
from quantlib.linear import compare, views
from quantlib.linear import figures as lfig

BITS = tuple(range(2, 9))  # the error curves' code widths
UPLOAD_TYPES = ["npy", "npz", "safetensors"]
Key = Any  # a hashable configuration: None (the method's default), or (scheme, ((setting, value), ...))


def frozen(settings: dict[str, Any]) -> tuple:
    return tuple(sorted(settings.items()))


def config_of(key: Key) -> Any:
    return key if key is None or isinstance(key, str) else (key[0], dict(key[1]))


# ------------------------------------------------------------------ cached engine calls
@st.cache_resource(max_entries=2, ttl=24 * 3600, show_spinner=False)  # the shipped models, shared by sessions
def model(name: str) -> Any:
    return ql.load_model(name)


@st.cache_data(max_entries=16, ttl=3600, show_spinner=False)
def model_inputs(name: str, layer: str) -> np.ndarray:
    return model(name).calibration_inputs(layer)


def load_pair(source: tuple) -> tuple[np.ndarray, np.ndarray]:
    """(weight, inputs) of a source key: a model layer, or this session's uploaded pair."""
    if source[0] == "model":
        return model(source[1]).weights[source[2]], model_inputs(source[1], source[2])
    pair = st.session_state.get("methods.pair")
    if pair is None or pair["key"] != source:
        raise ValueError("the uploaded pair is no longer available; upload it again")
    return pair["weight"], pair["inputs"]


def applies(method: str, weights: Key) -> Key:
    """``weights`` for a method that rounds with a registry scheme; None for one with its own rounding."""
    return weights if ql.LINEAR_METHODS[method].default_weights is not None else None


@st.cache_data(max_entries=512, ttl=3600, show_spinner=False)
def method_row(source: tuple, method: str, settings: tuple, bits: int, weights: Key, acts: Key,
               share: float) -> dict[str, Any]:
    w, x = load_pair(source)
    return compare.method_row(w, x, method, bits=bits, heldout_share=share, settings=dict(settings),
                              weights=config_of(applies(method, weights)), activations=config_of(acts))


@st.cache_data(max_entries=128, ttl=3600, show_spinner=False)
def method_curve(source: tuple, method: str, settings: tuple, weights: Key, acts: Key, share: float) -> pd.DataFrame:
    w, x = load_pair(source)
    return compare.error_vs_bits(w, x, method, BITS, heldout_share=share, settings=dict(settings),
                                 weights=config_of(applies(method, weights)), activations=config_of(acts))


@st.cache_resource(max_entries=12, ttl=3600, show_spinner=False)  # results hold closures: not picklable
def method_result(source: tuple, method: str, settings: tuple, bits: int, weights: Key, acts: Key,
                  share: float) -> ql.LinearResult:
    w, x = load_pair(source)
    calib, _ = compare.split_tokens(x, share)
    return compare.fit(w, calib, method, bits=bits, settings=dict(settings),
                       weights=config_of(applies(method, weights)), activations=config_of(acts))[0]


# figures are kept as objects (cache_resource): unpickling a Plotly figure validates it again, as slow as building it
@st.cache_resource(max_entries=32, ttl=3600, show_spinner=False)
def curves_view(source: tuple, items: tuple, weights: Key, acts: Key, share: float) -> tuple[pd.DataFrame, Any]:
    """The curves of ``items`` ((method, settings), each computed and cached by method_curve) and their figure."""
    curves = pd.concat([method_curve(source, m, s, weights, acts, share) for m, s in items], ignore_index=True)
    return curves, lfig.error_bits_figure(curves)


@st.cache_resource(max_entries=32, ttl=3600, show_spinner=False)
def column_view(source: tuple, items: tuple, bits: int, weights: Key, acts: Key, share: float) -> Any:
    """The per-column error figure of ``items`` ((method, settings)) on the held-out tokens (None: no weights)."""
    _, x = load_pair(source)
    held = compare.split_tokens(x, share)[1]
    df = views.column_errors({m: method_result(source, m, s, bits, weights, acts, share) for m, s in items}, held)
    return None if df is None else lfig.column_error_figure(df)


class NotCached(Exception):
    """Raised by :func:`model_score` asked only to look its cache up (exceptions are not cached)."""


@st.cache_data(max_entries=64, ttl=3600, show_spinner=False)
def model_score(name: str, method: str, settings: tuple, bits: int, weights: Key, acts: Key,
                _results: dict | None = None) -> dict[str, Any]:
    """The model's score with ``method`` on every layer. Called with ``_results`` None it only
    looks the cache up (a miss raises NotCached); the page then quantizes the layers with a
    progress bar and calls again with them (``_results`` is not part of the key)."""
    if _results is None:
        raise NotCached
    m = model(name)
    t0 = time.perf_counter()
    s = ql.evaluate_layers(m, _results)
    return {"values": dict(s), "labels": dict(s.labels), "metric": s.metric, "objective": s.objective,
            "average_bits": ql.linear.average_bits(m, _results), "seconds": time.perf_counter() - t0}


def whole_model(name: str, method: str, settings: tuple, bits: int, weights: Key, acts: Key, bar) -> dict[str, Any]:
    args = (name, method, settings, bits, applies(method, weights), acts)
    try:
        return model_score(*args)
    except NotCached:
        pass
    m = model(name)
    t0 = time.perf_counter()
    results = ql.quantize_layers(
        m, method, bits=bits if compare.has_bits(method) else None, weights=config_of(args[4]),
        activations=config_of(acts), **dict(settings),
        progress=lambda i, n, layer: bar.progress(i / max(n, 1), text=f"{method}: {layer or 'evaluating the model'} "
                                                                        f"({i}/{n})"))
    fit = time.perf_counter() - t0
    out = model_score(*args, _results=results)
    return {**out, "seconds": out["seconds"] + fit}


# ------------------------------------------------------------------ the page
ui.start_page()
st.title("Methods")
st.caption("Methods that change *what* is rounded — GPTQ's error feedback, AWQ's and SmoothQuant's channel scales, "
           "rotations, kept outliers — side by side on one linear layer y = x Wᵀ and its real inputs. The first "
           "tokens calibrate each method; the last ones, held out, measure it.")

left, right = st.columns([1, 2], gap="medium")
with left:
    # options are plain names: a link carries the option itself (a format_func would make it carry the label)
    kind = st.radio("Layer source", ["model", "upload"], horizontal=True, key="methods.source", **ui.KEEP,
                    help="model: a real layer with the inputs the model feeds it on its calibration text; upload: "
                         "your own weight and inputs.")


def upload(role: str, label: str, helptext: str) -> np.ndarray | None:
    """One uploaded tensor (read once per file with the safe loaders); a picker when the file holds several."""
    f = st.file_uploader(label, type=UPLOAD_TYPES, key=f"methods.{role}_file", help=helptext)
    if f is None:
        return None
    kept = st.session_state.get(f"methods.{role}")
    if kept is None or kept["id"] != f.file_id:
        try:
            tensors = ql.load_tensors(f)
        except ValueError as exc:
            st.session_state.pop(f"methods.{role}", None)
            st.error(ui.plain(exc))
            return None
        kept = {"id": f.file_id, "file": f.name, "tensors": tensors}
        st.session_state[f"methods.{role}"] = kept
    names = list(kept["tensors"])
    name = st.selectbox(f"{role.capitalize()} tensor", names, key=f"methods.{role}_tensor",
                        help="Tensors found in the file.") if len(names) > 1 else names[0]
    a = kept["tensors"][name]
    st.caption(f"{ui.plain(kept['file'])} · {ui.plain(name)} · shape {' × '.join(map(str, a.shape))}")
    return a


def pair_problem(w: np.ndarray, x: np.ndarray) -> str | None:
    if w.ndim != 2:
        return f"The weight must be a 2-D (out_features, in_features) matrix; this one has shape {w.shape}."
    if x.ndim not in (1, 2):
        return f"The inputs must be a 2-D (tokens, in_features) matrix; these have shape {x.shape}."
    width = x.shape[-1]
    if width != w.shape[1]:
        hint = (f" The weight's first dimension is {w.shape[0]}: is it stored (in, out)? Transpose it."
                if width == w.shape[0] else "")
        return (f"The inputs have {width} features per token, the weight has in_features {w.shape[1]} (shape "
                f"{w.shape}): they must match.{hint}")
    if x.ndim == 2 and x.shape[0] < 2:
        return "The inputs need at least 2 tokens: some calibrate, the others are held out."
    return None


spec = None
with left:
    if kind == "model":
        names = list(ql.MODELS)
        name = st.selectbox("Model", names, index=names.index("minilm_l6") if "minilm_l6" in names else 0,
                            key="methods.model", **ui.KEEP, help="Every registered model.")
        spec = ql.MODELS[name]
        try:
            m = model(name)
        except (OSError, ValueError, ImportError) as exc:
            st.error(ui.plain(f"The shipped model {name} cannot be read: {exc}"))
            st.stop()
        layers = list(m.linear_layers)
        layer = st.selectbox("Layer", layers, index=layers.index(spec.example_layer) if spec.example_layer in layers
                             else 0, key=f"methods.{name}.layer", **ui.KEEP,
                             help="The layer's weight and the inputs it sees on the model's calibration data.")
        source: tuple = ("model", name, layer)
    else:
        w_up = upload("weight", "Weight file", "(out_features, in_features), as PyTorch stores nn.Linear: .npy, .npz "
                                               "or .safetensors, read without unpickling.")
        x_up = upload("inputs", "Inputs file", "(tokens, in_features): the layer's inputs, some of which calibrate "
                                               "and the rest measure.")
        source = None  # said where the results would be, once every control is drawn (they keep their values)
        if w_up is not None and x_up is not None and not pair_problem(w_up, x_up):
            source = ("upload", st.session_state["methods.weight"]["id"], st.session_state["methods.inputs"]["id"],
                      w_up.shape, x_up.shape)
            st.session_state["methods.pair"] = {"key": source, "weight": w_up,
                                                "inputs": x_up if x_up.ndim == 2 else x_up[None, :]}
    share = st.slider("Held-out share of the tokens", 0.05, 0.5, 0.25, step=0.05, key="methods.heldout", **ui.KEEP,
                      help="The last tokens, kept apart: each method calibrates on the others and is measured here.")
    summary = st.empty()
    bits = st.slider("Bits", 2, 8, 4, key="methods.bits", **ui.KEEP,
                     help="Weight code width, set in each method's own way (its bits setting, or its weight scheme's).")
    schemes = list(ql.SCHEMES)
    wname = st.selectbox("Weight scheme", ["default", *schemes], key="methods.weights", **ui.KEEP,
                         help="The registry scheme of the methods that round with one (default: each method's own, "
                              "e.g. symmetric per output channel). Methods with their own rounding ignore it.")
    weights: Key = None
    if wname != "default":
        wspec = ql.SCHEMES[wname]
        swept = set(wspec.at_bits(8, wspec.defaults()))
        ws = wspec.defaults()
        for s in wspec.settings:
            if s.name in swept or s.optional or not s.acts(ws, 2):
                continue
            ws[s.name] = ui.setting_widget(wname, s, "methods.w.", 2)
            why = s.missing(ws, 2)
            if why:
                st.warning(ui.plain(why), icon=":material/info:")
        weights = (wname, frozen(ws))
    act_defaults = [f"{n}: {ql.models.as_quantizer(m_.default_activations).label}"
                    for n, m_ in ql.LINEAR_METHODS.items() if m_.default_activations is not None]
    aname = st.selectbox("Activation scheme", ["default", ql.linear.FLOAT, *schemes], key="methods.activations",
                         **ui.KEEP,
                         help="Quantizes the layer's inputs per call, after the method's own transform. default: "
                              "float inputs" + (f", except {'; '.join(act_defaults)}" if act_defaults else "") +
                              f". {ql.linear.FLOAT}: float inputs for every method.")
    acts: Key = None
    if aname == ql.linear.FLOAT:
        acts = ql.linear.FLOAT
    elif aname != "default":
        aspec = ql.SCHEMES[aname]
        asettings = aspec.defaults()
        if aspec.at_bits(8, asettings):
            abits = st.slider("Activation bits", 2, 16, 8, key="methods.act_bits", **ui.KEEP,
                              help="Code width of the activation scheme (per tensor, per call).")
            asettings = {**asettings, **aspec.at_bits(abits, asettings)}
        acts = (aname, frozen(asettings))

all_methods = list(ql.LINEAR_METHODS)
with right:
    chosen = st.multiselect("Methods", all_methods, default=all_methods, key="methods.methods", **ui.KEEP,
                            help="Every registered linear method (" + ", ".join(
                                f"{n}: {m_.title}" for n, m_ in ql.LINEAR_METHODS.items()) + "); each has its "
                                "settings, formula and source below.")
if not chosen:
    right.info("Choose at least one method.")


def bit_settings(method: str) -> set[str]:
    """The settings the Bits control sets for ``method`` (they differ between two widths)."""
    spec_ = ql.LINEAR_METHODS[method]
    try:
        a, b = spec_.configure(3)[0], spec_.configure(5)[0]
    except (ValueError, TypeError):
        return set()
    return {k for k in a if a[k] != b.get(k)}


settings: dict[str, tuple] = {}
with right:
    for name_ in chosen:
        mspec = ql.LINEAR_METHODS[name_]
        own = mspec.defaults()
        with st.expander(f"{mspec.title} ({name_}): settings, formula, source"):
            st.markdown(ui.plain(mspec.description))
            st.latex(mspec.formula)
            st.caption(f"Source: {ui.plain(mspec.source)}")
            skip = bit_settings(name_)
            for s in mspec.settings:
                if s.name in skip or s.optional or s.type is np.ndarray or not s.acts(own, 2):
                    continue
                own[s.name] = ui.setting_widget(name_, s, "methods.", 2)
        settings[name_] = frozen({k: v for k, v in own.items() if k not in bit_settings(name_)})

if source is None:
    if w_up is None or x_up is None:
        right.info("**Upload a weight and its inputs** on the left: the weight (out_features, in_features), the "
                   "inputs (tokens, in_features), as .npy, .npz or .safetensors. Or choose a layer of a shipped "
                   "model.", icon=":material/upload_file:")
    else:
        right.error(ui.plain(pair_problem(w_up, x_up)), icon=":material/error:")
    st.stop()
try:
    w, x = load_pair(source)
    calib, held = compare.split_tokens(x, share)
except ValueError as exc:
    right.error(ui.plain(exc))
    st.stop()
summary.caption(f"weight {w.shape[0]} × {w.shape[1]} · {x.shape[0]:,} tokens: {calib.shape[0]:,} calibrate, "
                f"{held.shape[0]:,} held out")
if not chosen:
    st.stop()

# ------------------------------------------------------------------ the table
rows, failed = [], {}
progress = st.progress(0.0, text="Fitting the methods…")
for i, name_ in enumerate(chosen):
    progress.progress(i / len(chosen), text=f"Fitting {name_} ({i + 1} of {len(chosen)})…")
    try:
        rows.append(method_row(source, name_, settings[name_], bits, weights, acts, share))
    except (ValueError, TypeError) as exc:
        failed[name_] = str(exc)
progress.empty()
for name_, msg in failed.items():  # a method without this width (LLM.int8 is 8-bit only) says so here
    st.warning(ui.plain(f"{name_} is not in the table: {msg}"), icon=":material/info:")
if not rows:
    st.stop()
table = pd.DataFrame(rows)
st.subheader(f"At {bits} bits")
shown = table.rename(columns={"bits_per_element": "bits/element", "calibration_error": "error (calibration)",
                              "heldout_error": "error (held-out)"}).assign(ms=1e3 * table["seconds"])
ui.dataframe(shown.drop(columns=["seconds", "bits"]), hide_index=True, width="stretch", key="methods.table",
             column_config={"error (calibration)": st.column_config.NumberColumn(format="%.4g"),
                            "error (held-out)": st.column_config.NumberColumn(format="%.4g"),
                            "bits/element": st.column_config.NumberColumn(format="%.3f"),
                            "ms": st.column_config.NumberColumn("time (ms)", format="%.1f")})
st.caption("error: relative output MSE ‖y_q − x Wᵀ‖² / ‖x Wᵀ‖². bits/element: codes plus every stored scale, "
           "zero-point and kept outlier. time: the method's fit on the calibration tokens.")

ok = [r["method"] for r in rows]
results: dict[str, ql.LinearResult] = {}
for name_ in ok:
    results[name_] = method_result(source, name_, settings[name_], bits, weights, acts, share)


# ------------------------------------------------------------------ per-method views
def scaling_view(name_: str) -> None:
    """Per-channel ranges before and after the method's scaling; a method with an α setting gets
    a slider that moves them live (this part reruns alone)."""
    mspec = ql.LINEAR_METHODS[name_]
    alpha = next((s for s in mspec.settings if s.name == "alpha" and s.type is float), None)
    current = dict(settings[name_])
    if alpha is not None:
        # an optional α (None: the method searches it, as AWQ does) starts at the α the search chose
        start = current.get("alpha")
        searched = start is None
        if searched:
            start = float(results[name_].details.get("alpha", 0.5))
        start = round(float(start) * 20) / 20  # on the slider's steps
        a = st.slider("α (this view)", float(alpha.min if alpha.min is not None else 0.0),
                      float(alpha.max if alpha.max is not None else 1.0), start, step=0.05,
                      key=f"methods.{name_}.alpha_view", **ui.KEEP,
                      help="Moves the ranges below live (a fixed α instead of a search, for a method that searches "
                           "it); the method's own settings above set the table and curves.")
        if not (searched and a == start):
            current["alpha"] = float(a)
    r = method_result(source, name_, frozen(current), bits, weights, acts, share)
    df = views.channel_scaling(r)
    if df is None:
        return
    chosen_alpha = r.details.get("alpha")
    note = f" (α = {float(chosen_alpha):.2f})" if chosen_alpha is not None else ""
    st.plotly_chart(lfig.scaling_figure(df, f"{mspec.title}: per-channel ranges before and after scaling{note}"),
                    width="stretch", key=f"fig.scaling.{name_}")
    ratio = lambda c: float(df[c].max() / max(df[c].median(), 1e-30))  # noqa: E731
    st.caption(f"Largest channel over the median: inputs {ratio('x_max_before'):.1f}× → {ratio('x_max_after'):.1f}×, "
               f"weights {ratio('w_max_before'):.1f}× → {ratio('w_max_after'):.1f}×. Output error on held-out "
               f"tokens: {r.output_error(held):.4g}.")


scaled = [n for n in ok if views.channel_scaling(results[n]) is not None]
rotated = [n for n in ok if views.rotation_samples(results[n], held[:1]) is not None]
if scaled:
    st.subheader("Channel scaling")
    for name_ in scaled:
        st.fragment(scaling_view)(name_)
if rotated:
    st.subheader("Rotation")
    for name_ in rotated:
        samples = views.rotation_samples(results[name_], held)
        st.plotly_chart(lfig.rotation_figure(samples), width="stretch", key=f"fig.rotation.{name_}")
        construction = results[name_].details.get("construction")
        if construction is not None:
            st.caption(f"{ql.LINEAR_METHODS[name_].title}: {ui.plain(construction)}")

paired = [(n, df) for n in ok if (df := views.own_column_errors(results[n], n)) is not None]
if paired:
    st.subheader("Error per column against RTN's")
    for name_, df in paired:
        st.plotly_chart(lfig.column_error_figure(df, f"{ql.LINEAR_METHODS[name_].title}: its error per input column "
                                                     "against RTN's on the same grid"),
                        width="stretch", key=f"fig.own_columns.{name_}")
        st.caption(f"Each column's share of ½ tr(E H Eᵀ) as {name_} splits its error (E = W − Ŵ, H = XᵀX): "
                   f"{name_} {df[name_].sum():.4g} in all, RTN {df['rtn (same grid)'].sum():.4g}.")

# ------------------------------------------------------------------ curves
st.subheader("Output error vs bits")
curved = []
progress = st.progress(0.0, text="Sweeping bit widths…")
for i, name_ in enumerate(ok):
    progress.progress(i / len(ok), text=f"Sweeping {name_} over {BITS[0]}–{BITS[-1]} bits…")
    try:
        method_curve(source, name_, settings[name_], weights, acts, share)
        curved.append((name_, settings[name_]))
    except (ValueError, TypeError) as exc:
        st.warning(ui.plain(f"No curve for {name_}: {exc}"))
progress.empty()
figs: dict[str, Any] = {}
curves = None
if curved:
    curves, figs["error_vs_bits"] = curves_view(source, tuple(curved), weights, acts, share)
    st.plotly_chart(figs["error_vs_bits"], width="stretch", key="fig.error_bits")

st.subheader("Output error per input column")
rtn_key = "rtn" if "rtn" in ql.LINEAR_METHODS else None
items = [(n, settings[n]) for n in ok]
if rtn_key is not None and rtn_key not in ok:
    items.append((rtn_key, ()))
fig = column_view(source, tuple(items), bits, weights, acts, share)
if fig is not None:
    figs["columns"] = fig
    st.plotly_chart(fig, width="stretch", key="fig.columns")
    st.caption("Each input column's term (Σₜ xₜⱼ²)‖Wⱼ − Ŵⱼ‖² / ‖x Wᵀ‖² on the held-out tokens: RTN rounds every "
               "column on its own; GPTQ lets the columns it quantizes first carry more error, corrected by those "
               "after, for a smaller total.")

# ------------------------------------------------------------------ whole model
model_table = None
if kind == "model":
    st.subheader("Every layer of the model")
    run = st.toggle("Apply each method to every layer", value=False, key="methods.model_run", **ui.KEEP,
                    help="Quantizes every linear layer with each method on its own real calibration inputs, then "
                         "evaluates the model as Model impact does (cached per method and setting).")
    if run:
        bar = st.progress(0.0, text="Quantizing the model…")
        rows_m = []
        for name_ in dict.fromkeys([*([rtn_key] if rtn_key else []), *ok]):
            try:
                s = whole_model(source[1], name_, settings.get(name_, ()), bits, weights, acts, bar)
            except (ValueError, TypeError) as exc:
                st.warning(ui.plain(f"{name_} on the whole model: {exc}"), icon=":material/info:")
                continue
            rows_m.append({"method": name_, "average_bits": s["average_bits"],
                           **{s["labels"].get(k, k): v for k, v in s["values"].items() if k in s["labels"]},
                           "seconds": s["seconds"], "_objective": s["values"][s["objective"]]})
            labels, objective, metric = s["labels"], s["objective"], s["metric"]
        bar.empty()
        if rows_m:
            model_table = pd.DataFrame(rows_m)
            if rtn_key is not None and rtn_key in set(model_table["method"]):
                base = float(model_table.loc[model_table["method"] == rtn_key, "_objective"].iloc[0])
                model_table[f"{labels[objective]} vs rtn"] = model_table["_objective"] - base
            model_table = model_table.drop(columns="_objective")
            float_score = model(source[1]).evaluate()
            figs["model"] = lfig.model_figure(model_table, labels[objective], float_score[objective])
            st.plotly_chart(figs["model"], width="stretch", key="fig.model")
            ui.dataframe(model_table, hide_index=True, width="stretch", key="methods.model_table")
            st.caption(f"{spec.metric_help} Each layer is calibrated on the float model's inputs to it; all methods at "
                       f"{bits} bits, RTN with the same weight scheme. average_bits: bits per weight over the model, "
                       "scales and kept outliers included.")

with st.expander("Downloads", expanded=False):
    files = [("table .csv", "methods.csv", lambda: export.metrics_csv(table), "text/csv")]
    if curves is not None:
        files.append(("curves .csv", "methods_curves.csv", lambda: export.metrics_csv(curves), "text/csv"))
    if model_table is not None:
        files.append(("model .csv", "methods_model.csv", lambda: export.metrics_csv(model_table), "text/csv"))
    if figs:
        files.append(("figures .html", "methods_figures.html", lambda: export.figures_html(figs, "Methods"),
                      "text/html"))
    ui.downloads("Results", files)
