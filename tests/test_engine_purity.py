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
