"""Shared UI pieces: page start, the data-source panel, setting widgets, cached engine calls
and download buttons. Pages stay thin; all math is in quantlib."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import streamlit as st

import pages
import quantlib as ql
from quantlib import export, figures
from quantlib.gguf_file import gguf_bytes
from quantlib.metrics import ValueHistograms, value_histograms

SIZES = [2**k for k in range(10, 25, 2)]  # 1 K ... 16 M, log steps
DIST_OPTIONS = {
    "normal_with_outliers": (("outlier_fraction", 0.001, 1e-6, 0.2, "Share of values that are outliers."),
                             ("outlier_scale", 20.0, 1.0, 1000.0, "How many times larger the outliers are.")),
    "student_t": (("dof", 3.0, 1.0, 100.0, "Degrees of freedom: lower means heavier tails."),),
}
SOURCES = ("synthetic", "sample", "upload")
KL_BINS = 256  # histogram bins of the pages' KL divergence (metrics cards, tables, metrics.csv, snippets)
#: The data-source controls and their defaults (the sample tensor's is the first name, see data_source).
PANEL = {"data.source": "synthetic", "data.sample": None, "data.distribution": "normal", "data.size": 2**16,
         "data.seed": 0, "data.layout": "vector",
         **{f"data.{name}": default for opts in DIST_OPTIONS.values() for name, default, *_ in opts}}
UPLOAD_TYPES = ["npy", "npz", "csv", "safetensors", "onnx", "gguf"]

#: Passed to every control: its value lives in the URL under its key (a copied link reproduces the
#: view; Streamlit leaves values at their default out and drops a link value the widget would not
#: accept) and is kept for the whole session, across runs that do not draw it and page switches.
KEEP: dict[str, Any] = {"bind": "query-params", "persist_state": "session"}


def start_page() -> None:
    """Call first on every page.

    Streamlit treats a folder named ``pages/`` next to the entrypoint as an old-style multipage
    app until ``st.navigation`` is first called in the server's life (AppTest: in every run):
    a link such as ``/compare`` opened first then runs this page alone, without app.py's page
    config and menu, and keeps doing so. A session whose first run did not come through app.py
    calls ``st.navigation`` here, which ends that mode for every session (as documented), and
    reruns through app.py; its first run has no click to lose. Later unrouted runs (AppTest's)
    just draw the page.
    """
    _busy[0] = time.monotonic()
    _warm_engine()
    routed = st.session_state.pop("_routed", False)
    if not routed and "_started" not in st.session_state:
        st.session_state["_started"] = True
        st.navigation(pages.menu(), position="top")
        st.rerun()
    st.session_state["_started"] = True


@st.cache_resource(max_entries=1, ttl=None, show_spinner=False)  # one entry for the server's life
def _warm_engine() -> threading.Thread:
    """Once per server process, when its first session opens: :func:`quantlib.warm_up` in a background
    thread (numba's import and registries, every scheme's kernels from numba's cache, ~1.5 s), so that a
    first chart that needs them (the Rate–distortion page's every scheme) does not wait for it. Each of
    its steps waits until no page has run for a moment (:func:`_quiet`): the page being opened runs
    alone and compiles what it needs first. On a fresh install (an empty numba cache) the warm-up
    compiles for 1-2 minutes, holding the GIL most of that time; the first page no longer shares it.
    A page that needs a kernel while a step compiles it waits for that step, no longer."""
    thread = threading.Thread(target=ql.warm_up, kwargs={"pause": _quiet}, name="quantlib-warm-up", daemon=True)
    thread.start()
    return thread


#: Streamlit runs each session's script in a thread of this name, which ends when the session's runs do.
_SCRIPT_THREAD = "ScriptRunner.scriptThread"
_busy = [0.0]  # time.monotonic() when a page was last seen running (start_page, _quiet)


def _quiet(seconds: float = 2.0, poll: float = 0.1) -> None:
    """Return once no page has run for ``seconds``: a session's script thread is alive, or a page
    started (start_page), less than that ago. The first run's follow-up, which the browser asks for
    1 s after that run, then has its turn first."""
    while True:
        if any(t.name == _SCRIPT_THREAD for t in threading.enumerate()):
            _busy[0] = time.monotonic()
        elif time.monotonic() - _busy[0] >= seconds:
            return
        time.sleep(poll)


_MARKDOWN = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()<>#+-.!|~$"})


def plain(text: object) -> str:
    """``text`` with every Markdown character escaped, so file names, tensor names and other
    user-supplied strings show as typed (no links, no formatting, no HTML)."""
    return str(text).translate(_MARKDOWN)


# ---------------------------------------------------------------- data source
@st.cache_resource(max_entries=6, ttl=3600, show_spinner=False)
def _shared_tensor(source: tuple) -> np.ndarray:
    """Synthetic and shipped tensors: deterministic, so one copy serves every session."""
    spec = dict(source)
    if spec["source"] == "sample":
        x = ql.sample_tensors()[spec["name"]]
    else:
        x = ql.synthetic(spec["distribution"], spec["size"], spec["seed"], shape=spec.get("shape"),
                         **dict(spec.get("options", ())))
    x.setflags(write=False)
    return x


def load_tensor(source: tuple) -> np.ndarray:
    """The tensor a source key describes. Uploads live only in their own session's state."""
    spec = dict(source)
    if spec["source"] == "upload":
        upload = st.session_state.get("upload")
        if upload is None or upload["id"] != spec["id"]:
            raise ValueError("the uploaded file is no longer available; upload it again")
        return upload["tensors"][spec["name"]]
    return _shared_tensor(source)


def _summary(x: np.ndarray, stored: str | None = None) -> str:
    """Shape, how the tensor is stored and how it is used (float32), and its range."""
    if stored is None or stored in ("F32", "float32"):
        kind = "float32"
    elif stored in ql.loaders.EXACT_IN_FLOAT32:
        kind = f"stored as {stored}, read exactly as float32"
    elif stored == "text":
        kind = "text, read as float32"
    elif ql.loaders.is_block_type(stored):
        kind = f"stored as {stored}, dequantized to float32: its values already lie on the {stored} grid"
    else:
        kind = f"stored as {stored}, converted to float32"
    return f"shape {' × '.join(map(str, x.shape))} · {kind} · range [{x.min():.4g}, {x.max():.4g}]"


def stored_type(source: tuple) -> str | None:
    """How the file of an uploaded source stores its tensor (:func:`quantlib.stored_types`); None for
    synthetic and shipped tensors (float32) or when the upload is gone."""
    spec = dict(source)
    upload = st.session_state.get("upload")
    if spec["source"] != "upload" or upload is None or upload["id"] != spec["id"]:
        return None
    return upload.get("types", {}).get(spec["name"])


def _upload_panel() -> tuple | None:
    """File uploader + tensor picker; the file is read with the safe loaders and kept for the
    session, so it follows the user to every page (an uploader comes up empty on each page)."""
    f = st.file_uploader("Tensor file", type=UPLOAD_TYPES, key="data.file",
                         help="A .npy, .npz, .csv, .safetensors, .onnx or .gguf file (up to 200 MB). Never "
                              "unpickled; NaN/Inf, complex and object arrays are refused. GGUF tensors of any "
                              "llama.cpp type are dequantized to float32.")
    current = st.session_state.get("upload")
    if f is not None and (current is None or current["id"] != f.file_id):
        try:
            tensors = ql.load_tensors(f)
            types = ql.stored_types(f)
        except ValueError as exc:
            st.session_state.pop("upload", None)
            st.session_state["upload.refused"] = (f.file_id, str(exc))
            st.error(plain(exc))
            return None
        for a in tensors.values():
            a.setflags(write=False)
        st.session_state["upload"] = current = {"id": f.file_id, "file": f.name, "tensors": tensors, "types": types}
        st.session_state.pop("upload.refused", None)
    elif f is None and current is None:
        st.caption("No file yet.")
        return None
    elif f is not None and "upload.refused" in st.session_state and st.session_state["upload.refused"][0] == f.file_id:
        return None
    if f is None:
        st.caption(f"Using {plain(current['file'])}, uploaded this session; upload another file to replace it.")
    tensors = current["tensors"]
    names = list(tensors)
    name = st.selectbox("Tensor", names, key="data.upload_tensor", persist_state="session",
                        help="Tensors found in the file.")
    st.caption(_summary(tensors[name], current.get("types", {}).get(name)))
    return (("source", "upload"), ("id", current["id"]), ("name", name))


def _carry_link_values() -> bool:
    """Work-around for Streamlit 1.67: a panel control whose value came from the link, and was
    not set since, comes up at its default on the first other page opened (the value is still in
    session state). Assigned once, on the session's second run, the value carries. Returns True
    when that run is already on another page and its link lacks a carried value: the caller
    reruns once, and the link gets it (a page switch carries no click to lose)."""
    if "_carried" in st.session_state:
        return False
    kept = {k: st.session_state[k] for k in PANEL if k in st.session_state}
    if not kept:  # the session's first run: nothing drawn yet
        return False
    st.session_state["_carried"] = True
    for k, v in kept.items():
        st.session_state[k] = v
    return any(v != PANEL[k] and k not in st.query_params for k, v in kept.items() if PANEL[k] is not None)


def data_source() -> tuple | None:
    """Sidebar panel shared by every page (its controls keep one value across pages); returns a
    hashable description of the tensor (None while the upload source has no file yet)."""
    with st.sidebar:
        st.header("Data source")
        src = st.radio("Source", SOURCES, index=SOURCES.index(PANEL["data.source"]), key="data.source",
                       horizontal=True, **KEEP,
                       help="Synthetic distributions, tensors shipped in sample_data/, or your own file.")
        if src == "upload":
            return _upload_panel()
        if src == "sample":
            names = sorted(ql.sample_tensors())
            name = st.selectbox("Sample tensor", names, index=0, key="data.sample", **KEEP,
                                help="Real tensors shipped in sample_data/ (see its README for their source).")
            st.caption(_summary(ql.sample_tensors()[name]))
            return (("source", "sample"), ("name", name))
        dists = list(ql.DISTRIBUTIONS)
        dist = st.selectbox("Distribution", dists, index=dists.index(PANEL["data.distribution"]),
                            key="data.distribution", **KEEP, help="Synthetic distribution to quantize.")
        options = []
        for name, default, lo, hi, helptext in DIST_OPTIONS.get(dist, ()):
            value = st.number_input(name.replace("_", " "), lo, hi, value=default, key=f"data.{name}", format="%.6g",
                                    help=helptext, **KEEP)
            options.append((name, float(value)))
        size = st.select_slider("Size", SIZES, value=PANEL["data.size"], key="data.size", **KEEP,
                                help="Number of values, 1 K … 16 M (a 4096×4096 layer).")
        seed = st.number_input("Seed", 0, 2**31 - 1, value=PANEL["data.seed"], key="data.seed", **KEEP,
                               help="Same settings and seed, same tensor.")
        layout = st.radio("Layout", ["vector", "matrix"], index=0, key="data.layout", horizontal=True, **KEEP,
                          help="matrix: a square-ish 2-D weight (rows = channels), for per-channel / per-group.")
        shape = None
        if layout == "matrix":
            rows = 2 ** (int(np.log2(size)) // 2)
            shape = (rows, size // rows)
        st.caption(f"{size:,} values" + ("" if shape is None else f" · shape {shape[0]:,} × {shape[1]:,}"))
        return (("source", "synthetic"), ("distribution", dist), ("size", int(size)), ("seed", int(seed)),
                ("shape", shape), ("options", tuple(options)))


def require_source() -> tuple:
    """The data source, or stop the page with a message where its charts would be: how to
    upload a file, or why the file was refused and what to do instead."""
    relink = _carry_link_values()
    source = data_source()
    if relink:
        st.rerun()
    if source is None:
        refused = st.session_state.get("upload.refused")
        kinds = ", ".join(f".{t}" for t in UPLOAD_TYPES)
        if refused is not None:
            st.error(f"**This file could not be read.** {plain(refused[1])}", icon=":material/error:")
            st.markdown(f"Upload another file ({kinds}) in the sidebar, or switch **Source** to *synthetic* or "
                        "*sample* to go on with generated or shipped tensors.")
        else:
            st.info(f"**Upload a tensor file** in the sidebar to quantize it: {kinds}, up to 200 MB. Numpy files "
                    "are read without unpickling; NaN, Inf, complex and object arrays are refused. Or switch "
                    "**Source** to *synthetic* or *sample*.", icon=":material/upload_file:")
        st.stop()
    stored = stored_type(source)
    if stored is not None and ql.loaders.is_block_type(stored):
        scheme = stored.lower()
        again = (f" Quantizing it with `{scheme}` again gives these values back exactly (SQNR ∞)."
                 if scheme in ql.SCHEMES else "")
        st.info(f"**This tensor was stored as {stored}** and is shown dequantized: every error on this page is "
                f"measured against these values, not against the weights it was made from.{again}",
                icon=":material/info:")
    return source


def source_dict(source: tuple) -> dict[str, Any]:
    d = dict(source)
    if "options" in d:
        d["options"] = dict(d["options"])
    return d


# ------------------------------------------------------------ engine (cached)
def _freeze(settings: Mapping[str, Any]) -> tuple:
    return tuple(sorted(settings.items()))


@st.cache_resource(max_entries=6, ttl=3600, show_spinner=False)  # a 16 M result holds ~80 MB
def _run(source: tuple, scheme: str, frozen: tuple) -> ql.QuantResult:
    return ql.Quantizer(scheme, **dict(frozen))(load_tensor(source))


def run_scheme(source: tuple, scheme: str, settings: Mapping[str, Any]) -> ql.QuantResult:
    return _run(source, scheme, _freeze(settings))


@st.cache_data(max_entries=64, ttl=3600, show_spinner=False)
def _histograms(source: tuple, scheme: str, frozen: tuple, num_bins: int,
                value_range: tuple[float, float] | None = None) -> ValueHistograms:
    return value_histograms(load_tensor(source), _run(source, scheme, frozen).dequantized, num_bins, value_range)


def histograms(source: tuple, scheme: str, settings: Mapping[str, Any], num_bins: int = 256,
               value_range: tuple[float, float] | None = None) -> ValueHistograms:
    """Original and dequantized histograms on shared bins (over ``value_range``, or the span of
    both): the KL metric's, and at the plot's own bin count and zoom the distribution plot's."""
    return _histograms(source, scheme, _freeze(settings), num_bins, value_range)


@st.cache_data(max_entries=64, ttl=3600, show_spinner=False)
def _view_range(source: tuple, scheme: str, frozen: tuple, view: str) -> tuple[float, float]:
    return figures.VIEW_RANGES[view](load_tensor(source), _run(source, scheme, frozen))


def view_range(source: tuple, scheme: str, settings: Mapping[str, Any], view: str) -> tuple[float, float]:
    """The value plots' shared x range (``figures.VIEW_RANGES``)."""
    return _view_range(source, scheme, _freeze(settings), view)


@st.cache_data(max_entries=64, ttl=3600, show_spinner=False)
def _metrics(source: tuple, scheme: str, frozen: tuple, num_bins: int) -> dict[str, float]:
    return _run(source, scheme, frozen).metrics(load_tensor(source), num_bins=num_bins,
                                                histograms=_histograms(source, scheme, frozen, num_bins)).to_dict()


def scheme_metrics(source: tuple, scheme: str, settings: Mapping[str, Any], num_bins: int = 256) -> dict[str, float]:
    return _metrics(source, scheme, _freeze(settings), num_bins)


@st.cache_data(max_entries=32, ttl=3600, show_spinner=False)
def _bits_curve(source: tuple, scheme: str, frozen: tuple):
    return ql.sweep_bits(load_tensor(source), scheme, range(1, 17), max_samples=ql.sweeps.CURVE_SAMPLES, **dict(frozen))


def bits_curve(source: tuple, scheme: str, settings: Mapping[str, Any]):
    """Metrics at 1..16 bits, those the scheme allows (an estimate for big tensors, on
    :func:`quantlib.sweeps.structured_sample`'s 262,144 values: whole rows, the extremes in). The
    settings a bit sweep overrides are left out of the cache key, so moving the bits slider
    does not recompute the curve."""
    swept = set(ql.SCHEMES[scheme].at_bits(8, ql.SCHEMES[scheme].defaults()))
    s = {k: v for k, v in settings.items() if k not in ("scale", "zero_point") and k not in swept}
    return _bits_curve(source, scheme, _freeze(s))


@st.cache_data(max_entries=32, ttl=3600, show_spinner=False)
def threshold_curve(source: tuple, bits: int, symmetric: bool, convention: str, num_bins: int, percentile: float):
    """Metric against clipping threshold on :func:`quantlib.sweeps.structured_sample`'s 65,536 values
    (the tensor's minimum and maximum in), 48 points."""
    return ql.sweep_threshold(load_tensor(source), bits=bits, symmetric=symmetric, convention=convention,
                              num_bins=num_bins, num_points=48, max_samples=2**16, percentile=percentile)


# -------------------------------------------------------------------- widgets
def setting_widget(scheme: str, s: ql.Setting, prefix: str = "", ndim: int | None = None) -> Any:
    """One control for one registry setting, chosen from its type and bounds (its link value is
    accepted within the same bounds); a tensor axis offers the axes of an ``ndim``-d tensor."""
    key, label = f"{prefix}{scheme}.{s.name}", s.name.replace("_", " ")
    if s.type is bool:
        return st.checkbox(label, value=bool(s.default), key=key, help=s.help, **KEEP)
    if s.choices is not None:
        return st.selectbox(label, s.choices, index=list(s.choices).index(s.default), key=key, help=s.help, **KEEP)
    lo, hi = s.min, s.max
    if s.tensor_axis and ndim is not None:
        lo, hi = -ndim, ndim - 1
        if key in st.session_state and not lo <= st.session_state[key] <= hi:
            st.session_state[key] = max(lo, min(hi, int(st.session_state[key])))  # a tensor of fewer axes
    if s.type is int and hi is not None and hi - lo <= 64:
        return st.slider(label, int(lo), int(hi), value=max(int(lo), min(int(hi), int(s.default))), key=key,
                         help=s.help, **KEEP)
    cast = int if s.type is int else float  # an open bound (None) stays open
    lo, hi = (None if b is None else cast(b) for b in (lo, hi))
    if s.type is int:
        return int(st.number_input(label, lo, hi, value=int(s.default), key=key, help=s.help, step=1, **KEEP))
    return float(st.number_input(label, lo, hi, value=float(s.default), key=key, help=s.help, format="%.6g", **KEEP))


def scheme_settings(scheme: str, ndim: int, prefix: str = "", columns: int = 1) -> dict[str, Any]:
    """Controls for the settings of ``scheme`` that act on a tensor of ``ndim`` dimensions under
    the values chosen so far (``Setting.acts``: percentile only under percentile calibration,
    axis only for matrices …), each followed by what its value needs that the tensor lacks
    (``Setting.missing``). Settings not shown keep their defaults: they change nothing. Every page
    that offers a scheme's settings uses this (Explore, Compare's form, Formats, Learn), so no page
    shows a control that does nothing. ``columns``: the controls side by side, in that many columns."""
    spec = ql.SCHEMES[scheme]
    settings = spec.defaults()
    cols = st.columns(columns) if columns > 1 else None
    shown = 0
    for s in spec.settings:
        if s.optional or not s.acts(settings, ndim):
            continue
        with cols[shown % columns] if cols is not None else contextlib.nullcontext():
            settings[s.name] = setting_widget(scheme, s, prefix, ndim)
            why = s.missing(settings, ndim)
            if why:
                st.warning(plain(why), icon=":material/info:")
        shown += 1
    return settings


def downloads(label: str, files: list[tuple[str, str, Callable[[], bytes | str], str]], columns: int = 4) -> None:
    """A row of deferred download buttons: (button label, file name, producer, mime)."""
    st.markdown(f"**{label}**")
    cols = st.columns(columns)
    for i, (text, name, produce, mime) in enumerate(files):
        cols[i % columns].download_button(text, data=produce, file_name=name, mime=mime, on_click="ignore",
                                          key=f"dl.{name}", help=f"Download {name}")


def snippet(code: str, key: str) -> None:
    """The Python snippet that reproduces the view, shown on demand: ``st.code`` makes the
    browser load and parse a 1.5 MB syntax highlighter, ~0.3 s of every cold page load."""
    if st.toggle("Show the Python snippet", key=key, help="The quantlib code that reproduces this view."):
        st.code(code, language="python")


def result_files(stem: str, result: ql.QuantResult, metrics: Mapping[str, Any], source: tuple,
                 num_bins: int | None = None) -> list:
    """Download entries for one result: codes (.npy/.csv), params (.json), metrics (.csv), snippet (.py).
    ``num_bins``: the histogram bins ``metrics`` were computed with (:func:`scheme_metrics`'
    default is 256): the snippet computes its kl_divergence on the same bins and metrics.csv
    names them (column ``kl_bins``), so the two files agree. None: the snippet uses the library
    default and metrics.csv does not name the bins."""
    if num_bins is not None:
        metrics = {**metrics, "kl_bins": int(num_bins)}
    files = [("codes .npy", f"{stem}_codes.npy", lambda: export.npy_bytes(result.codes), "application/octet-stream")]
    if result.codes.size <= export.CSV_MAX_VALUES:
        files.append(("codes .csv", f"{stem}_codes.csv", lambda: export.csv_bytes(result.codes), "text/csv"))
    files += [
        ("params .json", f"{stem}_params.json",
         lambda: export.params_json(result.params, {"scheme": result.scheme, "settings": dict(result.settings)}),
         "application/json"),
        ("metrics .csv", f"{stem}_metrics.csv", lambda: export.metrics_csv(metrics), "text/csv"),
        ("Python snippet", f"{stem}.py",
         lambda: export.python_snippet(source_dict(source), [(result.scheme, dict(result.settings))], num_bins),
         "text/x-python"),
    ]
    blocks = result.ggml_blocks
    if isinstance(blocks, ql.formats.GGMLBlocks) and result.codes.shape[-1] % blocks.q.shape[1] == 0 \
            and result.codes.ndim <= 4:  # a llama.cpp type in whole rows of blocks: the tensor as llama.cpp stores it
        name = dict(source).get("name") or "tensor"
        files.append(("tensor .gguf", f"{stem}.gguf", lambda: gguf_bytes(result, str(name)), "application/octet-stream"))
    return files


def dataframe(data: Any, *, where: Any = st, **kwargs: Any) -> Any:
    """``st.dataframe`` (in ``where``: a column, the sidebar …) of ``data`` without its ``DataFrame.attrs``.

    pyarrow writes a frame's attrs into the Arrow schema's metadata as JSON, NaN and ±Infinity included;
    the browser parses it with ``JSON.parse``, which refuses them ("No number after minus sign in JSON"),
    and shows that error in place of the table. The attrs are for code (an entropy estimate that is −∞
    on an atom, the refused configurations), never for the table, so they stay behind."""
    if getattr(data, "attrs", None):
        data = data.copy(deep=False)
        data.attrs = {}
    return where.dataframe(data, **kwargs)


def settings_json(settings: Mapping[str, Any]) -> str:
    return json.dumps(dict(settings), sort_keys=True)
