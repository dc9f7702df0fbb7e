"""The Rate–distortion chart as one pool of tasks (quantlib.rate.rd_chart / run_tasks): the same frames on
any number of threads, progress on the calling thread, errors raised, families chosen afterwards, the
Lloyd-Max levels shared by the scheme and the limit, and numba's non-thread-safe layer survived."""

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import quantlib as ql
from quantlib import nonuniform, rate

ROOT = Path(__file__).resolve().parents[1]
X = ql.synthetic("student_t", 2**16, 3)
SOME = ["integer", "non-uniform", "nf4", "q4_k", "iq4_nl", "mxfp4", "fp8_e4m3fn"]


@pytest.fixture(scope="module")
def serial():
    return rate.rd_chart(X, SOME, workers=1)


def test_any_number_of_threads_gives_the_same_frames(serial):
    for workers in (2, 3):
        chart = rate.rd_chart(X, SOME, workers=workers)
        pd.testing.assert_frame_equal(chart.points, serial.points)
        pd.testing.assert_frame_equal(chart.limits, serial.limits)
        assert chart.points.attrs == serial.points.attrs and chart.limits.attrs == serial.limits.attrs


def test_the_chart_is_rate_distortion_plus_rd_limits(serial):
    pd.testing.assert_frame_equal(serial.points, ql.rate_distortion(X, SOME, workers=2))
    pd.testing.assert_frame_equal(serial.limits, ql.rd_limits(X, workers=1))
    assert serial.limits_error is None
    # the limit curves in their documented order, each width once
    lim = serial.limits
    assert list(dict.fromkeys(lim["limit"])) == list(ql.LIMITS)
    for name in ("lloyd_max", "uniform"):
        assert lim[lim["limit"] == name]["rate_bits"].tolist() == [float(b) for b in rate.LIMIT_BITS]


def test_progress_counts_every_task_on_the_calling_thread():
    calls = []
    me = threading.get_ident()
    chart = rate.rd_chart(X, ["integer", "nf4"], [3, 4], workers=2,
                          progress=lambda i, n, label: calls.append((i, n, label, threading.get_ident())))
    configs = rate.configurations(["integer", "nf4"], [3, 4])
    total = len(configs) + len(rate.LIMIT_BITS) * 2 + 1  # one task per configuration, limit width, and the ECUQ curve
    assert [c[0] for c in calls] == list(range(1, total + 1)) and {c[1] for c in calls} == {total}
    assert {c[3] for c in calls} == {me}
    labels = [c[2] for c in calls]
    assert labels.count("limits") == total - len(configs)
    assert sorted(lb for lb in labels if lb != "limits") == sorted(chart.points["label"])


def test_a_tensor_without_limits_still_gets_its_points():
    chart = rate.rd_chart(np.full(4096, 2.5, np.float32), ["integer"], [4], workers=2)
    assert chart.limits is None and "not all equal" in chart.limits_error
    assert len(chart.points) > 0


def test_a_failing_task_raises_on_the_caller_and_cancels_the_rest():
    started = []

    def boom():
        raise ValueError("task 1 failed")

    def slow(i):
        def run():
            started.append(i)
            threading.Event().wait(0.05)
            return i
        return run

    with pytest.raises(ValueError, match="task 1 failed"):
        rate.run_tasks([slow(0), boom, *(slow(i) for i in range(2, 40))], workers=2)
    assert len(started) < 39  # tasks not yet started were cancelled
    assert rate.run_tasks([slow(i) for i in range(5)], workers=2) == list(range(5))
    with pytest.raises(ValueError, match="workers"):
        rate.run_tasks([slow(0)], workers=0)


def test_choosing_families_recomputes_the_front_among_them(serial):
    names = [n for n, s in ql.SCHEMES.items() if s.family in ("integer", "microscaling")]
    chosen = rate.select(serial.points, names)
    alone = ql.rate_distortion(X, ["integer", "mxfp4"])
    pd.testing.assert_frame_equal(chosen.drop(columns="shannon_gap_db"), alone.drop(columns="shannon_gap_db"))
    assert set(chosen["scheme"]) == set(names) & set(serial.points["scheme"]) == {"symmetric", "asymmetric", "int_group", "mxfp4"}


