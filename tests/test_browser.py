"""The real app in a real browser: Debian's chromium driven by Playwright (pip package only).

The fixture installs Debian's chromium when it is missing (CI runs as root), serves
`streamlit run app.py` on a free loopback port, and saves screenshots to
tests/screenshots/ (the README shows them).
"""

import re
from pathlib import Path

import numpy as np
import pytest
from _serve import ARGS, CHROMIUM, serve

pytestmark = pytest.mark.slow  # a real server and browser: seconds per test

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
    page.wait_for_function("() => window.location.search.includes('symmetric.bits=4')", timeout=90_000)
    # the error curves for the new setting follow in the run the browser asks for next
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length == 6", timeout=60_000)
    _wait_idle(page)
    page.screenshot(path=str(SHOTS / "explore_4bit.png"), full_page=False)
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
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 6", timeout=90_000)
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
    again.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 6", timeout=90_000)
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
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 6", timeout=90_000)
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
        page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 6", timeout=90_000)
        _wait_idle(page)
        assert _slider_values(page) == before, away
        assert _metric_text(page, "SQNR") == sqnr, away
        page.wait_for_function("() => ['symmetric.bits=6', 'plot_bins=256'].every(p => window.location.search.includes(p))",
                               timeout=90_000)
    page.close()


def test_the_data_source_is_one_value_across_pages_and_in_each_link(server, browser):
    """Opened from a link, then another page: the case Streamlit 1.67 gets wrong by itself
    (see pages/_common._carry_link_values); a value chosen in the panel carries natively."""
    page = _page(browser, f"{server}/?data.distribution=laplace&symmetric.bits=5")
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 6", timeout=90_000)
    _wait_idle(page)
    # the first other page is where Streamlit drops the link's value; every page is visited by the next test
    for name, path in [("Compare", "/compare"), ("Explore", "/")]:
        page.get_by_role("link", name=name).click()
        # a page switch waits for the current run to end: on 2 busy cores (the suite runs 2 processes) that
        # took over 30 s once
        page.wait_for_function("(p) => window.location.pathname === p", arg=path, timeout=90_000)
        page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 1", timeout=90_000)
        _wait_idle(page)
        box = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]', has_text="Distribution")
        assert "laplace" in box.inner_text() + box.locator("input").input_value(), name
        search = page.evaluate("() => window.location.search")
        assert "data.distribution=laplace" in search, (name, search)
    assert "symmetric.bits=5" in search  # Explore's own control came back with its value
    x = ql.synthetic("laplace", 2**16, 0)
    assert _metric_text(page, "SQNR") == f"{ql.Quantizer('symmetric', bits=5, num_bins=2048)(x).metrics(x).sqnr_db:.2f} dB"
    page.close()


_BOX = "e => { if (!e) return null; const b = e.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; }"


def _overlap(a, b) -> bool:
    return a is not None and b is not None and a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_toolkits_table_and_formats_legends_fit_at_1500_px(server, browser):
    """At the width a person's window has (1500 px): the Toolkits table shows every column
    without a horizontal scroll (its SQNR column was cut), and on Formats no legend covers an
    x-axis title and every overlay chip lies inside its box (the third was cut off)."""
    page = browser.new_page(viewport={"width": 1500, "height": 1300})
    page.set_default_timeout(60_000)
    page.goto(f"{server}/toolkits")
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 1", timeout=90_000)
    _wait_idle(page)
    grid = page.locator('[data-testid="stDataFrame"] .dvn-scroller').first
    width, visible = grid.evaluate("e => [e.scrollWidth, e.clientWidth]")
    assert width <= visible + 1, (width, visible)
    boxes = page.evaluate(f"() => [...document.querySelectorAll('.js-plotly-plot')].map(p => "
                          f"[({_BOX})(p.querySelector('.legend')), ({_BOX})(p.querySelector('.g-xtitle'))])")
    assert boxes and not any(_overlap(*b) for b in boxes), boxes
    page.screenshot(path=str(SHOTS / "toolkits.png"), full_page=False)

    page.goto(f"{server}/formats")
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 3", timeout=90_000)
    _wait_idle(page)
    boxes = page.evaluate(f"() => [...document.querySelectorAll('.js-plotly-plot')].map(p => "
                          f"[({_BOX})(p.querySelector('.legend')), ({_BOX})(p.querySelector('.g-xtitle'))])")
    assert len(boxes) >= 3 and all(b[0] and b[1] for b in boxes[:3]) and not any(_overlap(*b) for b in boxes), boxes
    chips = page.evaluate(f"""() => {{ const box = document.querySelector('[data-testid="stMultiSelectTagsContainer"]');
        return [({_BOX})(box), [...box.querySelectorAll('[data-tag]')].map({_BOX})]; }}""")
    outer, tags = chips
    assert len(tags) == 3 and all(outer[0] <= t[0] and t[2] <= outer[2] for t in tags), chips
    page.screenshot(path=str(SHOTS / "formats.png"), full_page=False)
    page.close()


