"""Command line: ``python -m quantlib report FILE --schemes a,b --bits N [--csv OUT] [--html OUT]``;
``python -m quantlib vectors FILE --scheme S [--set NAME=VALUE ...] --out OUT.npz [--manifest OUT.json]``
writes golden test vectors, ``python -m quantlib vectors --check OUT.npz`` re-checks them.

Every failure — a file the safe loaders refuse, an unknown scheme or tensor, settings a
scheme cannot apply, an output that cannot be written — ends with one line on stderr
(``error: ...``) and exit status 1; usage errors (a missing FILE, a --bits that is not a
number) are one line too, with exit status 2.
"""

from __future__ import annotations

import argparse
import json
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
                     help="code width in bits, 1..16 (symmetric: 2..16; default 8); fixed-width formats ignore it")
    rep.add_argument("--csv", metavar="OUT", help="also write the table as CSV to OUT")
    rep.add_argument("--html", metavar="OUT", help="also write the table as a standalone HTML page to OUT")
    rep.add_argument("--list-schemes", action="store_true", help="list the scheme names and exit")
    vec = sub.add_parser(
        "vectors", help="write golden test vectors of one configuration, or re-check a vector file",
        description="Quantize a tensor of FILE with one configuration and write its golden vectors (.npz: input, "
                    "codes, scales, dequantized and a manifest with sha256 of each array); or, with --check, "
                    "re-check a vector file against the current engine.",
        epilog=VECTORS_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    vec.add_argument("file", metavar="FILE", nargs="?", help="tensor file: .npy, .npz, .csv, .safetensors or .onnx")
    vec.add_argument("--tensor", metavar="NAME", help="the tensor of FILE (needed when it holds several)")
    vec.add_argument("--scheme", metavar="NAME", help="registry scheme name; see report --list-schemes")
    vec.add_argument("--set", metavar="NAME=VALUE", action="append", default=[], dest="settings",
                     help="a setting of the scheme (repeatable), e.g. --set bits=4 --set calibration=mse")
    vec.add_argument("--out", metavar="OUT.npz", help="where to write the vectors")
    vec.add_argument("--manifest", metavar="OUT.json",
                     help="also write the manifest as JSON (with --check: a kept manifest to compare with)")
    vec.add_argument("--check", metavar="VECTORS.npz", help="re-check this vector file instead of writing one")
    return parser


VECTORS_EPILOG = """\
examples:
  python -m quantlib vectors weights.npy --scheme q4_0 --out q4_0.npz --manifest q4_0.json
  python -m quantlib vectors model.safetensors --tensor fc.weight --scheme symmetric --set bits=4 --out v.npz
  python -m quantlib vectors --check q4_0.npz

A setting's VALUE is read as its type: an integer, a number, true/false, a name, or none for an
optional setting. --check exits with status 0 when the file is intact and the engine reproduces
every array exactly, else prints what no longer matches and exits with status 1.
"""


def _setting_value(scheme: str, item: str) -> tuple[str, object]:
    import quantlib as ql

    name, sep, raw = item.partition("=")
    if not sep or not name:
        raise CliError(f"--set {item!r}: expected NAME=VALUE")
    spec = ql.SCHEMES[scheme]
    try:
        s = spec.setting(name)
    except KeyError:
        raise CliError(f"scheme {scheme!r} has no setting {name!r}; its settings are "
                       f"{', '.join(x.name for x in spec.settings) or 'none'}") from None
    if raw.lower() == "none" and s.optional:
        return name, None
    try:
        if s.type is bool:
            if raw.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return name, raw.lower() in ("true", "1")
        return name, s.type(raw)
    except ValueError:
        raise CliError(f"--set {item!r}: {name} must be {s.type.__name__}") from None


def vectors(args: argparse.Namespace) -> str:
    """Write golden vectors (or, with --check, re-check a file); returns the line to print."""
    import quantlib as ql
    from .golden import manifest_json

    if args.check:
        kept = None
        if args.manifest:
            try:
                kept = json.loads(Path(args.manifest).read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise CliError(f"cannot read the manifest {args.manifest}: {exc}") from None
        if not Path(args.check).is_file():
            raise CliError(f"{args.check}: no such file")
        try:
            ql.check_golden_vectors(args.check, kept)
        except (ValueError, OSError) as exc:
            raise CliError(str(exc)) from None
        return f"OK: {args.check} is intact and the engine reproduces every array exactly"
    if not args.file or not args.scheme or not args.out:
        raise CliError("vectors needs FILE, --scheme and --out (or --check VECTORS.npz)")
    scheme = _schemes(args.scheme)[0]
    settings = dict(_setting_value(scheme, item) for item in args.settings)
    p = Path(args.file)
    if not p.is_file():
        raise CliError(f"{args.file}: no such file")
    try:
        tensors = ql.load_tensors(p)
    except (ValueError, TypeError, OSError) as exc:
        raise CliError(str(exc)) from None
    names = list(tensors)
    name = args.tensor if args.tensor is not None else (names[0] if len(names) == 1 else None)
    if name not in tensors:
        shown = ", ".join(map(repr, names[:10])) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        what = f"no tensor {args.tensor!r}" if args.tensor is not None else "several tensors; choose one with --tensor"
        raise CliError(f"{p.name}: {what}; it holds {shown}")
    try:
        data, manifest = ql.golden_vectors(tensors[name], scheme, **settings)
    except (ValueError, TypeError) as exc:
        raise CliError(f"{scheme} on tensor {name!r}: {exc}") from None
    try:
        Path(args.out).write_bytes(data)
        if args.manifest:
            Path(args.manifest).write_text(manifest_json(manifest) + "\n", encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot write {exc.filename}: {exc.strerror or exc}") from None
    also = f" and {args.manifest}" if args.manifest else ""
    return (f"wrote {args.out}{also}: {manifest['label']} on tensor {name!r} ({len(manifest['arrays'])} arrays, "
            f"{manifest['bits_per_element']:.4g} bits per element, SQNR {manifest['sqnr_db']:.2f} dB)")


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

    from ._checks import MAX_BITS, MIN_BITS

    if not MIN_BITS <= bits <= MAX_BITS:  # a scheme's own bits setting may start higher: it says so below
        raise CliError(f"--bits must be in {MIN_BITS}..{MAX_BITS}, got {bits}")
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
        if args.command == "vectors":
            print(vectors(args))
            return 0
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
