"""Shared UI pieces: URL-backed widget state, the data-source panel, setting widgets,
cached engine calls and download buttons. Pages stay thin; all math is in quantlib."""

from __future__ import annotations

import json
import runpy
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

import quantlib as ql
from quantlib import export
from quantlib.metrics import ValueHistograms, value_histograms

APP_PATH = Path(__file__).resolve().parents[1] / "app.py"
SIZES = [2**k for k in range(10, 25, 2)]  # 1 K ... 16 M, log steps
DIST_OPTIONS = {
    "normal_with_outliers": (("outlier_fraction", 0.001, 1e-6, 0.2, "Share of values that are outliers."),
                             ("outlier_scale", 20.0, 1.0, 1000.0, "How many times larger the outliers are.")),
    "student_t": (("dof", 3.0, 1.0, 100.0, "Degrees of freedom: lower means heavier tails."),),
}
SOURCES = ("synthetic", "sample", "upload")
UPLOAD_TYPES = ["npy", "npz", "csv", "safetensors", "onnx"]


# ------------------------------------------------------------------ URL state
def _encode(v: Any) -> str:
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return ",".join(map(str, v))
    return str(v)


def parse_bool(raw: str) -> bool:
    if raw not in ("true", "false"):
        raise ValueError("expected true or false")
    return raw == "true"


def parse_choice(options: list[Any], cast: Callable[[str], Any] = str) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        v = cast(raw)
        if v not in options:
            raise ValueError(f"allowed: {options[:12]}{' …' if len(options) > 12 else ''}")
        return v

    return parse


def parse_choices(options: list[str]) -> Callable[[str], list[str]]:
    """A comma-separated list, each item one of ``options`` (an empty string is an empty list)."""
    one = parse_choice(options)

    def parse(raw: str) -> list[str]:
        return [one(v) for v in raw.split(",")] if raw else []

    return parse


def parse_number(cast: type, lo: float | None = None, hi: float | None = None) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        v = cast(raw)
        if cast is float and not np.isfinite(v):
            raise ValueError("must be finite")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise ValueError(f"allowed range [{lo}, {hi}]")
        return v

    return parse


def parse_setting(s: ql.Setting) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        if s.optional and raw == "none":
            return None
        value = parse_bool(raw) if s.type is bool else s.type(raw)
        return s.validate(value)

    return parse


_MARKDOWN = str.maketrans({c: "\\" + c for c in "\\`*_{}[]()<>#+-.!|~$"})


def plain(text: object) -> str:
    """``text`` with every Markdown character escaped, so file names, tensor names and other
    user-supplied strings show as typed (no links, no formatting, no HTML)."""
    return str(text).translate(_MARKDOWN)


def bind(key: str, default: Any, parse: Callable[[str], Any]) -> None:
    """Seed ``st.session_state[key]`` from the URL (validated) or ``default``, once per session,
    and mark ``key`` to be written back to the URL by :func:`publish_url`."""
    bound = st.session_state.setdefault("_url_keys", {})
    bound[key] = True
    st.session_state.setdefault("_bound", set()).add(key)
    if key in st.session_state:
        return
    raw = st.query_params.get(key)
    value = default
    if raw is not None:
        try:
            value = parse(raw)
        except (ValueError, TypeError, OverflowError) as exc:
            why = str(exc) if len(str(exc)) <= 200 else f"{str(exc)[:199]}…"
            st.session_state.setdefault("_url_errors", []).append(f"{key}={raw[:60]} ignored: {why}")
    st.session_state[key] = value


def start_page() -> None:
    """Call first on every page: make sure the run went through app.py, and forget the
    previous page's URL keys.

    Streamlit treats a folder named ``pages/`` next to the main script as an old-style
    multipage app until the first ``st.navigation`` call of the server's life; in that first
    session a link such as ``/explore`` runs this file directly, without app.py's page
    config and menu. app.py marks every run it routes; an unmarked run clears Streamlit's
    old-mode flag and reruns (the session's first run, which carries no click to lose), or
    runs app.py in its place (later runs: AppTest resets the flag before every run).
    """
    if not st.session_state.pop("_routed", False):
        try:
            from streamlit.runtime.pages_manager import PagesManager

            PagesManager.uses_pages_directory = False
        except ImportError:  # a Streamlit without the old mode
            pass
        if not st.session_state.get("_started"):
            st.session_state["_started"] = True
            st.rerun()
        runpy.run_path(str(APP_PATH), run_name="__main__")
        st.stop()
    st.session_state["_started"] = True
    drawn_last_run = st.session_state.get("_url_keys", {})
    st.session_state["_url_keys"] = {}
    # A widget drawn again after a run without it must be told its value (see publish_url);
    # widgets drawn in the last run are left alone, so a slider being dragged is never reset.
    for key in st.session_state.setdefault("_bound", set()):
        if key not in drawn_last_run and key in st.session_state:
            st.session_state[key] = st.session_state[key]


