"""The real app in a real browser: Debian's chromium driven by Playwright (pip package only).

The fixture installs Debian's chromium when it is missing (CI runs as root), serves
`streamlit run app.py` on a free loopback port, and saves screenshots to
tests/screenshots/ (the README shows them).
"""

import re

import pytest
from _browser import SHOTS, browser, server  # noqa: F401  (module fixtures: one app and one browser per file)
from _browser import metric_text as _metric_text
from _browser import open_page as _page
from _browser import wait_idle as _wait_idle

pytestmark = pytest.mark.slow  # a real server and browser: seconds per test

import quantlib as ql  # noqa: E402


def test_explore_in_a_browser(server, browser):
    page = _page(browser, f"{server}/")  # Explore is the default page: its URL is /
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 2", timeout=90_000)
    _wait_idle(page)
    assert page.locator(".js-plotly-plot").count() == 2  # the four views as one figure, the two error curves as one
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
    page.wait_for_function("() => window.location.search.includes('symmetric.bits=4')", timeout=90_000)
    assert page.locator(".js-plotly-plot").count() == 2  # the error curves came in the same run
    page.screenshot(path=str(SHOTS / "explore_4bit.png"), full_page=False)
    page.close()


#: Each animation frame (what is painted): the page's height, the charts in it, whether the error
#: curves' heading is there, and the first card's number.
_FRAMES = """window.__frames = [];
const sample = () => {
    const main = document.querySelector('[data-testid="stMainBlockContainer"]');
    const card = document.querySelector('[data-testid="stMetricValue"]');
    if (main && window.__recording) window.__frames.push([Math.round(main.getBoundingClientRect().height),
        document.querySelectorAll('.js-plotly-plot').length, main.innerText.includes('Error curves'),
        card ? card.innerText : null]);
    requestAnimationFrame(sample);
};
requestAnimationFrame(sample);"""


def test_a_slider_move_keeps_the_page_in_place(server, browser):
    """After a move of the bits slider, what was on screen stays until the new result replaces
    it: in every frame the page keeps its height and its error curves (they used to give way to
    a "…follow…" line for a moment, the page 2170 -> 1685 -> 2224 px high), and the cards show a
    number, the old one until the new one comes."""
    page = browser.new_page(viewport={"width": 1600, "height": 1300})
    page.set_default_timeout(60_000)
    page.add_init_script(_FRAMES)
    page.goto(f"{server}/?data.seed=3")
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 2", timeout=90_000)
    _wait_idle(page)
    slider = page.locator('[data-testid="stSlider"]', has_text="bits").get_by_role("slider")
    slider.focus()
    slider.press("ArrowLeft")  # the first move brings the cards' deltas: a line more, once
    page.wait_for_function("() => window.location.search.includes('symmetric.bits=7')", timeout=90_000)
    _wait_idle(page)
    page.wait_for_timeout(500)
    for key, bits in (("ArrowLeft", 6), ("ArrowRight", 7), ("ArrowLeft", 6), ("ArrowLeft", 5)):
        page.evaluate("() => { window.__frames = []; window.__recording = true; }")
        before = _metric_text(page, "SQNR")
        slider.focus()
        slider.press(key)
        page.wait_for_function("(b) => window.location.search.includes('symmetric.bits=' + b)", arg=bits,
                               timeout=90_000)
        page.wait_for_function("(b) => [...document.querySelectorAll('[data-testid=\"stMetricValue\"]')]"
                               ".some(e => e.innerText !== b)", arg=before, timeout=60_000)
        _wait_idle(page)
        page.wait_for_timeout(500)
        frames = page.evaluate("() => { window.__recording = false; return window.__frames; }")
        assert frames, bits
        heights = sorted({f[0] for f in frames})
        assert len(heights) == 1, (bits, heights)  # the page height stays put
        assert all(f[2] for f in frames), bits  # the error curves never give way to a placeholder
        assert all(f[3] for f in frames), (bits, frames)  # never an empty card
        assert frames[-1][1] >= 2 and frames[-1][3] != before
        # Not asserted: a chart whose figure changed is a new element to Streamlit (its id hashes the
        # figure), mounted empty and drawn by plotly.js after the browser may have painted once, so
        # on busy cores a frame can show a chart's box empty (the README's limits)
    page.close()


def test_compare_in_a_browser(server, browser):
    page = _page(browser, f"{server}/compare")
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 2", timeout=90_000)
    _wait_idle(page)
    assert page.locator('[data-testid="stDataFrame"]').count() == 1
    page.screenshot(path=str(SHOTS / "compare.png"), full_page=True)
    page.close()


def test_model_impact_in_a_browser_on_minilm(server, browser):
    # MiniLM with float weights and activations: its metrics, one curve, the activation ranges (no scan: short)
    page = _page(browser, f"{server}/model?model.name=minilm_l6&model.weights.scheme=none"
                          "&model.activations.scheme=none&model.curve_schemes=symmetric")
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 2", timeout=120_000)
    _wait_idle(page)
    s = ql.load_model("minilm_l6").evaluate()
    assert _metric_text(page, "paraphrase top-1") == f"{s['retrieval_top1']:.4f}"
    assert page.get_by_text("Largest: channel 99").count() == 1  # the outlier channel of layer 1's FFN input
    assert page.locator(".js-plotly-plot").count() == 2  # metric vs bits, per-channel ranges
    page.screenshot(path=str(SHOTS / "model_minilm.png"), full_page=True)
    page.close()


