"""Toolkits: PyTorch, ONNX Runtime, TensorRT and quantlib on one tensor — where their codes differ, and why."""

import re

import streamlit as st

import quantlib as ql
from pages import _common as ui
from quantlib import export, figures, toolkits

POWER = re.compile(r"\d+\*\*(?:\([^()]*\)|[-+]?\w+)")  # 2**-23, 2**bits, 2**(b-1)

ui.start_page()
st.title("Toolkits")
st.caption("The same tensor through each toolkit's own pipeline — its calibrator, its scale and zero-point rules, "
           "its quantize arithmetic — reproduced bit for bit, then compared code by code.")
source = ui.require_source()

c = st.columns(4)
mode = c[0].radio("Mode", ["symmetric", "asymmetric"], index=0, key="tk.mode", **ui.KEEP, horizontal=True,
                  help="symmetric: signed codes, zero-point 0 (int8-style); asymmetric: unsigned codes with a "
                       "zero-point (uint8-style). TensorRT is symmetric only.")
methods = list(ql.CALIBRATION_METHODS)
calibration = c[1].selectbox("Calibration", methods, index=methods.index("minmax"), key="tk.calibration", **ui.KEEP,
                             help="Each toolkit runs its own version of this method with its own defaults; "
                                  "where a toolkit has none, quantlib's rule stands in (marked in the table).")
bits = c[2].slider("Bits", 2, 16, value=8, key="tk.bits", **ui.KEEP,
                   help="Code width (the toolkits ship 8 bits; others use custom ranges).")
k = c[3].slider("Examples per cause", 1, 50, value=5, key="tk.examples", **ui.KEEP,
                help="Elements listed for each pair and each cause.")


def md(text: str) -> str:
    """Rule words for Markdown: powers written ``2**k`` go in code spans (bare, a pair of ``**``
    would turn the text between them bold)."""
    return POWER.sub(lambda m: f"`{m.group(0)}`", text)


@st.cache_resource(max_entries=4, ttl=3600, show_spinner=False)  # codes of 4 toolkits per entry
def comparison(source: tuple, bits: int, symmetric: bool, calibration: str, k: int) -> toolkits.Comparison:
    return toolkits.compare_toolkits(ui.load_tensor(source), bits=bits, symmetric=symmetric,
                                     calibration=calibration, max_examples=k)


try:
    with st.spinner("Running four toolkits…"):
        x = ui.load_tensor(source)
        cmp = comparison(source, bits, mode == "symmetric", calibration, k)
except (ValueError, TypeError) as exc:
    st.error(f"This comparison cannot be made: {exc}")
    st.stop()

st.subheader("What each toolkit picks")
table = cmp.table()
if cmp.substituted:
    names = " and ".join(toolkits.LABELS[t] for t in cmp.substituted)
    st.info(f"{names} is symmetric only: it has no asymmetric mode, so its row shows its symmetric quantization "
            "(signed codes, zero-point 0), and its pairs with the other toolkits are not comparable.")
# The long "quantize" words are in the list below, so the table fits the page width.
ui.dataframe(table, hide_index=True, width="stretch", column_order=[c for c in table.columns if c != "quantize"],
             column_config={"scale": st.column_config.NumberColumn(format="%.9g"),
                            "range lo": st.column_config.NumberColumn(format="%.7g"),
                            "range hi": st.column_config.NumberColumn(format="%.7g"),
                            "grid lo": st.column_config.NumberColumn(format="%.7g", help="Value of the lowest code."),
                            "grid hi": st.column_config.NumberColumn(format="%.7g", help="Value of the highest code."),
                            "SQNR dB": st.column_config.NumberColumn(format="%.2f"),
                            "clip_ratio": st.column_config.NumberColumn("clipped", format="percent",
                                                                        help="Share of elements clipped (a fraction "
                                                                             "in the .csv).")})
rules = "\n".join(f"- **{toolkits.LABELS[t]}** — range: {md(r.range_rule)}; scale: {md(r.scale_rule)}; "
                  f"quantize: {md(r.mapping)}." for t, r in cmp.runs.items())
st.markdown(rules)
ranges = {t: (r.lo, r.hi) for t, r in cmp.runs.items()}
names = {t: toolkits.LABELS[t] + (" (symmetric only)" if t in cmp.substituted else "") for t in cmp.runs}
fig = figures.ranges_figure(x, ranges, labels=names)
st.plotly_chart(fig, width="stretch", key="fig.ranges")
groups: dict[tuple[float, float], list[str]] = {}
for t, rng in ranges.items():
    groups.setdefault(rng, []).append(toolkits.LABELS[t])
shared = [f"{' = '.join(g)} pick [{lo:.6g}, {hi:.6g}]" for (lo, hi), g in groups.items() if len(g) > 1]
if shared:
    st.caption("Coinciding lines: " + "; ".join(shared) + ". Each toolkit's lines stop at a height of their own, "
               "marked in its colour, so every one stays visible.")

st.subheader("How many codes differ")
pairs = list(cmp.pairs)
cols = [c for _ in range(-(-len(pairs) // 3)) for c in st.columns(3)]
for col, p in zip(cols, pairs):
    label = f"{toolkits.LABELS[p.a]} vs {toolkits.LABELS[p.b]}"
    if p.comparable:
        col.metric(label, f"{p.n_diff:,}", help=f"of {cmp.size:,} elements: {p.n_parameters:,} from the parameters, "
                                               f"{p.n_arithmetic:,} from the arithmetic")
    else:
        col.metric(label, "—", help="Not comparable: different code grids.")
st.caption(f"Out of {cmp.size:,} elements. Open a pair for the reasons and example elements.")

for p in pairs:
    la, lb = toolkits.LABELS[p.a], toolkits.LABELS[p.b]
    verb = "code differs" if p.n_diff == 1 else "codes differ"
    title = (f"{la} vs {lb}: {p.n_diff:,} {verb} ({p.n_parameters:,} from parameters, {p.n_arithmetic:,} from arithmetic)"
             if p.comparable else f"{la} vs {lb}: not comparable")
    with st.expander(title, expanded=False):
        st.markdown("\n".join(f"- {md(r)}" for r in p.reasons))
        if len(p.examples):
            ui.dataframe(p.examples, hide_index=True, width="stretch",
                         column_config={"why": st.column_config.TextColumn(width="large")})

with st.expander("Downloads", expanded=False):
    files = [("table .csv", "toolkits_table.csv", lambda: table.to_csv(index=False), "text/csv"),
             ("differences .csv", "toolkits_differences.csv",
              lambda: cmp.matrix().to_csv(), "text/csv"),
             ("figures .html", "toolkits_figures.html", lambda: export.figures_html({"ranges": fig}, "Toolkits"),
              "text/html")]
    ui.downloads("Comparison", files, columns=3)
