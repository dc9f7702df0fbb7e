"""A non-editable install finds sample_data/: build the wheel from a clean copy of the sources,
install it into a fresh virtual environment, and use it from a folder outside the repository.

Its dependencies (numpy & co.) come from the site-packages of the interpreter running the tests,
whatever that is (a virtualenv, the system Python, a user site): the new environment gets a
``.pth`` file naming those folders. ``venv --system-site-packages`` would see the *base*
interpreter's site-packages instead, which lack them when the tests run in a virtualenv. A
``.pth`` line that is a plain path adds the folder without running the ``.pth`` files inside it,
so the host's editable install of this project stays out and the wheel is what gets imported."""

import json
import os
import shutil
import site
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

import quantlib as ql

ROOT = Path(__file__).resolve().parents[1]


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out.stdout


def _host_site_packages() -> list[str]:
    """The site-packages folders the running interpreter imports from, in its own order."""
    found = [p for p in sys.path if Path(p).name in ("site-packages", "dist-packages") and Path(p).is_dir()]
    extra = [p for p in (*site.getsitepackages(), site.getusersitepackages()) if Path(p).is_dir()]
    return list(dict.fromkeys(found + extra))


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("install")
    src = tmp / "src"  # only what the build reads: no build/ left over from an earlier build, no tests/
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for name in ("quantlib", "sample_data"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PIP_NO_INPUT"] = "1"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist"), str(src)],
         tmp, env)
    (wheel,) = (tmp / "dist").glob("*.whl")
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp, env)
    py = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    purelib = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp, env).strip())
    (purelib / "_host_packages.pth").write_text("\n".join(_host_site_packages()) + "\n")
    # --ignore-installed: the host may hold an editable install of the same project
    _run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--ignore-installed", "--no-index",
          str(wheel)], tmp, env)
    probe = textwrap.dedent("""
        import json, sys
        import quantlib as ql
        t = ql.sample_tensors()
        m = ql.digits_model()
        r = m.evaluate(ql.Quantizer("symmetric", bits=8))
        lm = ql.load_model("minilm_l6")
        e = lm.encode(["an installed copy reads its own model"])
        print(json.dumps({"minilm": [len(lm.linear_layers), len(lm.eval_pairs), list(e.shape)],"file": ql.__file__, "names": sorted(t), "blog": t["blog_example"].tolist(),
                          "layers": m.layer_names, "float_accuracy": r["float_accuracy"]}))
    """)
    elsewhere = tmp / "elsewhere"  # cwd outside the repository: nothing found through ''
    elsewhere.mkdir()
    info = json.loads(_run([str(py), "-c", probe], elsewhere, env).strip().splitlines()[-1])
    cli = _run([str(py), "-m", "quantlib", "--help"], elsewhere, env)
    return {"wheel": wheel, "venv": venv, "cli": cli, **info}


def test_wheel_holds_the_package_and_its_sample_data_only(installed):
    names = zipfile.ZipFile(installed["wheel"]).namelist()
    top = {n.split("/")[0] for n in names}
    assert top == {"quantlib", next(n for n in top if n.endswith(".dist-info"))}, top  # no tests/, pages/, app.py
    for f in ("digits_mlp.npz", "minilm_l6_weights.safetensors", "blog_example.csv", "README.md",
              "minilm_l6/model.safetensors", "minilm_l6/tokenizer.json", "minilm_l6/config.json",
              "minilm_l6/paraphrase_pairs.tsv", "minilm_l6/calibration.txt"):
        assert f"quantlib/sample_data/{f}" in names
    # every module of the checkout is in the wheel (a new subpackage needs listing in pyproject.toml)
    mine = {p.relative_to(ROOT).as_posix() for p in (ROOT / "quantlib").rglob("*.py")}
    assert mine <= set(names), sorted(mine - set(names))


def test_installed_copy_is_the_one_imported(installed):
    assert Path(installed["file"]).resolve().is_relative_to(installed["venv"].resolve())


def test_installed_wheel_finds_the_sample_tensors(installed):
    assert installed["names"] == sorted(ql.sample_tensors())
    assert installed["blog"] == ql.sample_tensors()["blog_example"].tolist()


def test_installed_wheel_loads_the_digits_model(installed):
    m = ql.digits_model()
    assert installed["layers"] == m.layer_names
    assert installed["float_accuracy"] == m.evaluate()["float_accuracy"] > 0.9


def test_installed_wheel_runs_minilm(installed):
    assert installed["minilm"] == [36, len(ql.load_model("minilm_l6").eval_pairs), [1, 384]]


def test_installed_cli_help(installed):
    assert "python -m quantlib" in installed["cli"] and "report" in installed["cli"]
