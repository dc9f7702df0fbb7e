"""The app's pages, one module each; app.py routes between them."""

import streamlit as st


def menu() -> list[st.Page]:
    """The pages in menu order, made afresh for each run (a Page object tracks its own run)."""
    return [
        st.Page("pages/explore.py", title="Explore", icon=":material/query_stats:", default=True, url_path="explore"),
        st.Page("pages/compare.py", title="Compare", icon=":material/balance:", url_path="compare"),
        st.Page("pages/formats.py", title="Formats", icon=":material/grid_on:", url_path="formats"),
        st.Page("pages/model.py", title="Model impact", icon=":material/neurology:", url_path="model"),
        st.Page("pages/methods.py", title="Methods", icon=":material/tune:", url_path="methods"),
        st.Page("pages/learn.py", title="Learn", icon=":material/school:", url_path="learn"),
        st.Page("pages/toolkits.py", title="Toolkits", icon=":material/handyman:", url_path="toolkits"),
        st.Page("pages/rate_distortion.py", title="Rate–distortion", icon=":material/show_chart:",
                url_path="rate_distortion"),
        st.Page("pages/checkpoint.py", title="Checkpoint", icon=":material/inventory_2:", url_path="checkpoint"),
    ]