def test_a_data_source_chosen_in_the_panel_follows_every_page_link(server, browser):
    """Chosen with the panel's own controls (not from a link), then every page opened from the
    menu: each shows it, and each page's link carries it."""
    page = _page(browser, f"{server}/")
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 6", timeout=90_000)
    _wait_idle(page)
    box = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]', has_text="Distribution")
    box.click()
    page.get_by_role("option", name="laplace", exact=True).click()
    page.wait_for_function("() => window.location.search.includes('data.distribution=laplace')", timeout=90_000)
    seed = page.locator('[data-testid="stSidebar"] [data-testid="stNumberInput"]', has_text="Seed").locator("input")
    seed.fill("7")
    seed.press("Enter")
    page.wait_for_function("() => window.location.search.includes('data.seed=7')", timeout=90_000)
    _wait_idle(page)
    for name, path in [("Compare", "/compare"), ("Formats", "/formats"), ("Learn", "/learn"), ("Toolkits", "/toolkits"),
                       ("Explore", "/")]:
        page.get_by_role("link", name=name).click()
        # a page switch waits for the current run to end: on 2 busy cores (the suite runs 2 processes) that
        # took over 30 s once
        page.wait_for_function("(p) => window.location.pathname === p", arg=path, timeout=90_000)
        page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 1", timeout=90_000)
        _wait_idle(page)
        box = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]', has_text="Distribution")
        assert "laplace" in box.inner_text() + box.locator("input").input_value(), name
        seed = page.locator('[data-testid="stSidebar"] [data-testid="stNumberInput"]', has_text="Seed")
        assert seed.locator("input").input_value() == "7", name
        page.wait_for_function("() => ['data.distribution=laplace', 'data.seed=7']"
                               ".every(p => window.location.search.includes(p))", timeout=90_000)
    x = ql.synthetic("laplace", 2**16, 7)
    assert _metric_text(page, "SQNR") == f"{ql.Quantizer('symmetric')(x).metrics(x).sqnr_db:.2f} dB"
    page.close()


