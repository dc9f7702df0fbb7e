"""Heavy optional dependencies (pandas, plotly) bound at first use, not at ``import quantlib``.

``from ._lazy import pandas as pd`` behaves like ``import pandas as pd`` for attribute access
(``pd.DataFrame(...)``, ``isinstance(v, pd.DataFrame)``; annotations are strings under
``from __future__ import annotations``) but imports pandas only when a function first
touches it, so ``import quantlib`` and ``python -m quantlib --help`` cost about what numpy
costs. ml_dtypes and onnx are imported inside the functions that need them; numba by
:mod:`quantlib._kernels` on the first kernel call.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class _LazyModule:
    __slots__ = ("_name", "_first", "_module")

    def __init__(self, name: str, first: tuple[str, ...] = ()) -> None:
        self._name, self._first = name, first
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        module = self._module
        if module is None:
            for name in self._first:
                importlib.import_module(name)
            module = self._module = importlib.import_module(self._name)
        return getattr(module, attr)

    def __repr__(self) -> str:
        state = "imported" if self._module is not None else "not imported yet"
        return f"<lazy module {self._name!r} ({state})>"


def lazy_module(name: str, *first: str) -> Any:
    """A stand-in for module ``name`` that imports it on the first attribute access, after the
    modules ``first`` (each import waits, as ``import`` does, for one another thread is running)."""
    return _LazyModule(name, first)


pandas = lazy_module("pandas")
# plotly looks pandas up in sys.modules without the import lock (_plotly_utils.optional_imports),
# so in a threaded server (Streamlit: one thread per session) a figure built while another thread
# is still importing pandas met a half-initialised module ("partially initialized module 'pandas'
# has no attribute 'Series'") and the page failed. pandas is therefore complete before plotly is used.
plotly_graph_objects = lazy_module("plotly.graph_objects", "pandas")
plotly_io = lazy_module("plotly.io", "pandas")
