"""Quantization Explorer — the router. Pages live in pages/ (listed in pages/__init__.py)."""

import streamlit as st

from pages import menu

st.set_page_config(page_title="Quantization Explorer", page_icon=":material/equalizer:", layout="wide")
st.session_state["_routed"] = True  # see pages/_common.start_page
st.navigation(menu(), position="top").run()