def test_value_plots_zoom_together_and_the_error_ticks_are_not_hidden(server, browser):
    """Zoom to the clipping range: the distribution, error-vs-value and transfer plots share the
    x range the browser draws; the original is the outline drawn last; the error panel's signed
    tick labels sit clear of the histogram beside them."""
    page = _page(browser, f"{server}/?symmetric.calibration=percentile&symmetric.percentile=99.0&symmetric.bits=4"
                          "&data.distribution=normal_with_outliers&plot_range=clipping+range")
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 6", timeout=90_000)
    _wait_idle(page)
    got = page.evaluate("""() => {
        const p = [...document.querySelectorAll('.js-plotly-plot')];
        const byTitle = t => p.find(e => (e.layout.title.text || '').includes(t));  // Streamlit wraps it in <b>
        const dist = byTitle('Original vs dequantized'), err = byTitle('Quantization error'),
              tr = byTitle('Transfer function');
        const right1 = err._fullLayout.xaxis._offset + err._fullLayout.xaxis._length;
        const base = err.getBoundingClientRect().left;
        const ticks = [...err.querySelectorAll('.y2tick text')].map(t => t.getBoundingClientRect().left - base);
        return {dist: dist._fullLayout.xaxis.range, err: err._fullLayout.xaxis2.range, tr: tr._fullLayout.xaxis.range,
                traces: dist.data.map(d => [d.name, d.fill || 'none']), right1, ticks,
                labels: [...err.querySelectorAll('.y2tick text')].map(t => t.textContent)};
    }""")
    x = ql.synthetic("normal_with_outliers", 2**16, 0)
    r = ql.Quantizer("symmetric", bits=4, calibration="percentile", percentile=99.0)(x)
    lo, hi = ql.figures.VIEW_RANGES["clipping range"](x, r)
    for key in ("dist", "err", "tr"):
        assert got[key] == pytest.approx([lo, hi], rel=1e-5), key
    assert got["traces"][-2:] == [["original", "none"], ["%d levels" % r.levels.size, "none"]] or \
        got["traces"][1] == ["original", "none"]
    assert any(t.startswith("−") or t.startswith("-") for t in got["labels"]), got["labels"]  # signs drawn
    assert got["ticks"] and min(got["ticks"]) > got["right1"], got
    page.screenshot(path=str(SHOTS / "explore_zoomed.png"), full_page=False)


def test_rate_distortion_in_a_browser(server, browser):
    page = _page(browser, f"{server}/rate_distortion")
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 3", timeout=120_000)
    _wait_idle(page)
    chart = page.locator(".js-plotly-plot").first
    legend = chart.locator(".legend").text_content()  # SVG: no inner_text
    assert "Shannon lower bound" in legend and "Pareto front" in legend and "bitsandbytes" in legend
    assert chart.locator(".scatterlayer .point").count() > 60  # every configuration drawn as a marker
    x = ql.synthetic("normal", 2**16, 0)
    assert _metric_text(page, "MSE") == f"{ql.error_anatomy(x, ql.Quantizer('nf4')(x)).mse:.4g}"
    page.screenshot(path=str(SHOTS / "rate_distortion.png"), full_page=False)
    page.close()


def test_checkpoint_report_opens_in_a_browser(server, browser, tmp_path):
    """Upload a report file through the page's own file input: the heatmap is drawn with one cell
    per layer and kind, and the table lists every tensor × scheme row."""
    from safetensors.numpy import save_file

    from quantlib import checkpoint as ck

    rng = np.random.default_rng(3)
    tensors = {f"model.layers.{i}.self_attn.{p}_proj.weight": (rng.standard_normal((16, 32)) * 0.02).astype(np.float32)
               for i in range(2) for p in ("q", "k")}
    save_file(tensors, str(tmp_path / "m.safetensors"))
    report = ql.checkpoint_report(tmp_path / "m.safetensors", ["symmetric", "nf4"], bits=4, workers=0)
    (tmp_path / "r.parquet").write_bytes(ck.report_parquet(report))
    page = _page(browser, f"{server}/checkpoint")
    page.locator('[data-testid="stFileUploader"]', has_text="Report").locator("input[type=file]").set_input_files(
        str(tmp_path / "r.parquet"))
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 1", timeout=120_000)
    _wait_idle(page)
    heat = page.evaluate("() => document.querySelector('.js-plotly-plot').data[0]")
    assert heat["type"] == "heatmap" and heat["x"] == ["0", "1"] and sorted(heat["y"]) == ["attn_k", "attn_q"]
    ticks = page.locator(".js-plotly-plot .xtick text").all_text_contents()
    assert ticks == ["0", "1"], ticks  # one tick per layer, not a numeric axis with half-layer ticks
    assert len(report) == 8
    page.screenshot(path=str(SHOTS / "checkpoint.png"), full_page=False)
    page.close()
