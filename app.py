"""Quantization Explorer — the router. Pages live in pages/."""

import streamlit as st

st.set_page_config(page_title="Quantization Explorer", page_icon="🔢", layout="wide")

PAGES = [
    st.Page("pages/explore.py", title="Explore", icon="🔬", default=True, url_path="explore"),
    st.Page("pages/compare.py", title="Compare", icon="⚖️", url_path="compare"),
    st.Page("pages/formats.py", title="Formats", icon="🧮", url_path="formats"),
    st.Page("pages/model.py", title="Model impact", icon="🎯", url_path="model"),
    st.Page("pages/learn.py", title="Learn", icon="🎓", url_path="learn"),
    st.Page("pages/toolkits.py", title="Toolkits", icon="🧰", url_path="toolkits"),
]
# The menu is drawn here, not by Streamlit: with a pages/ folder next to app.py, Streamlit's
# automatic menu would list every file in it when a page URL is opened directly.
pg = st.navigation(PAGES, position="hidden")
with st.sidebar:
    st.markdown("### Quantization Explorer")
    for page in PAGES:
        st.page_link(page)
st.session_state["_routed"] = True  # see pages/_common.start_page
pg.run()
