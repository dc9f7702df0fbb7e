"""A real-browser pass over every page that reads the data panel, with the inputs people bring
(issue 25): a 1024 × 512 float32 weight whose input column 7 holds outliers, a safetensors file of
float16 Llama-shaped tensors, a GGUF holding F16, Q8_0 and Q4_0 tensors, and MiniLM's shipped weights.
On each page: no traceback, no dialog, no JavaScript error, and no "NaN" or "inf" where a number is
meant. Screenshots go to tests/screenshots/pass/ (not committed: each run writes its own)."""

import re

import gguf
import numpy as np
import pytest
from _browser import SHOTS, browser, server  # noqa: F401  (module fixtures: one app and one browser per file)
from _browser import open_page, wait_idle
from safetensors.numpy import save_file

import pages

pytestmark = pytest.mark.slow  # four inputs on six pages in a real browser

PANEL_PAGES = [(title, path) for script, title, _, path in pages.PAGES[1:]
               if "require_source(" in open(script).read()]
#: A value where a number is meant: a line (a card's value, a caption's figure) that is only nan / inf, with a unit
NOT_A_NUMBER = re.compile(r"^\s*[-+−]?(nan|NaN|inf|Infinity)\s*(dB|%|bits)?\s*$|(=|:)\s*[-+−]?(nan|inf|Infinity)\b",
                          re.M)


def _inputs(tmp) -> dict[str, tuple[str, str | None, str]]:
    """{name: (file to upload or "sample:<tensor>", tensor to pick or None, its shape as the panel shows it)}."""
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((1024, 512)) * 0.02).astype(np.float32)
    w[:, 7] *= 50
    np.save(tmp / "outlier_weight.npy", w)
    save_file({"model.layers.0.self_attn.q_proj.weight": (rng.standard_normal((256, 256)) * 0.02).astype(np.float16),
               "model.layers.0.mlp.up_proj.weight": (rng.standard_normal((688, 256)) * 0.02).astype(np.float16),
               "model.layers.0.input_layernorm.weight": (1 + 0.05 * rng.standard_normal(256)).astype(np.float16)},
              str(tmp / "llama_f16.safetensors"))
    x = (rng.standard_normal((16, 256)) * 0.02).astype(np.float32)
    writer = gguf.GGUFWriter(str(tmp / "model.gguf"), "llama")
    writer.add_tensor("blk.0.attn_norm.weight", (1 + 0.05 * rng.standard_normal(256)).astype(np.float16))
    writer.add_tensor("blk.0.ffn_up.weight", gguf.quants.quantize(x, gguf.GGMLQuantizationType.Q8_0),
                      raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    writer.add_tensor("blk.0.ffn_down.weight", gguf.quants.quantize(x, gguf.GGMLQuantizationType.Q4_0),
                      raw_dtype=gguf.GGMLQuantizationType.Q4_0)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return {"outlier_weight": (str(tmp / "outlier_weight.npy"), None, "shape 1024 × 512"),
            "llama_f16": (str(tmp / "llama_f16.safetensors"), "model.layers.0.mlp.up_proj.weight", "shape 688 × 256"),
            "gguf_q4_0": (str(tmp / "model.gguf"), "blk.0.ffn_down.weight", "shape 16 × 256"),
            "minilm": ("sample:minilm_l6_weights/encoder.layer.0.intermediate.dense.weight", None, "shape 1536 × 384")}


def _settled(page) -> None:
    page.wait_for_function("() => document.querySelectorAll('h1').length >= 1", timeout=90_000)
    wait_idle(page)
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot, [data-testid=\"stAlert\"]').length",
                           timeout=120_000)
    wait_idle(page)


def _pick(page, label: str, option: str) -> None:
    box = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]', has_text=label)
    box.click()
    page.get_by_role("option", name=option).click()


def _showing(page, shape: str) -> None:
    """Wait until the panel describes the tensor of this shape (the run for the new choice has drawn)."""
    page.wait_for_function("(s) => document.querySelector('[data-testid=\"stSidebar\"]').innerText.includes(s)",
                           arg=shape, timeout=120_000)


@pytest.mark.parametrize("name", ["outlier_weight", "llama_f16", "gguf_q4_0", "minilm"])
def test_every_page_with_a_real_input(server, browser, tmp_path, name):
    source, tensor, shape = _inputs(tmp_path)[name]
    if source.startswith("sample:"):
        page = open_page(browser, f"{server}/?data.source=sample")
        _settled(page)
        _pick(page, "Sample tensor", source.removeprefix("sample:"))
    else:
        page = open_page(browser, f"{server}/?data.source=upload")
        page.locator('input[type="file"]').set_input_files(source)
        page.wait_for_function("() => document.querySelector('[data-testid=\"stSidebar\"]').innerText.includes('shape')",
                               timeout=120_000)
        if tensor is not None:
            _settled(page)
            _pick(page, "Tensor", tensor)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    out = SHOTS / "pass"
    out.mkdir(parents=True, exist_ok=True)
    for title, path in [("Explore", "explore"), *PANEL_PAGES]:
        if title != "Explore":
            page.get_by_role("link", name=title).click()
            page.wait_for_function("(p) => window.location.pathname === '/' + p", arg=path, timeout=90_000)
        _showing(page, shape)
        _settled(page)
        main = page.locator('[data-testid="stMain"]')
        page.screenshot(path=str(out / f"{name}_{path}.png"), full_page=True)
        assert page.locator('[data-testid="stException"]').count() == 0, (name, title)
        assert page.locator('[role="dialog"]').count() == 0, (name, title)
        text = main.inner_text()
        bad = [text[max(0, m.start() - 60): m.end() + 20] for m in NOT_A_NUMBER.finditer(text)]
        assert not bad, (name, title, bad)
        sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
        assert shape in sidebar, (name, title, sidebar[-200:])  # the chosen tensor is still the one in use
    assert errors == [], errors
    page.close()
