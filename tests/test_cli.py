"""``python -m quantlib report``, run as a user would: a subprocess, its exit code, stdout, stderr and files.

A fresh interpreter takes ~2 s to start and import quantlib, so the many error cases call
``quantlib.cli.main`` in this process with the same arguments (stdout, stderr and the exit status
are what the subprocess prints and returns); each kind of run - a report, --help, a bad file, a usage
error - is also made once as a real subprocess.
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import quantlib as ql
from quantlib.cli import main

ROOT = Path(__file__).resolve().parents[1]
BLOG = ROOT / "sample_data" / "blog_example.csv"
DIGITS = ROOT / "sample_data" / "digits_mlp.npz"


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "quantlib", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def cli_in_process(*args: str) -> subprocess.CompletedProcess:
    """What ``cli`` gives, from ``quantlib.cli.main`` in this process (argparse's exit becomes the status)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code
    return subprocess.CompletedProcess(["python", "-m", "quantlib", *map(str, args)], code, out.getvalue(), err.getvalue())


class _Cells(HTMLParser):
    """The header and body cells of the first HTML table (stdlib only)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def html_table(path: Path) -> list[list[str]]:
    p = _Cells()
    p.feed(path.read_text(encoding="utf-8"))
    return p.rows


def assert_one_line_error(r: subprocess.CompletedProcess, *needles: str, code: int = 1) -> None:
    assert r.returncode == code, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "error:" in lines[0]
    for n in needles:
        assert n in lines[0], lines[0]


# ------------------------------------------------------------------ good input
def test_report_prints_the_table_and_writes_csv_and_html(tmp_path):
    w = np.random.default_rng(0).standard_normal((64, 32)).astype(np.float32)
    f = tmp_path / "weights.npy"
    np.save(f, w)
    r = cli("report", f, "--schemes", "symmetric,asymmetric,nf4", "--bits", "4",
            "--csv", tmp_path / "out.csv", "--html", tmp_path / "out.html")
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    header = r.stdout.splitlines()[0].split()
    assert header[:3] == ["tensor", "scheme", "bits"] and "SQNR" in header and "cosine" in header
    df = pd.read_csv(tmp_path / "out.csv")
    assert list(df.columns) == ["tensor", "scheme", "bits", "MSE", "SQNR dB", "cosine", "clip %", "bits per element"]
    assert df["scheme"].tolist() == ["symmetric", "asymmetric", "nf4"]
    for scheme, settings in (("symmetric", {"bits": 4}), ("asymmetric", {"bits": 4}), ("nf4", {})):
        m = ql.Quantizer(scheme, **settings)(w).metrics(w)
        row = df[df["scheme"] == scheme].iloc[0]
        assert row["MSE"] == pytest.approx(m.mse, rel=1e-12) and row["SQNR dB"] == pytest.approx(m.sqnr_db, rel=1e-12)
        assert row["cosine"] == pytest.approx(m.cosine_similarity) and row["clip %"] == pytest.approx(100 * m.clip_ratio)
        assert row["bits per element"] == pytest.approx(m.bits_per_element)
    assert df["bits"].tolist()[:2] == [4, 4] and pd.isna(df["bits"].iloc[2])  # nf4 has a fixed width
    cells = html_table(tmp_path / "out.html")
    assert cells[0] == list(df.columns) and [row[1] for row in cells[1:]] == df["scheme"].tolist()
    assert float(cells[1][4]) == pytest.approx(df["SQNR dB"].iloc[0], rel=1e-5)


def test_blog_example_and_every_tensor_of_an_npz():
    r = cli_in_process("report", BLOG, "--schemes", "fixed_point,histogram", "--bits", "8")
    assert r.returncode == 0 and "blog_example" in r.stdout and "fixed_point" in r.stdout
    r = cli_in_process("report", DIGITS, "--schemes", "symmetric")
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.strip().splitlines()) == 1 + len(ql.load_tensors(DIGITS))
    r = cli_in_process("report", DIGITS, "--tensor", "fc1.weight", "--schemes", "q8_0,fp8_e4m3fn", "--bits", "3")
    lines = r.stdout.strip().splitlines()
    assert r.returncode == 0 and len(lines) == 3 and all(" - " in ln for ln in lines[1:])  # --bits ignored


def test_one_bit_report_for_the_schemes_that_allow_it():
    r = cli_in_process("report", BLOG, "--schemes", "asymmetric,quantile,lloyd_max", "--bits", "1")
    lines = r.stdout.strip().splitlines()
    assert r.returncode == 0, r.stderr
    assert len(lines) == 4 and all(ln.split()[2] == "1" for ln in lines[1:])  # the bits column


def test_help_documents_the_report_command():
    r = cli("report", "--help")
    assert r.returncode == 0
    for needle in ("FILE", "--tensor", "--schemes", "--bits", "--csv", "--html", ".safetensors", "bits per element"):
        assert needle in r.stdout
    top = cli_in_process("--help")
    assert top.returncode == 0 and "report" in top.stdout


# ------------------------------------------------------------------ bad input
def _pickled(path: Path) -> Path:
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    return path


@pytest.mark.parametrize("make, args, needles", [
    (lambda d: d / "missing.npy", (), ("missing.npy", "no such file")),
    (lambda d: _pickled(d / "evil.npy"), (), ("evil.npy", "pickled")),
    (lambda d: (d / "notes.txt").write_text("hi") and d / "notes.txt", (), ("unknown extension",)),
    (lambda d: (d / "bad.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json") and d / "bad.safetensors",
     (), ("bad.safetensors", "corrupt safetensors header")),
    (lambda d: (d / "nan.csv").write_text("1,2\nnan,3\n") and d / "nan.csv", (), ("non-finite",)),
    (lambda d: BLOG, ("--schemes", "symmetric,int3"), ("unknown scheme", "'int3'")),
    (lambda d: DIGITS, ("--tensor", "fc9.weight"), ("no tensor 'fc9.weight'", "fc1.weight")),
    (lambda d: BLOG, ("--bits", "0"), ("--bits must be in 1..16",)),
    (lambda d: BLOG, ("--bits", "1", "--schemes", "asymmetric,symmetric"),
     ("symmetric on tensor", "allowed: [2, 16]", "a 1-bit signed grid is {-1, 0}")),
    (lambda d: BLOG, ("--csv", "/nonexistent/dir/out.csv"), ("cannot write /nonexistent/dir/out.csv",)),
], ids=["missing", "pickle", "extension", "safetensors", "nan", "unknown-scheme", "unknown-tensor", "bits", "bits-1-symmetric", "unwritable"])
def test_bad_input_gives_one_line_and_a_non_zero_exit(tmp_path, make, args, needles):
    assert_one_line_error(cli_in_process("report", make(tmp_path), *args), *needles)


def test_bad_input_and_usage_errors_are_one_line_in_a_real_process(tmp_path):
    assert_one_line_error(cli("report", _pickled(tmp_path / "evil.npy")), "evil.npy", "pickled")
    assert_one_line_error(cli("frobnicate"), "(see --help)", code=2)


@pytest.mark.parametrize("args", [("report",), ("report", "x.npy", "--bits", "eight"), ("frobnicate",)],
                         ids=["no-file", "bits-not-a-number", "unknown-command"])
def test_usage_errors_are_one_line_with_exit_2(args):
    assert_one_line_error(cli_in_process(*args), "(see --help)", code=2)


def test_a_scheme_that_cannot_apply_names_the_scheme_and_tensor(tmp_path):
    f = tmp_path / "huge.npy"
    np.save(f, np.array([1e7, -3e7, 5.0] * 32, np.float32))  # float16 block scales overflow in q4_0
    assert_one_line_error(cli_in_process("report", f, "--schemes", "symmetric,q4_0"), "q4_0", "'huge'")


# ------------------------------------------------------------------ linear
@pytest.fixture(scope="module")
def layer_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("linear")
    rng = np.random.default_rng(5)
    w = rng.standard_normal((48, 32)).astype(np.float32)
    x = rng.standard_normal((400, 32)).astype(np.float32)
    np.save(d / "w.npy", w)
    np.save(d / "x.npy", x)
    np.save(d / "x_wide.npy", rng.standard_normal((400, 48)).astype(np.float32))
    return d, w, x


def test_linear_prints_a_row_per_method_and_writes_csv(layer_files):
    d, w, x = layer_files
    methods = list(ql.LINEAR_METHODS)
    r = cli("linear", "--weight", d / "w.npy", "--inputs", d / "x.npy", "--methods", *methods, "--bits", "4",
            "--heldout-share", "0.25", "--out", d / "table.csv")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0].split()[:3] == ["method", "bits", "bits/element"] and "held-out)" in lines[0]
    refused = [ln.split(": ")[1] for ln in r.stderr.strip().splitlines() if ln]  # no 4-bit form: named on stderr
    assert all(ln.startswith("not at 4 bits: ") for ln in r.stderr.strip().splitlines() if ln)
    assert [ln.split()[0] for ln in lines[1:]] == [m for m in methods if m not in refused] and "rtn" not in refused
    df = pd.read_csv(d / "table.csv")
    assert df["method"].tolist() == [m for m in methods if m not in refused]
    rtn = df[df["method"] == "rtn"].iloc[0]
    q = ql.Quantizer("symmetric", bits=4, granularity="per_channel", axis=0)(w).dequantized.astype(np.float64)
    held = x[300:].astype(np.float64)
    y = held @ w.astype(np.float64).T
    assert rtn["heldout_error"] == pytest.approx(np.sum((held @ q.T - y) ** 2) / np.sum(y ** 2), rel=1e-5)
    assert rtn["bits_per_element"] == 4 + 32 / 32


def test_linear_on_a_model_layer_and_settings(layer_files):
    d, w, x = layer_files
    r = cli_in_process("linear", "--model", "digits", "--layer", "fc2", "--methods", "rtn", "--bits", "3",
                       "--weights", "asymmetric", "--activations", "symmetric", "--heldout-share", "0")
    assert r.returncode == 0, r.stderr
    row = r.stdout.strip().splitlines()[1].split()
    assert row[0] == "rtn" and row[1] == "3" and row[-2] == "-"  # no held-out tokens
    m = ql.digits_model()
    got = ql.quantize_linear(m.weights["fc2"], None, "rtn", weights=("asymmetric", {"bits": 3}),
                             activations=("symmetric", {"bits": 8}))
    assert float(row[3]) == pytest.approx(got.output_error(m.calibration_inputs("fc2")), rel=1e-3)
    listed = cli_in_process("linear", "--list-methods")
    assert listed.returncode == 0 and listed.stdout.split()[0] == "rtn"


@pytest.mark.parametrize("args, needles", [
    (("--weight", "{d}/w.npy", "--inputs", "{d}/x_wide.npy"), ("(400, 48)", "(tokens, 32)", "transpose")),
    (("--weight", "{d}/w.npy", "--inputs", "{d}/missing.npy"), ("missing.npy", "no such file")),
    (("--weight", "{d}/w.npy", "--inputs", "{d}/x.npy", "--methods", "rtn", "nope"), ("unknown method", "'nope'")),
    (("--weight", "{d}/w.npy", "--inputs", "{d}/x.npy", "--set", "rtn.alpha=1"), ("no setting 'alpha'",)),
    (("--weight", "{d}/w.npy", "--inputs", "{d}/x.npy", "--heldout-share", "1"), ("heldout_share",)),
    (("--weight", "{d}/w.npy",), ("--inputs",)),
    (("--model", "nomodel", "--layer", "x"), ("unknown model", "minilm_l6")),
    (("--model", "digits", "--layer", "fc9"), ("unknown layer", "fc9")),
    (("--weight", "{d}/w.npy", "--inputs", "{d}/x.npy", "--bits", "17"), ("--bits must be in 1..16",)),
], ids=["mismatch", "missing", "unknown-method", "unknown-setting", "share", "no-inputs", "model", "layer", "bits"])
def test_linear_bad_input_is_one_line(layer_files, args, needles):
    d = layer_files[0]
    assert_one_line_error(cli_in_process("linear", *[a.format(d=d) for a in args]), *needles)
