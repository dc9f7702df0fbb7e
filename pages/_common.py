"""Shared UI pieces: the data-source panel, generic setting widgets, cached engine calls."""

from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st

import quantlib as ql

SIZES = [2**k for k in range(10, 25, 2)]  # 1 K ... 16 M, log steps


@st.cache_data(max_entries=8, show_spinner=False)
def load_synthetic(kind: str, size: int, seed: int) -> np.ndarray:
    return ql.synthetic(kind, size, seed)


@st.cache_data(max_entries=32, show_spinner=False)
def run_scheme(kind: str, size: int, seed: int, scheme: str, settings: tuple[tuple[str, Any], ...]) -> ql.QuantResult:
    return ql.Quantizer(scheme, **dict(settings))(load_synthetic(kind, size, seed))


@st.cache_data(max_entries=32, show_spinner=False)
def result_metrics(kind: str, size: int, seed: int, scheme: str, settings: tuple[tuple[str, Any], ...]) -> dict[str, float]:
    x = load_synthetic(kind, size, seed)
    return run_scheme(kind, size, seed, scheme, settings).metrics(x).to_dict()


def data_source() -> tuple[str, int, int]:
    """Sidebar panel: which tensor every page works on."""
    with st.sidebar:
        st.header("Data source")
        kind = st.selectbox("Distribution", list(ql.DISTRIBUTIONS), help="Synthetic distribution to quantize.")
        size = st.select_slider("Size", SIZES, value=2**16, format_func=lambda n: f"{n:,}",
                                help="Number of values (1 K … 16 M).")
        seed = st.number_input("Seed", 0, 2**31 - 1, 0, help="Same seed, same tensor.")
    return kind, int(size), int(seed)


def setting_widget(scheme: str, s: ql.Setting, key_prefix: str = "") -> Any:
    """One widget for one registry setting, chosen from its type and bounds."""
    key = f"{key_prefix}{scheme}.{s.name}"
    label = s.name.replace("_", " ")
    if s.type is bool:
        return st.checkbox(label, s.default, help=s.help, key=key)
    if s.choices is not None:
        return st.selectbox(label, s.choices, index=s.choices.index(s.default), help=s.help, key=key)
    if s.optional:
        manual = st.checkbox(f"manual {label}", False, help=s.help, key=key + ".manual")
        if not manual:
            return None
        if s.type is float:
            return st.number_input(label, min_value=float(s.min or 0) or None, value=0.01, format="%.6g", key=key)
        return st.number_input(label, value=0, step=1, key=key)
    if s.type is int and s.max is not None and s.max - s.min <= 64:
        return st.slider(label, int(s.min), int(s.max), int(s.default), help=s.help, key=key)
    if s.type is int:
        return int(st.number_input(label, int(s.min), int(s.max), int(s.default), help=s.help, key=key))
    return float(st.number_input(label, float(s.min), float(s.max), float(s.default), help=s.help, key=key))
