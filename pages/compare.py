"""Compare: several schemes/settings on the same tensor, side by side and ranked."""

import json

import numpy as np
import pandas as pd
import streamlit as st

import quantlib as ql
from pages import _common as ui
from quantlib import export, figures
from quantlib.metrics import pareto_front, rank_at_cost

DEFAULT_CONFIGS = [
    ("symmetric", {}),
    ("symmetric", {"calibration": "entropy"}),
    ("asymmetric", {"bits": 4, "calibration": "mse"}),
    ("histogram", {"num_bins": 16}),
]
MAX_CONFIGS = 12
KL_BINS = ui.KL_BINS  # histogram bins of the KL divergence: the table, metrics.csv and the snippet use the same
COST_DECIMALS = 2  # bits per element equal to 2 decimals count as one cost (8 + 32/N and 8 + 64/N bits)
MAX_CONFIGS_CHARS = 8192  # twelve configurations with every setting spelled out fit in ~6 kB


def parse_configs(raw: str) -> list[tuple[str, dict]]:
    """URL form: a JSON list of [scheme, {settings}]; each is validated by the registry."""
    if len(raw) > MAX_CONFIGS_CHARS:
        raise ValueError(f"the value has {len(raw):,} characters; at most {MAX_CONFIGS_CHARS:,} are read")
    try:
        items = json.loads(raw)
    except ValueError as exc:  # JSONDecodeError: says where the text stops being JSON
        raise ValueError(f"not valid JSON ({exc}); expected a list of [scheme, {{settings}}] pairs") from None
    except RecursionError:  # "[[[[…" nested deeper than the parser can follow
        raise ValueError("nested too deeply to be a list of [scheme, {settings}] pairs") from None
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_CONFIGS:
        raise ValueError(f"expected a list of 1..{MAX_CONFIGS} [scheme, settings] pairs")
    out = []
    for item in items:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[1], dict)):
            raise ValueError("each entry must be [scheme, {settings}]")
        ql.Quantizer(item[0], **item[1])  # validates names, types and ranges
        out.append((item[0], item[1]))
    return out


def label(scheme: str, settings: dict) -> str:
    return ql.Quantizer(scheme, **settings).label


ui.start_page()
st.title("Compare")
source = ui.require_source()

if "compare.configs" not in st.session_state:
    raw = st.query_params.get("configs")
    configs = [(s, dict(c)) for s, c in DEFAULT_CONFIGS]
    if raw is not None:
        try:
            configs = parse_configs(raw)
        except (ValueError, TypeError) as exc:
            st.warning(ui.plain(f"Link parameter configs ignored: {exc}"))
    st.session_state["compare.configs"] = configs
configs: list[tuple[str, dict]] = st.session_state["compare.configs"]
# The configurations are the page's own state, not a widget's: written to the link here.
if st.query_params.get("configs") != (raw := json.dumps([[s, c] for s, c in configs])):
    st.query_params["configs"] = raw

# A constant label and a key: the expander keeps its open state across the reruns of Add and
# Remove (a label with the count in it would be a new expander, drawn closed, after each).
with st.expander("Configurations — add or remove", key="compare.configs_open", on_change="rerun"):
    st.caption(f"{len(configs)} of at most {MAX_CONFIGS} configurations; each label names its scheme, its bits and "
               "calibration, and every other setting that differs from the default.")
    for i, (scheme, settings) in enumerate(list(configs)):
        a, b = st.columns([6, 1])
        a.markdown(f"**{i + 1}.** `{label(scheme, settings)}`")
        if b.button("Remove", key=f"remove.{i}", help="Drop this configuration", disabled=len(configs) <= 1):
            configs.pop(i)
            st.rerun()
    st.markdown("**Add a configuration**")
    schemes = list(ql.SCHEMES)
    new_scheme = st.selectbox("Scheme", schemes, index=0, key="add.scheme", **ui.KEEP,
                              help="Any scheme in the registry.")
    spec = ql.SCHEMES[new_scheme]
    new_settings = ui.scheme_settings(new_scheme, ui.load_tensor(source).ndim, prefix="add.", columns=4)
    if st.button("Add", type="primary", disabled=len(configs) >= MAX_CONFIGS,
                 help=f"Add this scheme with these settings (at most {MAX_CONFIGS})."):
        changed = {k: v for k, v in new_settings.items() if v != spec.setting(k).default}
        configs.append((new_scheme, changed))
        st.rerun()

bins = st.slider("Histogram bins (plots)", 8, 1024, value=128, key="compare.bins", step=8, **ui.KEEP,
                 help="Bins of the small-multiple histograms.")

x = ui.load_tensor(source)
results, labels, rows, applied, mets = [], [], [], [], []
progress = st.progress(0.0, text="Quantizing…")
for i, (scheme, settings) in enumerate(configs):
    name = label(scheme, settings)
    try:
        r = ui.run_scheme(source, scheme, settings)
        m = ui.scheme_metrics(source, scheme, settings, KL_BINS)
    except (ValueError, TypeError) as exc:
        st.error(ui.plain(f"{name}: {exc}"))
        continue
    results.append(r)
    labels.append(name)
    applied.append((scheme, settings))
    mets.append(m)
    rows.append({"configuration": name, "scheme": scheme, "bits/element": m["bits_per_element"],
                 "SQNR dB": m["sqnr_db"], "MSE": m["mse"], "cosine": m["cosine_similarity"],
                 "max error": m["max_abs_error"], "clip_ratio": m["clip_ratio"], "levels used": m["levels_used"]})
    progress.progress((i + 1) / len(configs), text=f"Quantized {name}")
