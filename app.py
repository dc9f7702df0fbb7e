"""Quantization Explorer — the router. Pages live in pages/."""

import streamlit as st

st.set_page_config(page_title="Quantization Explorer", page_icon="🔢", layout="wide")

pg = st.navigation([
    st.Page("pages/explore.py", title="Explore", icon="🔬", default=True, url_path="explore"),
    st.Page("pages/compare.py", title="Compare", icon="⚖️", url_path="compare"),
])
pg.run()
