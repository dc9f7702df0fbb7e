"""The real app in a real browser: Debian's chromium driven by Playwright (pip package only).

The fixture installs Debian's chromium when it is missing (CI runs as root), serves
`streamlit run app.py` on a free loopback port, and saves screenshots to
tests/screenshots/ (the README shows them).
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import quantlib as ql

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "tests" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def _ensure_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.fail("Debian's chromium is missing and cannot be installed here (needs root and apt-get)")
    subprocess.run(["apt-get", "update"], check=True, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "chromium"], check=True, capture_output=True,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    _ensure_chromium()
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.address",
         "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("streamlit did not start within 60 s")
    yield url
    proc.terminate()
    proc.wait(timeout=20)


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
