"""Performance benchmarks: quantlib against the toolkits' own kernels, in one run.

    python benchmarks/run.py            # everything (about 3-4 minutes)
    python benchmarks/run.py --quick    # skip the browser and the 16 M app reruns

Each comparison interleaves the two sides (A B A B ...) and reports medians and the ratio
quantlib / reference; the verdict compares the ratio with the target. Absolute times are
context only. torch runs with 2 threads, the size of this machine.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import quantlib as ql  # noqa: E402
from quantlib import histograms  # noqa: E402

ROWS: list[tuple[str, str, str, str, str]] = []


def interleaved(a, b, repeats: int = 7) -> tuple[float, float]:
    """Median seconds of a() and b(), run alternately after one warm-up each."""
    a(), b()
    ta, tb = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a()
        ta.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        b()
        tb.append(time.perf_counter() - t0)
    return statistics.median(ta), statistics.median(tb)


def row(work: str, ours: float, ref: float | None, target: str, ok: bool, note: str = "") -> None:
    ratio = f"{ours / ref:.2f}x" if ref else "-"
    ROWS.append((work, ratio, target, "PASS" if ok else "MISS",
                 f"{ours * 1e3:.1f} ms" + (f" vs {ref * 1e3:.1f} ms" if ref else "") + (f"; {note}" if note else "")))


def engine() -> None:
    import torch

    torch.set_num_threads(2)
    x = ql.synthetic("normal", 2**24, 0)
    t = torch.from_numpy(x)
    p = ql.choose_qparams(x, symmetric=False, convention="pytorch")
    ours, ref = interleaved(lambda: ql.quantize(x, p), lambda: torch.quantize_per_tensor(t, p.scale, p.zero_point, torch.quint8))
    same = np.array_equal(ql.quantize(x, p), torch.quantize_per_tensor(t, p.scale, p.zero_point, torch.quint8).int_repr().numpy())
    row("int8 quantize, 16 M (vs torch.quantize_per_tensor)", ours, ref, "<= 1.5x", ours <= 1.5 * ref, f"codes equal: {same}")
    ours, ref = interleaved(lambda: ql.fake_quantize(x, p),
                            lambda: torch.fake_quantize_per_tensor_affine(t, p.scale, p.zero_point, 0, 255))
    row("fake-quantize, 16 M (vs torch.fake_quantize_per_tensor_affine)", ours, ref, "<= 0.5x", ours <= 0.5 * ref)

    from torch.ao.quantization.observer import HistogramObserver

    x1 = ql.synthetic("normal_with_outliers", 2**20, 1)

    def torch_l2():
        ob = HistogramObserver(dtype=torch.quint8, qscheme=torch.per_tensor_affine)
        ob(torch.from_numpy(x1))
        return ob.calculate_qparams()

    ours, ref = interleaved(lambda: ql.choose_qparams(x1, symmetric=False, calibration="l2_histogram", convention="pytorch"),
                            torch_l2, repeats=3)
    s, z = torch_l2()
    qp = ql.choose_qparams(x1, symmetric=False, calibration="l2_histogram", convention="pytorch")
    row("L2 histogram search, 1 M (vs HistogramObserver)", ours, ref, "<= 1x, same qparams",
        ours <= ref and qp.scale == float(s.item()) and qp.zero_point == int(z.item()),
        f"torch s={float(s.item()):.6g} z={int(z.item())}; ours s={qp.scale:.6g} z={qp.zero_point}")

    from onnxruntime.quantization.calibrate import HistogramCollector

    def ort_entropy():
        c = HistogramCollector("entropy", True, 2048, 128, 99.999, "same")
        c.collect({"x": x1})
        return c.compute_collection_result()["x"][:2]

    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        ours, ref = interleaved(lambda: ql.calibrate(x1, "entropy", num_bins=2048, convention="onnxruntime"),
                                ort_entropy, repeats=2)
        ort = ort_entropy()
    mine = ql.calibrate(x1, "entropy", num_bins=2048, convention="onnxruntime")
    row("entropy calibration, 2048 bins, 1 M (vs ONNX Runtime)", ours, ref, ">= 50x faster, same threshold",
        ref / ours >= 50 and float(mine[1]) == float(ort[1]), f"ORT ({float(ort[0]):.6g}, {float(ort[1]):.6g}); ours ({float(mine[0]):.6g}, {float(mine[1]):.6g})")
    ours, ref = interleaved(lambda: histograms.histc(x, 2048, x.min(), x.max()),
                            lambda: np.histogram(x, 2048, range=(float(x.min()), float(x.max()))))
    row("histogram, 2048 bins, 16 M (vs np.histogram)", ours, ref, "<= 0.6x", ours <= 0.6 * ref)


def apptest(quick: bool) -> None:
    from streamlit.testing.v1 import AppTest

    def rerun_time(size: int) -> float:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
        at.query_params["data.size"] = str(size)
        at.run()
        times = []
        for bits in (7, 6, 5, 4, 6):
            t0 = time.perf_counter()
            at.slider(key="symmetric.bits").set_value(bits).run()
            times.append(time.perf_counter() - t0)
        assert not at.exception
        return statistics.median(times)

    t1 = rerun_time(2**20)
    row("Explore rerun after the bits slider, 1 M", t1, None, "<= 150 ms", t1 <= 0.150)
    if not quick:
        t16 = rerun_time(2**24)
        row("Explore rerun after the bits slider, 16 M", t16, None, "<= 800 ms", t16 <= 0.800)
    import json

    cfg = json.dumps([["symmetric", {}], ["symmetric", {"calibration": "entropy"}], ["asymmetric", {"bits": 4}],
                      ["nf4", {}], ["mxfp4", {}], ["fp8_e4m3fn", {}]])
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.query_params["configs"] = cfg
    at.query_params["data.size"] = str(2**20)
    at.switch_page("pages/compare.py").run()
    times = []
    for bins in (64, 72, 80, 88, 96):
        t0 = time.perf_counter()
        at.slider(key="compare.bins").set_value(bins).run()
        times.append(time.perf_counter() - t0)
    tc = statistics.median(times)
    row("Compare rerun, 6 schemes, 1 M", tc, None, "<= 400 ms", tc <= 0.400)


def memory() -> None:
    code = (
        "import resource, sys; sys.path.insert(0, %r)\n"
        "from streamlit.testing.v1 import AppTest\n"
        "at = AppTest.from_file(%r, default_timeout=600); at.query_params['data.size'] = str(2**24); at.run()\n"
        "at.slider(key='symmetric.bits').set_value(4).run(); assert not at.exception\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)" % (str(ROOT), str(ROOT / "app.py"))
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    rss = int(out.strip().splitlines()[-1]) * 1024
    ROWS.append(("peak RSS, Explore at 16 M (AppTest process)", "-", "<= 1.5 GB", "PASS" if rss <= 1.5e9 else "MISS",
                 f"{rss / 1e9:.2f} GB"))


def browser() -> None:
    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.headless", "true"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        args = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"]
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
            page = b.new_page(viewport={"width": 1600, "height": 1200})
            page.goto(url + "/")  # Explore is the default page (URL /); warm the server (first session compiles kernels, fills caches)
            page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 6", timeout=120_000)
            page.close()
            # a new session on a tensor no cache has seen, median of 3: in a fresh browser profile
            # (first visit: every script downloaded and parsed) and in one that has visited before
            warm_ctx = b.new_context(viewport={"width": 1600, "height": 1200})
            warm = warm_ctx.new_page()
            warm.goto(url + "/")
            warm.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 6", timeout=120_000)
            warm.close()
            firsts = {"fresh": [], "cached": []}
            for seed in range(2, 8):
                kind = "fresh" if seed % 2 else "cached"
                ctx = b.new_context(viewport={"width": 1600, "height": 1200}) if kind == "fresh" else warm_ctx
                pg = ctx.new_page()
                t0 = time.perf_counter()
                pg.goto(url + f"/?data.seed={seed}")
                pg.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 1", timeout=120_000)
                firsts[kind].append(time.perf_counter() - t0)
                pg.close()
            cold = statistics.median(firsts["fresh"])
            row("browser: load to first chart (new session, new tensor, fresh profile)", cold, None, "<= 3 s", cold <= 3.0)
            cached = statistics.median(firsts["cached"])
            row("browser: load to first chart (new session, new tensor, cached scripts)", cached, None, "<= 3 s",
                cached <= 3.0)
            page = b.new_page(viewport={"width": 1600, "height": 1200})
            page.goto(url + "/?data.seed=1")
            page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 6", timeout=120_000)
            page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=120_000)
            x = ql.synthetic("normal", 2**16, 1)
            slider = page.locator('[data-testid="stSlider"]', has_text="bits").get_by_role("slider")
            moves = []
            for key, bits in (("ArrowLeft", 7), ("ArrowLeft", 6), ("ArrowRight", 7), ("ArrowRight", 8), ("ArrowLeft", 7)):
                want = f"{ql.Quantizer('symmetric', bits=bits, num_bins=2048)(x).metrics(x).sqnr_db:.2f} dB"
                page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=120_000)
                time.sleep(0.5)
                slider.focus()
                t0 = time.perf_counter()
                slider.press(key)
                page.wait_for_function(
                    "(w) => [...document.querySelectorAll('[data-testid=\"stMetric\"]')].some(e => e.innerText.includes(w))",
                    arg=want, timeout=60_000)
                moves.append(time.perf_counter() - t0)
            move = statistics.median(moves)
            row("browser: slider move to updated chart (median of 5)", move, None, "<= 700 ms", move <= 0.7)
            b.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def cold_start() -> None:
    """Import time of quantlib with and without numba (the compiled-kernel dependency)."""
    def imp(env):
        code = "import time; t=time.perf_counter(); import quantlib; print(time.perf_counter()-t)"
        outs = [float(subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                                     check=True).stdout) for _ in range(3)]
        return statistics.median(outs)

    with_nb = imp({**os.environ})
    without = imp({**os.environ, "QUANTLIB_NO_NUMBA": "1"})
    ROWS.append(("import quantlib: with numba / without", "-", "context", "-", f"{with_nb * 1e3:.0f} ms / {without * 1e3:.0f} ms"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="skip the browser and the 16 M app runs")
    a = ap.parse_args()
    engine()
    apptest(a.quick)
    if not a.quick:
        memory()
        browser()
    cold_start()
    width = max(len(r[0]) for r in ROWS)
    print(f"| {'work':<{width}} | ratio | target | verdict | times |")
    print(f"|{'-' * (width + 2)}|-------|--------|---------|-------|")
    for r in ROWS:
        print(f"| {r[0]:<{width}} | {r[1]} | {r[2]} | {r[3]} | {r[4]} |")


if __name__ == "__main__":
    main()