def publish_url() -> None:
    """Write every bound widget's value to the URL and report URL values that were refused.

    Also keeps alive the values of widgets bound earlier but not drawn in this run (another
    page's controls, or Explore's while the upload source waits for a file): Streamlit deletes
    a widget's value at the end of a run that does not draw it, and the widget drawn again
    later showed its minimum in the browser while the server computed with the bound value;
    :func:`start_page` re-assigns such values once more in the run that draws them again.
    Widgets drawn in consecutive runs are never re-assigned: that would push the server's
    value back into the browser on every run and undo a slider move made meanwhile.
    """
    for msg in st.session_state.pop("_url_errors", []):
        st.warning(f"Link parameter {plain(msg)}")
    keys = st.session_state.get("_url_keys", {})
    for key in st.session_state.get("_bound", ()):
        if key not in keys and key in st.session_state:
            st.session_state[key] = st.session_state[key]
    wanted = {k: _encode(st.session_state[k]) for k in keys if k in st.session_state}
    if dict(st.query_params) != wanted:
        st.query_params.from_dict(wanted)


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


def _summary(x: np.ndarray) -> str:
    return f"shape {' × '.join(map(str, x.shape))} · float32 · range [{x.min():.4g}, {x.max():.4g}]"


def _upload_panel() -> tuple | None:
    """File uploader + tensor picker; the file is read with the safe loaders, kept per session."""
    f = st.file_uploader("Tensor file", type=UPLOAD_TYPES, key="data.file",
                         help="A .npy, .npz, .csv, .safetensors or .onnx file (up to 200 MB). Never unpickled; "
                              "NaN/Inf, complex and object arrays are refused.")
    if f is None:
        st.info("Upload a tensor file to quantize it.")
        return None
    current = st.session_state.get("upload")
    if current is None or current["id"] != f.file_id:
        try:
            tensors = ql.load_tensors(f)
        except ValueError as exc:
            st.session_state.pop("upload", None)
            st.error(plain(exc))
            return None
        for a in tensors.values():
            a.setflags(write=False)
        st.session_state["upload"] = {"id": f.file_id, "file": f.name, "tensors": tensors}
    tensors = st.session_state["upload"]["tensors"]
    names = list(tensors)
    name = st.selectbox("Tensor", names, key="data.upload_tensor", help="Tensors found in the file.")
    st.caption(_summary(tensors[name]))
    return (("source", "upload"), ("id", f.file_id), ("name", name))