progress.empty()

if not results:
    st.error("No configuration could be applied to this tensor.")
    st.stop()

# More bits always buy SQNR (6.02 dB a bit), so a ranking by SQNR alone says only "8 beats 4":
# rank among configurations of equal cost, and mark the ones nothing beats at equal or fewer bits.
table = pd.DataFrame(rows)
table.insert(0, "rank at these bits", rank_at_cost(table["bits/element"], table["SQNR dB"], COST_DECIMALS))
# the front at the table's precision of cost: 4.0005 and 4.001 bits are one cost, as in the ranks
table.insert(3, "Pareto-optimal", pareto_front(table["bits/element"].round(COST_DECIMALS), table["SQNR dB"]))
order = np.lexsort((table["rank at these bits"], table["bits/element"].round(COST_DECIMALS)))
table = table.iloc[order].reset_index(drop=True)
st.subheader("Ranking at equal bits per element")
ui.dataframe(table, hide_index=True, width="stretch", column_config={
    "rank at these bits": st.column_config.NumberColumn(
        help=f"Rank by SQNR among the configurations with the same bits per element (to {COST_DECIMALS} decimals)."),
    "bits/element": st.column_config.NumberColumn(format="%.4g",
                                                  help="Code bits plus the stored scales and zero-points per element."),
    "Pareto-optimal": st.column_config.CheckboxColumn(
        help="No other configuration has at least this SQNR with at most these bits per element."),
    "SQNR dB": st.column_config.NumberColumn(format="%.2f"),
    "MSE": st.column_config.NumberColumn(format="%.4g"),
    "cosine": st.column_config.NumberColumn(format="%.9g"),
    "max error": st.column_config.NumberColumn(format="%.4g"),
    "clip_ratio": st.column_config.NumberColumn("clipped", format="percent",
                                                help="Share of elements clipped (a fraction in metrics.csv)."),
})
figs = {"pareto": figures.pareto_figure(table, decimals=COST_DECIMALS)}
st.plotly_chart(figs["pareto"], width="stretch", key="fig.pareto")

t = st.columns(2)
shared_y = t[0].toggle("Same count axis for every panel", value=False, key="compare.shared_y", **ui.KEEP,
                       help="Off: each panel scales its own counts, so one tall spike (a 3-bit grid's) does not "
                            "flatten the others. On: one axis, to compare heights across panels.")
log_y = t[1].toggle("Log count", value=False, key="compare.log_y", **ui.KEEP,
                    help="Counts on a log axis: the tails and the small bins stay visible beside the spikes.")
figs["small_multiples"] = figures.small_multiples(x, results, labels, bins, shared_y=shared_y, log_y=log_y)
st.plotly_chart(figs["small_multiples"], width="stretch", key="fig.small_multiples")

with st.spinner("Sweeping bit widths…"):
    curves, marks = [], []
    for (scheme, settings), name, r in zip(applied, labels, results):
        try:
            df = ui.bits_curve(source, scheme, settings).copy()
        except (ValueError, TypeError) as exc:
            st.warning(ui.plain(f"No bit-width curve for {name}: {exc}"))
            continue
        own, spec = ql.sweeps.series_of(scheme), ql.SCHEMES[scheme]
        if not spec.fixed_width:  # a swept configuration is its own line, named without what the sweep varies
            swept = spec.at_bits(8, spec.validate(settings))
            df.loc[df["series"] == own, "series"] = own = ql.Quantizer(scheme, **settings).describe(omit=swept)
        curves.append(df)
        marks.append((own, scheme, r.bits_per_element))
metric = st.selectbox("Curve metric", ql.sweeps.METRIC_COLUMNS, key="compare.metric", **ui.KEEP,
                      format_func=lambda k: ql.METRIC_INFO[k].title(),
                      index=ql.sweeps.METRIC_COLUMNS.index("sqnr_db"),
                      help="Metric drawn against bit width for every configuration.")
if curves:
    both = pd.concat(curves, ignore_index=True).drop_duplicates(["series", "scheme", "bits_per_element"])
    figs["bits"] = figures.bits_figure(both, metric, current=marks)
    st.plotly_chart(figs["bits"], width="stretch", key="fig.bits")

with st.expander("Downloads", expanded=False):
    ui.downloads("Table and figures", [
        ("metrics .csv", "compare_metrics.csv", lambda: export.metrics_csv(table), "text/csv"),
        ("figures .html", "compare_figures.html", lambda: export.figures_html(figs, "Compare"), "text/html"),
    ], columns=2)
    st.caption(f"figures .html: all {len(figs)} figures in one file that opens offline (plotly.js inside, once).")
    pick = st.selectbox("Configuration for codes and params", labels, key="compare.pick",
                        help="Which configuration's codes and params to download.")
    k = labels.index(pick)
    ui.downloads("Selected configuration",
                 ui.result_files(f"compare_{k + 1}", results[k], mets[k], source, num_bins=KL_BINS))
    ui.snippet(export.python_snippet(ui.source_dict(source), configs, num_bins=KL_BINS), key="compare.snippet")

