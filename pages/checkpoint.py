"""Checkpoint: a whole-checkpoint report — open one (a parquet file from `python -m quantlib checkpoint`
or `quantlib.checkpoint_report`) or make one from an uploaded checkpoint; heatmap, table, sizes, keep list."""

import tempfile
from pathlib import Path

import streamlit as st

import quantlib as ql
from pages import _common as ui
from quantlib import checkpoint as ck
from quantlib import checkpoint_figures as figs
from quantlib.loaders import MAX_FILE_BYTES

DEFAULT_SCHEMES = ["symmetric", "nf4", "q4_k", "fp8_e4m3fn"]
STATE = "checkpoint.report"  # (file name, report DataFrame), kept for the session


def _open_report(f) -> None:
    try:
        df = ck.read_report(f.getvalue(), f.name)
    except ValueError as exc:
        st.session_state.pop(STATE, None)
        st.error(ui.plain(exc), icon=":material/error:")
        return
    st.session_state[STATE] = (f.name, df)


def _run_on_upload(f, schemes: list[str], bits: int) -> None:
    """The report of an uploaded checkpoint file, run in this process (workers=0) with a progress bar.
    The upload is written to a private temporary folder under a fixed name and removed after: the
    browser never names a server path."""
    bar = st.progress(0.0, text="Reading the checkpoint…")
    suffix = Path(f.name).suffix.lower()
    with tempfile.TemporaryDirectory(prefix="ql-checkpoint-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(f.getvalue())
        try:
            df = ck.checkpoint_report(path, schemes, bits=bits, workers=0,
                                      progress=lambda p: bar.progress(p.tensors_done / p.tensors_total, text=p.line()))
        except (ValueError, TypeError) as exc:
            bar.empty()
            st.session_state.pop(STATE, None)
            st.error(ui.plain(str(exc).replace(str(path), f.name).replace(path.name, f.name)), icon=":material/error:")
            return
    bar.empty()
    st.session_state[STATE] = (f.name, df)


ui.start_page()
st.title("Checkpoint")
st.caption("Every tensor of a model checkpoint under each scheme: which layers have outliers, which lose most, how big "
           "the model is under each choice. Open a report made by `python -m quantlib checkpoint` (any size, on Dask), "
           "or make one here from a checkpoint file within the upload limit.")

source = st.radio("Source", ["open a report", "run on a checkpoint"], horizontal=True, key="checkpoint.source",
                  **ui.KEEP, help="A report file (.parquet), or a .safetensors / .gguf checkpoint to report on here.")
if source == "open a report":
    f = st.file_uploader("Report (.parquet)", type=["parquet"], key="checkpoint.report_file",
                         help="Written by `python -m quantlib checkpoint … --out report.parquet` or "
                              "`quantlib.checkpoint_report(…).to_parquet(…)`; read by pyarrow, nothing unpickled.")
    if f is not None and st.session_state.get("checkpoint.opened") != f.file_id:
        st.session_state["checkpoint.opened"] = f.file_id
        _open_report(f)
else:
    f = st.file_uploader("Checkpoint (.safetensors or .gguf)", type=["safetensors", "gguf"], key="checkpoint.file",
                         help=f"One file of up to {MAX_FILE_BYTES // 2**20} MB; a sharded checkpoint or a larger "
                              "one: run `python -m quantlib checkpoint` and open its report.")
    c1, c2 = st.columns([3, 1])
    schemes = c1.multiselect("Schemes", list(ql.SCHEMES), default=DEFAULT_SCHEMES, key="checkpoint.schemes", **ui.KEEP,
                             help="Registry schemes at their defaults (bit-swept ones at the bits on the right).")
    bits = c2.slider("Bits", 2, 8, value=4, key="checkpoint.bits", **ui.KEEP,
                     help="Code width of the bit-swept schemes; fixed-width formats ignore it.")
    run = st.button("Make the report", type="primary", disabled=f is None or not schemes, key="checkpoint.run")
    if run and f is not None:
        _run_on_upload(f, schemes, bits)

if STATE not in st.session_state:
    st.info("**Open a report** (.parquet) or **run on a checkpoint** file to see its layers.", icon=":material/upload_file:")
    st.stop()

name, report = st.session_state[STATE]
labels = list(dict.fromkeys(report["scheme"]))
st.subheader(f"{ui.plain(name)}: {report['tensor'].nunique():,} tensors × {len(labels)} schemes")

scheme = st.selectbox("Scheme of the heatmap", labels, key="checkpoint.scheme",
                      help="Colour = SQNR in dB of the worst tensor in each cell (layer × kind).")
st.plotly_chart(figs.sqnr_heatmap(report, scheme), width="stretch", key="fig.checkpoint_heatmap")

c1, c2 = st.columns(2)
with c1:
    st.markdown("**Size under each scheme**")
    totals = ck.size_totals(report)
    ui.dataframe(totals.assign(MB=totals["bytes"] / 1e6).drop(columns=["bytes"]), hide_index=True, width="stretch",
                 key="checkpoint.totals")
    st.caption("1-D tensors (norm weights, biases) are kept as stored under every scheme, as llama-quantize and "
               "the other toolkits keep them (\"kept\"); the table below still shows what quantizing them would do.")
with c2:
    margin = st.slider("Keep in 16 bits below the median by (dB)", 1.0, 20.0, value=6.0, step=0.5,
                       key="checkpoint.margin", **ui.KEEP,
                       help="Tensors whose SQNR is this far below their scheme's median are suggested for 16 bits.")
    keep = ck.keep_in_16bit(report, margin_db=margin)
    st.markdown("**Keep in 16 bits**")
    if keep.empty:
        st.caption("No tensor falls that far below its scheme's median.")
    else:
        ui.dataframe(keep, hide_index=True, width="stretch", key="checkpoint.keep")

st.markdown("**Every tensor and scheme** (click a column to sort)")
ui.dataframe(report, hide_index=True, width="stretch", key="checkpoint.table")
ui.downloads("Downloads", [
    ("report .parquet", "checkpoint_report.parquet", lambda: ck.report_parquet(report), "application/octet-stream"),
    ("report .html", "checkpoint_report.html", lambda: figs.report_html(report, name), "text/html"),
])
