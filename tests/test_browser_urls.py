"""Every page opens from its own URL: the root, each page's path (the default page's too, which
Streamlit serves at the root), with a query string, and the URL a person copies from the address
bar, on a freshly started server (its first request) and on a warm one, with no "Page not found"
dialog and the page's own entry marked in the menu."""

import contextlib
from pathlib import Path

import pytest
from _browser import browser, server  # noqa: F401  (module fixtures: one app and one browser per file)
from _browser import open_page, wait_idle
from _serve import serve

import pages

pytestmark = pytest.mark.slow  # real servers and a browser

# (path a person opens, the page's title, where the browser ends up): the default page is served at the root
PATHS = [("/", pages.PAGES[0][1], "/")] + [(f"/{path}", title, "/" if i == 0 else f"/{path}")
                                          for i, (_, title, _, path) in enumerate(pages.PAGES)]
IDS = [path for path, *_ in PATHS]
#: The pages that draw the data-source panel (their script asks for it)
PANEL = {f"/{path}" for script, _, _, path in pages.PAGES
         if "require_source(" in (Path(pages.__file__).parents[1] / script).read_text()}
CHARTS = "() => document.querySelectorAll('.js-plotly-plot, [data-testid=\"stAlert\"]').length >= 1"


def landed(page, title: str, where: str, drawn: bool = True) -> None:
    """The page titled ``title`` is drawn at ``where`` (its first chart or message too, with ``drawn``),
    marked in the menu, and no dialog is open (Streamlit's "Page not found" comes before the page)."""
    page.wait_for_function("(t) => [...document.querySelectorAll('h1')].some(h => h.innerText.trim() === t)",
                           arg=title, timeout=90_000)
    if drawn:
        page.wait_for_function(CHARTS, timeout=90_000)
        wait_idle(page)
    assert page.evaluate("() => window.location.pathname") == where
    assert page.locator('[role="dialog"]').count() == 0, page.locator('[role="dialog"]').all_inner_texts()
    current = page.locator('[data-testid="stTopNavLink"][aria-current="page"]')
    assert current.count() == 1 and current.inner_text().endswith(title), current.all_inner_texts()


SEED = ("() => { const box = [...document.querySelectorAll('[data-testid=\"stSidebar\"] [data-testid=\"stNumberInput\"]')]"
        ".find(e => e.innerText.includes('Seed')); return box ? box.querySelector('input').value : null; }")


def panel(page, seed: str) -> tuple[str, str]:
    """The data-source panel's distribution box text and seed, once the seed reads ``seed`` or after 30 s.
    A new session's number input is drawn at its default for a moment before the value it was sent
    (Streamlit's front end, ~0.1 s): the value it settles on is the one asserted."""
    with contextlib.suppress(Exception):
        page.wait_for_function(f"(v) => ({SEED})() === v", arg=seed, timeout=30_000)
    side = page.locator('[data-testid="stSidebar"]')
    box = side.locator('[data-testid="stSelectbox"]', has_text="Distribution")
    seed = side.locator('[data-testid="stNumberInput"]', has_text="Seed").locator("input")
    shown = box.inner_text() + " " + box.locator("input").input_value()  # the chosen value is in one of them
    return shown, seed.input_value()


@pytest.mark.parametrize(("path", "title", "where"), PATHS, ids=IDS)
def test_each_path_is_a_fresh_servers_first_request(browser, path, title, where):
    """The first request a newly started server gets (Streamlit's old pages/ mode until the app's
    router has run once: pages/_common.start_page) lands on the page, with its link values."""
    with serve() as (url, _):
        page = open_page(browser, f"{url}{path}?data.seed=4")
        landed(page, title, where, drawn=False)
        assert "data.seed=4" in page.evaluate("() => window.location.search")
        page.close()


def test_each_path_with_a_query_string_on_a_warm_server(server, browser):
    page = open_page(browser, f"{server}/")  # warm: the router has run, the engine is imported
    landed(page, "Explore", "/")
    page.close()
    for path, title, where in PATHS:
        page = open_page(browser, f"{server}{path}?data.distribution=laplace&data.seed=6")
        landed(page, title, where, drawn=False)
        if where in PANEL:
            shown = panel(page, "6")
            assert "laplace" in shown[0] and shown[1] == "6", (path, shown)
        search = page.evaluate("() => window.location.search")
        assert "data.distribution=laplace" in search and "data.seed=6" in search, (path, search)
        page.close()


def test_a_copied_address_opens_the_same_page_and_values(server, browser):
    """A control changed (the data source's seed), then the address bar's URL opened in a new session: on
    the default page (served at the root), on Compare (whose own configurations ride in the URL too) and
    on Formats. The other pages' links go through the same binding; each page's path with a query
    string is the test above."""
    for path, title, where in [p for p in PATHS if p[0] in ("/explore", "/compare", "/formats")]:
        assert path in PANEL
        page = open_page(browser, f"{server}{path}")
        landed(page, title, where)
        seed = page.locator('[data-testid="stSidebar"] [data-testid="stNumberInput"]', has_text="Seed")
        seed.locator("input").fill("11")
        seed.locator("input").press("Enter")
        page.wait_for_function("() => window.location.search.includes('data.seed=11')", timeout=90_000)
        wait_idle(page)
        copied = page.url
        page.close()
        with contextlib.closing(browser.new_context(viewport={"width": 1600, "height": 1300})) as fresh:
            again = fresh.new_page()
            again.set_default_timeout(60_000)
            again.goto(copied)
            landed(again, title, where, drawn=False)
            wait_idle(again)
            shown = panel(again, "11")
            assert shown[1] == "11" and again.url == copied, (copied, again.url, shown)
