"""quantlib is a pure engine: importing it must not import streamlit."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quantlib_never_imports_streamlit():
    code = "import sys, quantlib, quantlib.figures; print('streamlit' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    for path in (ROOT / "quantlib").rglob("*.py"):
        assert "import streamlit" not in path.read_text(), path


def test_no_unsafe_loading_anywhere():
    for path in list((ROOT / "quantlib").rglob("*.py")) + list((ROOT / "pages").rglob("*.py")) + [ROOT / "app.py"]:
        text = path.read_text()
        for bad in ("allow_pickle=True", "pickle.load", "torch.load(", "unsafe_allow_html=True"):
            assert bad not in text, f"{bad} in {path}"


def test_every_app_cache_is_bounded():
    """Classrooms share one server: every st.cache_data / st.cache_resource in the app has
    both max_entries and ttl, so no cache grows with the number of sessions or tensors."""
    import ast

    found = 0
    for path in list((ROOT / "pages").rglob("*.py")) + [ROOT / "app.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("cache_data", "cache_resource"):
                found += 1
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for dec in node.decorator_list:
                target = dec.func if isinstance(dec, ast.Call) else dec
                if isinstance(target, ast.Attribute) and target.attr in ("cache_data", "cache_resource"):
                    keywords = {k.arg for k in dec.keywords} if isinstance(dec, ast.Call) else set()
                    assert {"max_entries", "ttl"} <= keywords, f"{path.name}:{node.lineno} {node.name} is unbounded"
    assert found >= 5  # the app does cache; the check above has something to check
