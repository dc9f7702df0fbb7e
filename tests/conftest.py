"""Shared helpers for the side-by-side reference tests, and the app under AppTest.

``make_tensor(kind, n, seed)`` builds deterministic float32 test tensors; ``cases(...)``
turns (kind, size, seed) combinations into ``pytest.param`` objects with readable ids
such as ``normal-n1000-s0``; ``open_app(page, query)`` runs the app on one page, opened
from a link. The test modules import these names directly
(``from conftest import make_tensor, cases``): pytest puts this directory on ``sys.path``.

Expected values in the reference tests always come from the reference libraries
(torch, onnxruntime, ModelOpt), never from quantlib.

``sum_rtol(n)`` is the tolerance for comparing two sums of the same ``n`` terms that add in
different orders. Exact (``==``) comparisons are kept for results that do not depend on an
order of additions (elementwise roundings, max/min, integer counts); a sum, mean, dot or norm
is rounded differently by numpy's pairwise sum, a BLAS kernel (OpenBLAS/MKL pick one per CPU:
Haswell and SkylakeX kernels block and vectorise differently), numba's per-thread chunks or
a torch reduction, so such a result is compared within the bound its precision gives.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

if TYPE_CHECKING:  # imported when used: most test files never start the app
    from streamlit.testing.v1 import AppTest

# Keep the reference libraries from fighting over the 2 cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")
warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.ao\.quantization.*")

def sum_rtol(n: int, dtype: type = np.float64, condition: float = 1.0) -> float:
    """Largest relative difference between two evaluations of a sum of ``n`` terms in ``dtype``
    that add them in different orders (pairwise, blocked, SIMD lanes, threads), for terms of
    one sign; ``condition`` = sum|terms| / |sum| for mixed signs (a dot product's terms included).

    Each evaluation is within gamma_n * sum|terms| of the exact sum, gamma_n = n u / (1 - n u),
    u = eps / 2 (Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., §3.1, §4.2;
    n rather than n - 1 leaves room for one rounded product per term), so two evaluations
    differ by at most 2 gamma_n ~ n eps of the sum. It is a worst case, valid on any CPU.
    """
    u = float(np.finfo(dtype).eps) / 2
    return 2 * n * u / (1 - n * u) * condition


#: The power-of-two step of the ``ties`` tensors: every value is a multiple of TIE_SCALE / 2.
TIE_SCALE = 2.0**-5

KINDS = (
    "normal",
    "laplace",
    "uniform",
    "relu",
    "outliers",
    "bimodal",
    "lognormal",
    "ties",
    "tiny",
    "huge",
    "constant",
    "all_zero",
)
#: Kinds with a spread of values (no degenerate ranges, no extreme magnitudes).
REGULAR_KINDS = ("normal", "laplace", "uniform", "relu", "outliers", "bimodal", "lognormal", "ties")


def make_tensor(kind: str, n: int, seed: int, scale: float = 1.0) -> np.ndarray:
    """A deterministic 1-D float32 tensor of ``n`` values of the given ``kind``, times ``scale``.

    normal / laplace / uniform(-1, 1) / relu (rectified normal) / outliers (normal with
    ~0.1% of the values, at least 2, multiplied by 50) / bimodal (two normals, -2 and +3) /
    lognormal / ties (k/2 * TIE_SCALE with k in [-255, 255], both ends present, so rounding
    ties occur on grids of step TIE_SCALE; also makes pytorch's symmetric int8 scale
    amax/127.5 exactly TIE_SCALE) / tiny (normal * 1e-30) / huge (normal * 1e30) /
    constant (one repeated value) / all_zero.
    """
    rng = np.random.default_rng([seed, n, KINDS.index(kind)])
    if kind == "normal":
        x = rng.standard_normal(n)
    elif kind == "laplace":
        x = rng.laplace(0.0, 1.0, n)
    elif kind == "uniform":
        x = rng.uniform(-1.0, 1.0, n)
    elif kind == "relu":
        x = np.maximum(rng.standard_normal(n), 0.0)
    elif kind == "outliers":
        x = rng.standard_normal(n)
        k = max(2, n // 1000)
        idx = rng.choice(n, size=k, replace=False)
        x[idx] *= 50.0
    elif kind == "bimodal":
        pick = rng.random(n) < 0.4
        x = np.where(pick, rng.normal(-2.0, 0.5, n), rng.normal(3.0, 0.7, n))
    elif kind == "lognormal":
        x = rng.lognormal(0.0, 1.0, n)
    elif kind == "ties":
        k = rng.integers(-255, 256, n)
        k[:2] = (-255, 255)
        x = k * (0.5 * TIE_SCALE)
    elif kind == "tiny":
        x = rng.standard_normal(n) * 1e-30
    elif kind == "huge":
        x = rng.standard_normal(n) * 1e30
    elif kind == "constant":
        x = np.full(n, rng.uniform(-3.0, 3.0))
    elif kind == "all_zero":
        x = np.zeros(n)
    else:
        raise ValueError(f"unknown kind {kind!r}; choose one of {KINDS}")
    return (x * scale).astype(np.float32)


def case_id(kind: str, n: int, seed: int, scale: float = 1.0) -> str:
    sid = "" if scale == 1.0 else f"-x{scale:g}"
    return f"{kind}-n{n}-s{seed}{sid}"


def cases(kinds=KINDS, sizes=(1000,), seeds=(0,), scales=(1.0,)) -> list:
    """Every (kind, n, seed, scale) combination as a ``pytest.param`` with a readable id."""
    return [
        pytest.param(k, n, s, sc, id=case_id(k, n, s, sc))
        for k in kinds
        for n in sizes
        for s in seeds
        for sc in scales
    ]


@pytest.fixture(params=KINDS, ids=KINDS)
def kind(request) -> str:
    return request.param


#: The app's entry file, the router: every AppTest starts here, as ``streamlit run`` does.
APP = str(Path(__file__).resolve().parents[1] / "app.py")


def open_app(page: str = "explore", query: Mapping[str, str | list[str]] | None = None, *,
             timeout: float = 180) -> AppTest:
    """The app on ``page`` (a file name in pages/, without .py), opened from a link whose query
    string is ``query``; no run may raise. One run draws a whole page, sweeps included, as in a
    browser."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=timeout)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    if page != "explore":
        at.switch_page(f"pages/{page}.py")
    at.run()
    assert not at.exception, at.exception
    return at
