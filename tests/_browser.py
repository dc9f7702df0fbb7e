"""Shared pieces of the browser tests (test_browser.py, test_browser_links.py): the served app,
Debian's chromium through Playwright, and small page helpers. Two files so that the suite's two
processes (pytest-xdist, a file per process) share the browser work; each file serves its own app."""

from pathlib import Path

import pytest
from _serve import ARGS, CHROMIUM, serve

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


def open_page(browser, url):
    page = browser.new_page(viewport={"width": 1600, "height": 1300})
    page.set_default_timeout(60_000)
    page.goto(url)
    return page


def metric_text(page, label: str) -> str:
    card = page.locator('[data-testid="stMetric"]', has_text=label).first
    return card.locator('[data-testid="stMetricValue"]').inner_text()


def wait_idle(page) -> None:
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000)