def test_select_cuts_the_skipped_list_to_the_chosen_schemes():
    pts = pd.DataFrame({"scheme": ["a", "b"], "bits_per_element": [4.0, 5.0], "sqnr_db": [10.0, 9.0],
                        "pareto": [True, False]})
    pts.attrs["skipped"] = [("a · bits=2", "no"), ("ab", "no"), ("b", "too big")]
    out = rate.select(pts, ["b"])
    assert out.attrs["skipped"] == [("b", "too big")] and out["pareto"].tolist() == [True]


def test_lloyd_levels_are_computed_once_for_the_scheme_and_the_limit(monkeypatch):
    xs = np.sort(rate.subsample(ql.synthetic("laplace", 2**17, 5), None))
    runs = []
    real = nonuniform.lloyd_sorted
    monkeypatch.setattr(nonuniform, "lloyd_sorted", lambda *a, **k: runs.append(1) or real(*a, **k))
    first = nonuniform.lloyd_best(xs, 16)
    n = len(runs)
    assert n >= 1
    scheme = ql.Quantizer("lloyd_max", bits=4)(xs)  # the scheme sorts the same values: the same key
    assert len(runs) == n and np.array_equal(scheme.levels, first)
    first[0] = 99.0  # the caller's copy: the memo keeps its own
    again = nonuniform.lloyd_best(xs, 16)
    assert again[0] != 99.0 and len(runs) == n
    nonuniform.lloyd_best(xs, 16, max_iter=7)  # another key
    assert len(runs) > n
    other = xs.copy()
    other[-1] = np.nextafter(other[-1], np.float32(np.inf))  # one ulp on one value: another tensor
    nonuniform.lloyd_best(other, 16)
    assert len(runs) > n + 1


def test_lloyd_memo_matches_a_fresh_computation():
    xs = np.sort(ql.synthetic("bimodal", 2**15, 2))
    nonuniform._LLOYD_MEMO.clear()
    nonuniform._PREP_MEMO.clear()
    fresh = [nonuniform.lloyd_best(xs, 2**b) for b in range(1, 9)]
    remembered = [nonuniform.lloyd_best(xs, 2**b) for b in range(1, 9)]
    for a, b in zip(fresh, remembered):
        assert np.array_equal(a, b)
    assert len(nonuniform._LLOYD_MEMO) <= nonuniform.LLOYD_MEMO_SIZE


_WORKQUEUE = """
import threading, numpy as np, quantlib as ql
from quantlib import rate, _kernels
x = ql.synthetic('normal', 2**22, 0)
p = ql.choose_qparams(x, bits=8)
want = ql.quantize(x, p)
def work():
    for _ in range(4):
        assert np.array_equal(ql.quantize(x, p), want)
        ql.Quantizer('q4_k')(x[:2**18])
threads = [threading.Thread(target=work) for _ in range(3)]
[t.start() for t in threads]; [t.join() for t in threads]
a, b = rate.rd_chart(x, ['integer', 'q4_k', 'nf4'], [4], workers=3), rate.rd_chart(x, ['integer', 'q4_k', 'nf4'], [4], workers=1)
assert a.points.equals(b.points) and a.limits.equals(b.limits)
import numba
print(_kernels.threadsafe_layer(), numba.threading_layer())
"""


def test_numba_workqueue_layer_is_not_launched_from_two_threads_at_once():
    # numba's workqueue layer (its fallback when neither TBB nor libgomp loads) aborts the process when two
    # threads launch parallel kernels at once; quantlib's launches then take turns.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NUMBA_THREADING_LAYER": "workqueue"}
    out = subprocess.run([sys.executable, "-c", _WORKQUEUE], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["False", "workqueue"]


def test_warm_up_refuses_a_size_below_the_kernels_threshold():
    with pytest.raises(ValueError, match="size"):
        ql.warm_up(1000)  # under 2**15 values the numpy paths run: nothing would be warmed


def test_warm_up_pauses_before_each_step():
    # the app's pause returns once no page is running: one scheme at a time, then the histograms and
    # sweep, the chart (the limits), the same for the parallel kernels: a page never waits for more than one step
    steps = []
    ql.warm_up(pause=lambda: steps.append(len(steps)))
    assert len(steps) == 2 * (len(ql.SCHEMES) + 2)  # the serial forms, then the parallel ones
