"""Real-shaped inputs in a real browser: checkpoints as they are stored (float16 tensors, a ReLU output
with its atom of exact zeros) uploaded on Rate–distortion, where only a browser showed the failure: a
table replaced by "SyntaxError: No number after minus sign in JSON" (a frame's attrs, −∞ among them,
reached the browser's JSON parser in the Arrow metadata; pages/_common.dataframe)."""

import numpy as np
import pytest
from _browser import browser, server  # noqa: F401  (module fixtures: one app and one browser per file)
from _browser import open_page, wait_idle
from safetensors.numpy import save_file

pytestmark = pytest.mark.slow  # a real server and browser

ROWS = "() => document.querySelectorAll('[data-testid=\"stDataFrame\"]').length"


def _upload(page, path) -> None:
    page.locator('[data-testid="stSidebar"] label', has_text="upload").first.click()
    page.locator('input[type="file"]').set_input_files(str(path))


@pytest.mark.parametrize(("name", "make", "says"), [
    ("llama_f16", lambda r: (r.standard_normal((384, 512)) * 0.02).astype(np.float16), "lie on a grid"),
    ("relu_atom", lambda r: np.maximum(r.standard_normal((256, 512)), 0).astype(np.float32), "has an atom"),
], ids=["float16-weight", "relu-with-exact-zeros"])
def test_rate_distortion_shows_every_table_for_a_stored_checkpoint(server, browser, tmp_path, name, make, says):
    path = tmp_path / f"{name}.safetensors"
    save_file({f"model.layers.0.{name}.weight": make(np.random.default_rng(0))}, str(path))
    page = open_page(browser, f"{server}/rate_distortion")
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    _upload(page, path)
    page.wait_for_function("(s) => document.body.innerText.includes(s)", arg=says, timeout=180_000)
    page.wait_for_function(f"() => ({ROWS})() >= 2 || document.body.innerText.includes('SyntaxError')",
                           timeout=180_000)  # "Every point" and the block picker's table
    wait_idle(page)
    text = page.locator("[data-testid='stMain']").inner_text()
    assert "SyntaxError" not in text and "JSON" not in text, text[text.find("Error") - 200:][:400]
    table = page.locator('[data-testid="stDataFrame"]').first
    table.wait_for()
    assert table.locator("canvas").count() >= 1  # glide-data-grid drew it (the error replaces the canvas)
    assert errors == []
    page.close()


def test_golden_vectors_of_an_uploaded_tensor_download(server, browser, tmp_path):
    """The golden vectors are made when the button is clicked, outside the page's run: for an upload
    they found no tensor there and downloaded nothing (the shipped samples worked)."""
    import io
    import json

    w = (np.random.default_rng(2).standard_normal((64, 256)) * 0.05).astype(np.float16)
    path = tmp_path / "upload_f16.safetensors"
    save_file({"model.layers.0.mlp.up_proj.weight": w}, str(path))
    page = open_page(browser, f"{server}/rate_distortion")
    _upload(page, path)
    button = page.locator('[data-testid="stDownloadButton"]', has_text="vectors .npz")
    button.wait_for(timeout=180_000)
    wait_idle(page)
    got = {}
    for label in ("vectors .npz", "manifest .json"):
        with page.expect_download(timeout=120_000) as dl:
            page.locator('[data-testid="stDownloadButton"]', has_text=label).click()
        got[label] = dl.value.path().read_bytes()
    arrays = np.load(io.BytesIO(got["vectors .npz"]), allow_pickle=False)
    assert np.array_equal(arrays["input"].reshape(w.shape), w.astype(np.float32))
    manifest = json.loads(got["manifest .json"])
    assert manifest["scheme"] and "sha256" in json.dumps(manifest)
    page.close()
