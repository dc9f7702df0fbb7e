"""How the Learn page writes numbers: the shortest float32 decimal, and the same for LaTeX."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._shared import latex_exponent, latex_g

_F32 = np.float32


def num(v: Any) -> str:
    """The shortest decimal that reads back as the same float32 (integers as integers)."""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    f = _F32(v)
    if not np.isfinite(f):
        return str(float(f))
    if f == 0:
        return "0"
    a = abs(float(f))
    if 1e-4 <= a < 1e7:
        return np.format_float_positional(f, unique=True, trim="-")
    return np.format_float_scientific(f, unique=True, trim="-")


def tex(v: Any) -> str:
    """:func:`num` for LaTeX: ``1.5e-05`` becomes ``1.5\\times10^{-5}``, negatives are bracketed."""
    s = tex_plain(v)
    return f"({s})" if s.startswith("-") else s


def tex_plain(v: Any) -> str:
    """:func:`num` for LaTeX, negatives as they are."""
    return latex_exponent(num(v))


def tex_err(v: float) -> str:
    """An error for LaTeX: 6 significant digits, exactly 0 as ``0``."""
    return "0" if v == 0 else latex_g(v)
