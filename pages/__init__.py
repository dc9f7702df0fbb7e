"""The app's pages, one module each; app.py routes between them."""

import streamlit as st

#: The pages in menu order: (script, title, Material icon, URL path). The first is the default page,
#: which Streamlit serves at the root.
PAGES: tuple[tuple[str, str, str, str], ...] = (
    ("pages/explore.py", "Explore", ":material/query_stats:", "explore"),
    ("pages/compare.py", "Compare", ":material/balance:", "compare"),
    ("pages/formats.py", "Formats", ":material/grid_on:", "formats"),
    ("pages/model.py", "Model impact", ":material/neurology:", "model"),
    ("pages/methods.py", "Methods", ":material/tune:", "methods"),
    ("pages/learn.py", "Learn", ":material/school:", "learn"),
    ("pages/toolkits.py", "Toolkits", ":material/handyman:", "toolkits"),
    ("pages/rate_distortion.py", "Rate–distortion", ":material/show_chart:", "rate_distortion"),
    ("pages/checkpoint.py", "Checkpoint", ":material/inventory_2:", "checkpoint"),
)

#: Streamlit serves the default page at the root and matches a link's path only against the other
#: pages' paths, so the default page's own path (``/explore``, as a person types or bookmarks it)
#: would open "Page not found". A hidden page holds that path and hands over to the default page
#: (:func:`_to_default`). A page's identity is a hash of its ``url_path``, so the default page's own
#: (never shown: it is served at ``/``) must differ from the one the hidden page holds.
_DEFAULT_ID = "-default"


def _page(script: str, title: str, icon: str, path: str, default: bool = False) -> st.Page:
    return st.Page(script, title=title, icon=icon, default=default, url_path=path + _DEFAULT_ID if default else path)


def _to_default() -> None:
    """The default page's own path: hand over to the default page (at the root) with the link's
    query string whole (every value of a repeated key), before anything is drawn."""
    params = st.query_params
    st.switch_page(_page(*PAGES[0], default=True), query_params={k: params.get_all(k) for k in params})


def menu() -> list[st.Page]:
    """The pages in menu order, made afresh for each run (a Page object tracks its own run), then
    the hidden one that holds the default page's own path."""
    first, *rest = PAGES
    return [_page(*first, default=True), *(_page(*p) for p in rest),
            st.Page(_to_default, title=first[1], url_path=first[3], visibility="hidden")]