def test_methods_in_a_browser(server, browser):
    # the digits MLP's fc2 with rtn only: the table, the curves and the per-column errors (short)
    page = _page(browser, f"{server}/methods?methods.model=digits_mlp&methods.methods=rtn")
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 2", timeout=120_000)
    _wait_idle(page)
    assert page.locator('[data-testid="stDataFrame"]').count() >= 1
    assert page.get_by_text("Every layer of the model").count() == 1
    page.screenshot(path=str(SHOTS / "methods.png"), full_page=False)
    page.close()


def test_copied_url_reproduces_the_view(server, browser):
    page = _page(browser, f"{server}/?scheme=asymmetric&asymmetric.bits=3&data.distribution=laplace")
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 2", timeout=90_000)
    _wait_idle(page)
    x = ql.synthetic("laplace", 2**16, 0)
    expected = ql.Quantizer("asymmetric", bits=3, num_bins=2048)(x).metrics(x).sqnr_db
    assert _metric_text(page, "SQNR") == f"{expected:.2f} dB"
    # the browser writes a control's new value into the link; that link opens the same view
    slider = page.locator('[data-testid="stSlider"]', has_text="bits").get_by_role("slider")
    slider.focus()
    slider.press("ArrowRight")  # 3 -> 4 bits
    page.wait_for_function("() => window.location.search.includes('asymmetric.bits=4')", timeout=90_000)
    want = f"{ql.Quantizer('asymmetric', bits=4, num_bins=2048)(x).metrics(x).sqnr_db:.2f} dB"
    page.wait_for_function("(w) => document.body.innerText.includes(w)", arg=want, timeout=60_000)
    copied = page.url
    page.close()
    again = _page(browser, copied)
    again.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 2", timeout=90_000)
    _wait_idle(again)
    assert _metric_text(again, "SQNR") == want
    again.close()


def test_menu_shows_material_icons(server, browser):
    """Each menu entry is drawn with an icon from the Material Symbols font that Streamlit ships
    (emoji need a colour-emoji font, which many machines lack: they showed as empty boxes)."""
    page = _page(browser, f"{server}/formats")
    page.locator('[data-testid="stTopNavLink"]').first.wait_for()
    page.wait_for_function("() => document.fonts.status === 'loaded'", timeout=90_000)
    items = page.evaluate("""() => [...document.querySelectorAll('[data-testid="stTopNavLink"]')].map(a => {
        const icon = a.querySelector('[data-testid="stIconMaterial"]');
        return {text: a.innerText.replace(/\\s+/g, ' ').trim(), icon: icon ? icon.textContent : null,
                width: icon ? icon.getBoundingClientRect().width : null,
                font: icon ? getComputedStyle(icon).fontFamily : null}; })""")
    assert [i["icon"] for i in items] == ["query_stats", "balance", "grid_on", "neurology", "tune", "school",
                                          "handyman", "show_chart", "inventory_2"]
    assert [i["text"].split(" ", 1)[1] for i in items] == ["Explore", "Compare", "Formats", "Model impact", "Methods",
                                                           "Learn", "Toolkits", "Rate–distortion", "Checkpoint"]
    assert all("Material Symbols" in i["font"] for i in items), items
    # the font turns each name into one glyph; without it the name would be spelled out, ~80 px wide
    assert all(i["width"] <= 32 for i in items), items
    assert page.evaluate("() => document.fonts.check('20px \"Material Symbols Rounded\"')")
    emoji = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\uFE0F]")
    assert not emoji.search(page.locator('[data-testid="stTopNavLink"]').first.locator("..").inner_text())
    page.close()


def _slider_values(page) -> dict[str, str]:
    """Each slider's label and the value the browser shows on it."""
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('[data-testid="stSlider"]')]
        .map(e => { const t = e.innerText.split('\\n').map(s => s.trim()).filter(Boolean); return [t[0], t[1]]; }))""")


def test_controls_keep_their_values_when_they_come_back(server, browser):
    """Explore's controls vanish while the upload source waits for a file, and when another
    page is open; drawn again, the browser must show the values the server computes with
    (a Streamlit clean-up once made every slider show its minimum here: bits 2 while the
    numbers were for 8 bits), and the link must carry them again."""
    page = _page(browser, f"{server}/?symmetric.bits=6&plot_bins=256")
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 2", timeout=90_000)
    _wait_idle(page)
    before = _slider_values(page)
    assert before["bits"] == "6" and before["Plot bins"] == "256"
    sqnr = _metric_text(page, "SQNR")
    for away in ("upload", "compare"):
        if away == "upload":
            page.locator('[data-testid="stSidebar"] label', has_text="upload").first.click()
            page.get_by_text("No file yet.").wait_for()
            page.locator('[data-testid="stSidebar"] label', has_text="synthetic").first.click()
        else:
            page.get_by_role("link", name="Compare").click()
            page.wait_for_function("() => document.querySelectorAll('[data-testid=\"stDataFrame\"]').length >= 1", timeout=90_000)
            page.get_by_role("link", name="Explore").click()
        page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 2", timeout=90_000)
        _wait_idle(page)
        assert _slider_values(page) == before, away
        assert _metric_text(page, "SQNR") == sqnr, away
        page.wait_for_function("() => ['symmetric.bits=6', 'plot_bins=256'].every(p => window.location.search.includes(p))",
                               timeout=90_000)
    page.close()
