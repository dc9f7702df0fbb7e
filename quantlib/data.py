"""Synthetic tensors: the same (kind, size, seed, options) always give the same float32 array."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np

from ._checks import check_choice, check_int

MAX_SIZE = 2**24  # 16 M values


def _normal(rng, n, **_):
    return rng.standard_normal(n)


def _laplace(rng, n, **_):
    return rng.laplace(size=n)


def _uniform(rng, n, **_):
    return rng.uniform(-1.0, 1.0, n)


def _bimodal(rng, n, **_):
    return rng.standard_normal(n) * 0.5 + rng.choice([-2.0, 2.0], n)


def _outliers(rng, n, outlier_fraction: float = 0.001, outlier_scale: float = 20.0, **_):
    x = rng.standard_normal(n)
    k = max(1, int(round(n * outlier_fraction)))
    idx = rng.choice(n, size=min(k, n), replace=False)
    x[idx] *= outlier_scale
    return x


def _relu(rng, n, **_):
    return np.maximum(rng.standard_normal(n), 0.0)


def _lognormal(rng, n, **_):
    return rng.lognormal(0.0, 1.0, n)


def _student_t(rng, n, dof: float = 3.0, **_):
    return rng.standard_t(dof, n)


DISTRIBUTIONS = {
    "normal": _normal,
    "laplace": _laplace,
    "uniform": _uniform,
    "bimodal": _bimodal,
    "normal_with_outliers": _outliers,
    "relu": _relu,
    "lognormal": _lognormal,
    "student_t": _student_t,
}


def synthetic(kind: str = "normal", size: int = 100_000, seed: int = 0, *, shape: tuple[int, ...] | None = None, **options: Any) -> np.ndarray:
    """A float32 sample of ``kind`` (see :data:`DISTRIBUTIONS`) with ``size`` values.

    ``shape`` reshapes it (its product must equal ``size``), e.g. (rows, cols) for
    per-channel experiments. Options: ``outlier_fraction``, ``outlier_scale`` for
    normal_with_outliers, ``dof`` for student_t.
    """
    kind = check_choice(kind, "distribution", DISTRIBUTIONS)
    size = check_int(size, "size", 1, MAX_SIZE)
    seed = check_int(seed, "seed", 0, 2**32 - 1)
    x = DISTRIBUTIONS[kind](np.random.default_rng(seed), size, **options).astype(np.float32)
    if shape is not None:
        if int(np.prod(shape)) != size:
            raise ValueError(f"shape {shape} does not hold {size} values")
        x = x.reshape(shape)
    return x


def _find_sample_dir() -> Path:
    """``sample_data/``: inside the package when installed from a wheel (the wheel maps the
    repository's top-level folder to ``quantlib/sample_data``, see pyproject.toml), else the
    folder beside ``quantlib/`` in a checkout or an editable install."""
    installed = Path(__file__).resolve().parent / "sample_data"
    return installed if installed.is_dir() else Path(__file__).resolve().parents[1] / "sample_data"


SAMPLE_DIR = _find_sample_dir()


@functools.cache
def _sample_files() -> tuple[Path, ...]:
    from .loaders import EXTENSIONS

    if not SAMPLE_DIR.is_dir():
        return ()
    return tuple(sorted(p for p in SAMPLE_DIR.iterdir() if p.suffix.lower() in EXTENSIONS))


@functools.cache
def _sample_tensors() -> dict[str, np.ndarray]:
    from .loaders import load_tensors

    out = {}
    for path in _sample_files():
        tensors = load_tensors(path)
        for name, a in tensors.items():
            a.setflags(write=False)
            out[path.stem if len(tensors) == 1 else f"{path.stem}/{name}"] = a
    return out


def sample_tensors() -> dict[str, np.ndarray]:
    """The tensors shipped in ``sample_data/`` by name — the file stem, or ``file/tensor`` for
    files with several tensors — as read-only float32 arrays (read once, with the safe loaders)."""
    return dict(_sample_tensors())