def data_source() -> tuple | None:
    """Sidebar panel shared by every page; returns a hashable description of the tensor
    (None while the upload source has no file yet)."""
    with st.sidebar:
        st.header("Data source")
        bind("data.source", "synthetic", parse_choice(list(SOURCES)))
        src = st.radio("Source", SOURCES, key="data.source", horizontal=True,
                       help="Synthetic distributions, tensors shipped in sample_data/, or your own file.")
        if src == "upload":
            return _upload_panel()
        if src == "sample":
            names = sorted(ql.sample_tensors())
            bind("data.sample", names[0], parse_choice(names))
            name = st.selectbox("Sample tensor", names, key="data.sample",
                                help="Real tensors shipped in sample_data/ (see its README for their source).")
            st.caption(_summary(ql.sample_tensors()[name]))
            return (("source", "sample"), ("name", name))
        dists = list(ql.DISTRIBUTIONS)
        bind("data.distribution", "normal", parse_choice(dists))
        dist = st.selectbox("Distribution", dists, key="data.distribution", help="Synthetic distribution to quantize.")
        options = []
        for name, default, lo, hi, helptext in DIST_OPTIONS.get(dist, ()):
            key = f"data.{name}"
            bind(key, default, parse_number(float, lo, hi))
            options.append((name, float(st.number_input(name.replace("_", " "), lo, hi, key=key, format="%.6g", help=helptext))))
        bind("data.size", 2**16, parse_choice(SIZES, int))
        size = st.select_slider("Size", SIZES, key="data.size", format_func=lambda n: f"{n:,}",
                                help="Number of values, 1 K … 16 M (a 4096×4096 layer).")
        bind("data.seed", 0, parse_number(int, 0, 2**31 - 1))
        seed = st.number_input("Seed", 0, 2**31 - 1, key="data.seed", help="Same settings and seed, same tensor.")
        bind("data.layout", "vector", parse_choice(["vector", "matrix"]))
        layout = st.radio("Layout", ["vector", "matrix"], key="data.layout", horizontal=True,
                          help="matrix: a square-ish 2-D weight (rows = channels), for per-channel / per-group.")
        shape = None
        if layout == "matrix":
            rows = 2 ** (int(np.log2(size)) // 2)
            shape = (rows, size // rows)
            st.caption(f"shape {shape[0]:,} × {shape[1]:,}")
        return (("source", "synthetic"), ("distribution", dist), ("size", int(size)), ("seed", int(seed)),
                ("shape", shape), ("options", tuple(options)))


def require_source() -> tuple:
    """The data source, or stop the page (with the panel's message) when there is none yet."""
    source = data_source()
    if source is None:
        publish_url()
        st.stop()
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
def _histograms(source: tuple, scheme: str, frozen: tuple, num_bins: int) -> ValueHistograms:
    return value_histograms(load_tensor(source), _run(source, scheme, frozen).dequantized, num_bins)


def histograms(source: tuple, scheme: str, settings: Mapping[str, Any], num_bins: int = 256) -> ValueHistograms:
    """Original and dequantized histograms on shared bins: drawn by the distribution plot and
    behind the KL metric, computed once for both."""
    return _histograms(source, scheme, _freeze(settings), num_bins)


@st.cache_data(max_entries=64, ttl=3600, show_spinner=False)
def _metrics(source: tuple, scheme: str, frozen: tuple, num_bins: int) -> dict[str, float]:
    return _run(source, scheme, frozen).metrics(load_tensor(source), num_bins=num_bins,
                                                histograms=_histograms(source, scheme, frozen, num_bins)).to_dict()


def scheme_metrics(source: tuple, scheme: str, settings: Mapping[str, Any], num_bins: int = 256) -> dict[str, float]:
    return _metrics(source, scheme, _freeze(settings), num_bins)


@st.cache_data(max_entries=32, ttl=3600, show_spinner=False)
def _bits_curve(source: tuple, scheme: str, frozen: tuple):
    return ql.sweep_bits(load_tensor(source), scheme, range(2, 17), max_samples=2**18, **dict(frozen))


def bits_curve(source: tuple, scheme: str, settings: Mapping[str, Any]):
    """Metrics at 2..16 bits (on a 262 144-value strided subsample for big tensors). The
    settings a bit sweep overrides are left out of the cache key, so moving the bits slider
    does not recompute the curve."""
    swept = set(ql.SCHEMES[scheme].at_bits(8, ql.SCHEMES[scheme].defaults()))
    s = {k: v for k, v in settings.items() if k not in ("scale", "zero_point") and k not in swept}
    return _bits_curve(source, scheme, _freeze(s))


@st.cache_data(max_entries=32, ttl=3600, show_spinner=False)
def threshold_curve(source: tuple, bits: int, symmetric: bool, convention: str, num_bins: int):
    """Metric against clipping threshold on a 65 536-value strided subsample, 48 points."""
    return ql.sweep_threshold(load_tensor(source), bits=bits, symmetric=symmetric, convention=convention,
                              num_bins=num_bins, num_points=48, max_samples=2**16)


# -------------------------------------------------------------------- widgets
def setting_widget(scheme: str, s: ql.Setting, prefix: str = "") -> Any:
    """One URL-bound widget for one registry setting, chosen from its type and bounds."""
    key = f"{prefix}{scheme}.{s.name}"
    bind(key, s.default, parse_setting(s))
    label = s.name.replace("_", " ")
    if s.type is bool:
        return st.checkbox(label, key=key, help=s.help)
    if s.choices is not None:
        return st.selectbox(label, s.choices, key=key, help=s.help)
    if s.type is int and s.max is not None and s.max - s.min <= 64:
        return st.slider(label, int(s.min), int(s.max), key=key, help=s.help)
    if s.type is int:
        return int(st.number_input(label, int(s.min), int(s.max), key=key, help=s.help, step=1))
    return float(st.number_input(label, float(s.min), float(s.max), key=key, help=s.help, format="%.6g"))


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


def result_files(stem: str, result: ql.QuantResult, metrics: Mapping[str, Any], source: tuple) -> list:
    """Download entries for one result: codes (.npy/.csv), params (.json), metrics (.csv), snippet (.py)."""
    files = [("codes .npy", f"{stem}_codes.npy", lambda: export.npy_bytes(result.codes), "application/octet-stream")]
    if result.codes.size <= export.CSV_MAX_VALUES:
        files.append(("codes .csv", f"{stem}_codes.csv", lambda: export.csv_bytes(result.codes), "text/csv"))
    files += [
        ("params .json", f"{stem}_params.json",
         lambda: export.params_json(result.params, {"scheme": result.scheme, "settings": dict(result.settings)}),
         "application/json"),
        ("metrics .csv", f"{stem}_metrics.csv", lambda: export.metrics_csv(metrics), "text/csv"),
        ("Python snippet", f"{stem}.py",
         lambda: export.python_snippet(source_dict(source), [(result.scheme, dict(result.settings))]), "text/x-python"),
    ]
    return files


def settings_json(settings: Mapping[str, Any]) -> str:
    return json.dumps(dict(settings), sort_keys=True)
