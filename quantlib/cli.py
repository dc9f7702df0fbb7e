"""Command line: ``python -m quantlib report FILE --schemes a,b --bits N [--csv OUT] [--html OUT]``.

Every failure — a file the safe loaders refuse, an unknown scheme or tensor, settings a
scheme cannot apply, an output that cannot be written — ends with one line on stderr
(``error: ...``) and exit status 1; usage errors (a missing FILE, a --bits that is not a
number) are one line too, with exit status 2.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path

from ._lazy import pandas as pd

COLUMNS = ("tensor", "scheme", "bits", "MSE", "SQNR dB", "cosine", "clip %", "bits per element")
EPILOG = """\
examples:
  python -m quantlib report weights.npy --schemes symmetric,asymmetric,nf4 --bits 4
  python -m quantlib report model.safetensors --tensor encoder.weight --schemes fp8_e4m3fn,mxfp4 --csv out.csv
  python -m quantlib report acts.npz --schemes symmetric --bits 8 --html report.html

FILE may be .npy, .npz, .csv, .safetensors or .onnx (read without unpickling). Without
--tensor every tensor in the file is reported. --bits sets each scheme's code width with the
scheme's own rule (for fixed_point the total width, for histogram 2**N bins); fixed-width
formats (fp8_*, mx*, nvfp4, nf4, q4_0, ...) ignore it and show '-' in the bits column.
Columns: MSE, SQNR in dB, cosine similarity, clip % (share of elements beyond the
representable range, integer schemes only) and bits per element (codes plus stored scales).
"""


class CliError(Exception):
    """A user-facing failure: printed as one line, exit status 1."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit status 2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {_one_line(message)} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m quantlib",
        description="quantlib: quantize tensors from the command line and report the error of each scheme.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    rep = sub.add_parser(
        "report", help="print a metrics table of schemes applied to the tensors of a file",
        description="Quantize the tensor(s) of FILE with each scheme and print a metrics table.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rep.add_argument("file", metavar="FILE", help="tensor file: .npy, .npz, .csv, .safetensors or .onnx")
    rep.add_argument("--tensor", metavar="NAME", help="report only this tensor of the file (default: all)")
    rep.add_argument("--schemes", metavar="A,B,...", default="symmetric,asymmetric",
                     help="comma-separated registry scheme names (default: symmetric,asymmetric); "
                          "see --list-schemes")
    rep.add_argument("--bits", metavar="N", type=int, default=8,
                     help="code width in bits, 2..16 (default 8); fixed-width formats ignore it")
    rep.add_argument("--csv", metavar="OUT", help="also write the table as CSV to OUT")
    rep.add_argument("--html", metavar="OUT", help="also write the table as a standalone HTML page to OUT")
    rep.add_argument("--list-schemes", action="store_true", help="list the scheme names and exit")
    return parser


def _schemes(raw: str) -> list[str]:
    import quantlib as ql

    names = [s.strip() for s in raw.split(",") if s.strip()]
    if not names:
        raise CliError("--schemes is empty; give one or more names, e.g. --schemes symmetric,nf4")
    unknown = [n for n in names if n not in ql.SCHEMES]
    if unknown:
        raise CliError(f"unknown scheme(s) {', '.join(map(repr, unknown))}; known: {', '.join(ql.SCHEMES)}")
    return list(dict.fromkeys(names))


def report(path: str, schemes: Sequence[str], bits: int, tensor: str | None = None) -> pd.DataFrame:
    """The metrics table: one row per (tensor, scheme)."""
    import quantlib as ql

    if not 2 <= bits <= 16:
        raise CliError(f"--bits must be in 2..16, got {bits}")
    p = Path(path)
    if not p.is_file():
        raise CliError(f"{path}: no such file")
    try:
        tensors = ql.load_tensors(p)
    except (ValueError, TypeError, OSError) as exc:
        raise CliError(str(exc)) from None
    if tensor is not None:
        if tensor not in tensors:
            names = list(tensors)
            shown = ", ".join(map(repr, names[:10])) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
            raise CliError(f"{p.name}: no tensor {tensor!r}; it holds {shown}")
        tensors = {tensor: tensors[tensor]}
    rows = []
    for name, x in tensors.items():
        for scheme in schemes:
            spec = ql.SCHEMES[scheme]
            settings = spec.at_bits(bits, spec.defaults())
            try:
                r = ql.Quantizer(scheme, **settings)(x)
                m = r.metrics(x)
            except (ValueError, TypeError) as exc:
                raise CliError(f"{scheme} on tensor {name!r}: {exc}") from None
            rows.append({"tensor": name, "scheme": scheme, "bits": bits if settings else None,
                         "MSE": m.mse, "SQNR dB": m.sqnr_db, "cosine": m.cosine_similarity,
                         "clip %": 100 * m.clip_ratio, "bits per element": m.bits_per_element})
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    df["bits"] = df["bits"].astype("Int64")
    return df


def format_table(df: pd.DataFrame) -> str:
    """The table as fixed-width text."""
    def g(v: float, spec: str) -> str:
        return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)

    formatters = {"MSE": lambda v: g(v, ".4g"),
                  "SQNR dB": lambda v: g(v, ".2f"), "cosine": lambda v: g(v, ".6f"), "clip %": lambda v: g(v, ".4f"),
                  "bits per element": lambda v: g(v, ".3f")}
    shown = df.copy()
    shown["bits"] = ["-" if pd.isna(v) else str(int(v)) for v in shown["bits"]]
    return shown.to_string(index=False, formatters=formatters, na_rep="-")


def _write(df: pd.DataFrame, out: str, kind: str) -> None:
    try:
        if kind == "csv":
            df.to_csv(out, index=False)
        else:
            body = df.to_html(index=False, float_format=lambda v: f"{v:.6g}", na_rep="-", border=0)
            Path(out).write_text(
                "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>quantlib report</title></head>\n"
                f"<body>\n<h1>quantlib report</h1>\n{body}\n</body></html>\n", encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot write {out}: {exc.strerror or exc}") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    if argv is None:
        argv = sys.argv[1:]
    if list(argv[:1]) == ["report"] and "--list-schemes" in argv:
        import quantlib as ql

        print("\n".join(f"{n:16s} {s.family}" for n, s in ql.SCHEMES.items()))
        return 0
    args = parser.parse_args(argv)
    try:
        schemes = _schemes(args.schemes)
        df = report(args.file, schemes, args.bits, args.tensor)
        if args.csv:
            _write(df, args.csv, "csv")
        if args.html:
            _write(df, args.html, "html")
        print(format_table(df))
    except CliError as exc:
        print(f"error: {_one_line(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # never a traceback: anything unexpected is still one line
        print(f"error: {type(exc).__name__}: {_one_line(str(exc))}", file=sys.stderr)
        return 1
    return 0


def _one_line(text: str) -> str:
    return " ".join(text.split())
