"""The real app in a real browser: Debian's chromium driven by Playwright (pip package only).

The fixture installs Debian's chromium when it is missing (CI runs as root), serves
`streamlit run app.py` on a free loopback port, and saves screenshots to
tests/screenshots/ (the README shows them).
"""

from pathlib import Path

import pytest
from _serve import ARGS, CHROMIUM, serve

import quantlib as ql

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "tests" / "screenshots"


@pytest.fixture(scope="module")
def server():
    with serve() as (url, _):
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _page(browser, url):
    page = browser.new_page(viewport={"width": 1600, "height": 1300})
    page.set_default_timeout(60_000)
    page.goto(url)
    return page


def _metric_text(page, label: str) -> str:
    card = page.locator('[data-testid="stMetric"]', has_text=label).first
    return card.locator('[data-testid="stMetricValue"]').inner_text()


def _wait_idle(page) -> None:
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)


def test_explore_in_a_browser(server, browser):
    page = _page(browser, f"{server}/")  # Explore is the default page: its URL is /
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 6", timeout=90_000)
    _wait_idle(page)
    assert page.locator(".js-plotly-plot").count() == 6
    before = _metric_text(page, "SQNR")
    page.screenshot(path=str(SHOTS / "explore.png"), full_page=False)

    slider = page.locator('[data-testid="stSlider"]', has_text="bits").get_by_role("slider")
    slider.focus()
    for _ in range(4):
        slider.press("ArrowLeft")  # 8 -> 4 bits
    x = ql.synthetic("normal", 2**16, 0)
    want = f"{ql.Quantizer('symmetric', bits=4, num_bins=2048)(x).metrics(x).sqnr_db:.2f} dB"
    # each key press is a rerun (7, 6, 5, 4 bits): wait for the last one's numbers
    page.wait_for_function(
        "(want) => [...document.querySelectorAll('[data-testid=\"stMetric\"]')]"
        ".some(e => e.innerText.includes('SQNR') && e.innerText.includes(want))",
        arg=want, timeout=60_000)
    _wait_idle(page)
    after = _metric_text(page, "SQNR")
    assert after == want and float(after.split()[0]) < float(before.split()[0]) - 20
    page.wait_for_function("() => window.location.search.includes('symmetric.bits=4')", timeout=30_000)
    assert page.locator(".js-plotly-plot").count() == 6
    page.screenshot(path=str(SHOTS / "explore_4bit.png"), full_page=False)
    page.close()


def test_compare_in_a_browser(server, browser):
    page = _page(browser, f"{server}/compare")
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 2", timeout=90_000)
    _wait_idle(page)
    assert page.locator('[data-testid="stDataFrame"]').count() == 1
    page.screenshot(path=str(SHOTS / "compare.png"), full_page=True)
    page.close()


def test_copied_url_reproduces_the_view(server, browser):
    page = _page(browser, f"{server}/?scheme=asymmetric&asymmetric.bits=3&data.distribution=laplace")
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 6", timeout=90_000)
    _wait_idle(page)
    x = ql.synthetic("laplace", 2**16, 0)
    expected = ql.Quantizer("asymmetric", bits=3, num_bins=2048)(x).metrics(x).sqnr_db
    assert _metric_text(page, "SQNR") == f"{expected:.2f} dB"
    page.close()


def _slider_values(page) -> dict[str, str]:
    """Each slider's label and the value the browser shows on it."""
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('[data-testid="stSlider"]')]
        .map(e => { const t = e.innerText.split('\\n').map(s => s.trim()).filter(Boolean); return [t[0], t[1]]; }))""")


def test_controls_keep_their_values_when_they_come_back(server, browser):
    """Explore's controls vanish while the upload source waits for a file, and when another
    page is open; drawn again, the browser must show the values the server computes with
    (a Streamlit clean-up once made every slider show its minimum here: bits 2 while the
    numbers were for 8 bits)."""
    page = _page(browser, f"{server}/?symmetric.bits=6&bins=1024")
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 6", timeout=90_000)
    _wait_idle(page)
    before = _slider_values(page)
    assert before["bits"] == "6" and before["Histogram bins"] == "1024"
    sqnr = _metric_text(page, "SQNR")
    for away in ("upload", "compare"):
        if away == "upload":
            page.locator('[data-testid="stSidebar"] label', has_text="upload").first.click()
            page.get_by_text("Upload a tensor file to quantize it.").wait_for()
            page.locator('[data-testid="stSidebar"] label', has_text="synthetic").first.click()
        else:
            page.get_by_role("link", name="Compare").click()
            page.wait_for_function("() => document.querySelectorAll('[data-testid=\"stDataFrame\"]').length >= 1", timeout=90_000)
            page.get_by_role("link", name="Explore").click()
        page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 6", timeout=90_000)
        _wait_idle(page)
        assert _slider_values(page) == before, away
        assert _metric_text(page, "SQNR") == sqnr, away
    page.close()
