"""``import quantlib`` and ``python -m quantlib --help`` load numpy and quantlib only: the heavy
dependencies (pandas, plotly, ml_dtypes, numba, onnx) are imported where first needed, and
streamlit never. A structural check on sys.modules in a fresh interpreter, not a timing."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("pandas", "plotly", "ml_dtypes", "numba", "onnx", "streamlit", "dask", "distributed", "pyarrow")


def _loaded_after(code: str) -> set[str]:
    probe = f"import sys, json\n{code}\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def after_import() -> set[str]:
    return _loaded_after("import quantlib")


@pytest.fixture(scope="module")
def after_help() -> set[str]:
    return _loaded_after("import runpy\ntry:\n    sys.argv = ['quantlib', '--help']; runpy.run_module('quantlib', run_name='__main__')\n"
                         "except SystemExit:\n    pass")


@pytest.mark.parametrize("module", HEAVY)
def test_import_quantlib_leaves_heavy_dependencies_unloaded(module, after_import):
    assert "numpy" in after_import and "quantlib" in after_import  # the probe saw the import
    assert module not in after_import


@pytest.mark.parametrize("module", HEAVY)
def test_cli_help_leaves_heavy_dependencies_unloaded(module, after_help):
    assert "argparse" in after_help
    assert module not in after_help


def test_lazy_submodules_and_lazy_modules_load_on_first_use():
    loaded = _loaded_after(
        "import quantlib as ql\n"
        "assert 'plotly' not in sys.modules\n"
        "df = ql.sweep_bits(ql.synthetic('normal', 256, 0), bit_widths=[4, 8])\n"  # pandas bound at first use
        "assert type(df).__module__.startswith('pandas'), type(df)\n"
        "fig = ql.figures.bits_figure(df)\n"  # ql.figures without importing quantlib.figures
        "assert type(fig).__name__ == 'Figure'\n"
        "x = ql.synthetic('normal', 2**16, 0)\n"
        "ql.quantize(x, ql.choose_qparams(x))\n"  # a large float32 tensor: the numba kernels
        "assert ql.teaching.__name__ == 'quantlib.teaching'"
    )
    assert {"pandas", "plotly", "numba"} <= loaded
    assert "streamlit" not in loaded


def test_unknown_attribute_is_an_attribute_error():
    import quantlib

    with pytest.raises(AttributeError, match="no attribute 'not_a_module'"):
        quantlib.not_a_module  # noqa: B018


def test_plotly_is_used_only_after_pandas_is_complete():
    """plotly peeks at sys.modules['pandas'] without the import lock; in Streamlit's one thread per
    session a figure built while another session was importing pandas failed on a half-made module.
    The lazy plotly stand-ins therefore finish importing pandas first."""
    loaded = _loaded_after(
        "from quantlib._lazy import plotly_graph_objects as go\n"
        "assert 'pandas' not in sys.modules\n"
        "go.Figure\n"
        "import pandas\n"
        "assert hasattr(pandas, 'Series')"
    )
    assert {"pandas", "plotly"} <= loaded
