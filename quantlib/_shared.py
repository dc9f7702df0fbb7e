"""Small helpers shared across quantlib's modules (internal API: not in ``quantlib.__all__``).

* :func:`latex_exponent` — ``"1.5e-05"`` written for LaTeX as ``1.5\\times10^{-5}``;
* :func:`latex_g` — a number for LaTeX with 6 significant digits (live formulas, errors);
* :func:`deferred` — a hook that imports its function on first call, so a scheme spec can
  name a function of a module that imports the registry (teaching's worked examples)
  without an import cycle.

Numbers of a module's own domain are shared from that module under public names, listed in
its docstring: :mod:`quantlib.integer` (``code_range``, ``multiplier``, ``onto_grid``,
``round_values``), :mod:`quantlib.formats` (``finite_values``, ``cast``, ``amax_scale``, ...).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def latex_exponent(s: str) -> str:
    """A decimal string with its exponent written for LaTeX: ``1.5e-05`` -> ``1.5\\times10^{-5}``."""
    mantissa, _, exp = s.partition("e")
    return mantissa if not exp else rf"{mantissa}\times10^{{{int(exp)}}}"


def latex_g(v: float) -> str:
    """A number for LaTeX: 6 significant digits, powers of ten written out."""
    return latex_exponent(f"{v:.6g}")


def deferred(module: str, name: str) -> Callable[..., Any]:
    """``module.name``, imported when first called (``module`` absolute, e.g. ``"quantlib.teaching"``)."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"{module}.{name}, imported on first use."
    return call
