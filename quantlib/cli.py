"""Command line: ``python -m quantlib report FILE --schemes a,b --bits N [--csv OUT] [--html OUT]``;
``python -m quantlib vectors FILE --scheme S [--set NAME=VALUE ...] --out OUT.npz [--manifest OUT.json]``
writes golden test vectors, ``python -m quantlib vectors --check OUT.npz`` re-checks them;
``python -m quantlib checkpoint PATH --schemes a,b [--bits N] [--workers N] [--scheduler ADDRESS] --out OUT.parquet
[--html OUT.html]`` reports a whole checkpoint on Dask (:func:`quantlib.checkpoint_report`).
``python -m quantlib linear --weight W.npy --inputs X.npy --methods rtn gptq --bits 4`` (or
``--model minilm --layer NAME``) compares linear-layer methods on one layer.

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
    ck = sub.add_parser(
        "checkpoint", help="report every tensor of a whole checkpoint under each scheme (on Dask)",
        description="Quantize every tensor of a checkpoint with each scheme, a slice at a time on Dask workers, and "
                    "write the per-tensor table (parquet) with the size under each scheme and the tensors to keep "
                    "in 16 bits.",
        epilog=CHECKPOINT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ck.add_argument("path", metavar="PATH", help="a .safetensors file, a folder with model.safetensors.index.json, "
                                                 "or a .gguf file")
    ck.add_argument("--schemes", metavar="A,B,...", default="symmetric,nf4",
                    help="comma-separated registry scheme names (default: symmetric,nf4)")
    ck.add_argument("--bits", metavar="N", type=int, default=None,
                    help="code width of the bit-swept schemes, 1..16 (symmetric: 2..16; default: each scheme's own default)")
    ck.add_argument("--workers", metavar="N", type=int, default=None,
                    help="worker processes of the local Dask cluster (default: the cores; 0: no cluster)")
    ck.add_argument("--scheduler", metavar="ADDRESS",
                    help="use this running Dask cluster, e.g. tcp://10.0.0.5:8786 (its workers must see PATH)")
    ck.add_argument("--chunk-mb", metavar="MB", type=float, default=32.0,
                    help="float32 megabytes (MiB) of one slice of rows of a large tensor (default 32)")
    ck.add_argument("--out", metavar="OUT.parquet", required=True, help="where to write the report (parquet)")
    ck.add_argument("--html", metavar="OUT.html", help="also write a standalone HTML page: heatmaps, totals, table")
    lin = sub.add_parser(
        "linear", help="compare linear-layer methods (rtn, gptq, awq, ...) on one layer and its inputs",
        description="Quantize one linear layer y = x W^T with each method, calibrated on the first tokens of the "
                    "inputs, and print bits per element, the relative output error on the calibration and the "
                    "held-out tokens, and the time each method took.",
        epilog=LINEAR_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    lin.add_argument("--weight", metavar="FILE", help="the weight (out_features, in_features): .npy, .npz, "
                                                     ".safetensors, .csv or .onnx")
    lin.add_argument("--weight-tensor", metavar="NAME", help="the tensor of --weight (needed when it holds several)")
    lin.add_argument("--inputs", metavar="FILE", help="the layer's inputs (tokens, in_features), same formats")
    lin.add_argument("--inputs-tensor", metavar="NAME", help="the tensor of --inputs (needed when it holds several)")
    lin.add_argument("--model", metavar="NAME", help="a shipped model instead of files (minilm_l6, digits_mlp; a "
                                                     "unique prefix such as minilm will do)")
    lin.add_argument("--layer", metavar="NAME", help="with --model: the linear layer, calibrated on its real inputs")
    lin.add_argument("--methods", metavar="METHOD", nargs="+", help="linear methods (default: all); see "
                                                                     "--list-methods")
    lin.add_argument("--bits", metavar="N", type=int, default=4, help="weight code width, 1..16 as each method allows (default 4)")
    lin.add_argument("--heldout-share", metavar="S", type=float, default=0.25,
                     help="share of the tokens (the last ones) kept apart to measure on (default 0.25; 0: none)")
    lin.add_argument("--weights", metavar="SCHEME", help="registry weight scheme for the methods that round with "
                                                         "one (rtn, ...; default: each method's own)")
    lin.add_argument("--activations", metavar="SCHEME", help="registry scheme for the layer inputs (default: each "
                                                             "method's own, float for most)")
    lin.add_argument("--activation-bits", metavar="N", type=int, default=8,
                     help="code width of --activations (default 8)")
    lin.add_argument("--set", metavar="METHOD.NAME=VALUE", action="append", default=[], dest="settings",
                     help="a method's setting (repeatable), e.g. --set gptq.group_size=64")
    lin.add_argument("--out", metavar="OUT.csv", help="also write the table as CSV to OUT.csv")
    lin.add_argument("--list-methods", action="store_true", help="list the method names and exit")
    return parser


CHECKPOINT_EPILOG = """\
examples:
  python -m quantlib checkpoint model.safetensors --schemes symmetric,nf4,q4_k --bits 4 --out report.parquet
  python -m quantlib checkpoint llama-8b/ --schemes nf4,fp8_e4m3fn --workers 2 --out r.parquet --html r.html
  python -m quantlib checkpoint /shared/llama-70b/ --scheduler tcp://10.0.0.5:8786 --out r.parquet

The report is written only when every tensor is done; a file that cannot be read or a scheduler
that cannot be reached ends with one error line and no report. Progress (tensors, bytes/s, ETA)
goes to stderr.
"""


def checkpoint(args: argparse.Namespace) -> str:
    """Run a checkpoint report and write it; returns the summary to print."""
    import os

    from . import checkpoint as ck
    from .checkpoint_figures import report_html

    schemes = _schemes(args.schemes)
    if args.bits is not None and not 1 <= args.bits <= 16:
        raise CliError(f"--bits must be in 1..16 (symmetric: 2..16), got {args.bits}")
    if not args.chunk_mb > 0:
        raise CliError(f"--chunk-mb must be > 0, got {args.chunk_mb}")
    if not Path(args.path).exists():
        raise CliError(f"{args.path}: no such file or folder")

    def bar(p: ck.Progress) -> None:
        filled = int(30 * p.tensors_done / max(p.tensors_total, 1))
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {p.line()}   ")
        sys.stderr.flush()

    try:
        df = ck.checkpoint_report(args.path, schemes, bits=args.bits, workers=args.workers, scheduler=args.scheduler,
                                  chunk_bytes=max(4, int(args.chunk_mb * 2**20)), progress=bar)
    except (ValueError, TypeError) as exc:
        raise CliError(str(exc)) from None
    finally:
        sys.stderr.write("\n")
    for out, data in ((args.out, lambda: ck.report_parquet(df)),
                      (args.html, lambda: report_html(df, Path(args.path).name).encode("utf-8"))):
        if not out:
            continue
        tmp = f"{out}.partial"
        try:
            Path(tmp).write_bytes(data())
            os.replace(tmp, out)
        except OSError as exc:
            raise CliError(f"cannot write {out}: {exc.strerror or exc}") from None
    totals = ck.size_totals(df)
    lines = [f"wrote {args.out}" + (f" and {args.html}" if args.html else "") +
             f": {df['tensor'].nunique()} tensors × {len(schemes)} schemes"]
    lines += [f"  {r.scheme:<40s} {r.bytes / 1e6:12.2f} MB  {r.bits_per_element:6.3f} bits/element"
              for r in totals.itertuples()]
    keep = ck.keep_in_16bit(df)
    if not keep.empty:
        lines.append("keep in 16 bits (SQNR far below the scheme's median):")
        lines += [f"  {r.scheme}: {r.tensor} ({r.sqnr_db:.1f} dB)" for r in keep.itertuples()]
    return "\n".join(lines)


LINEAR_EPILOG = """\
examples:
  python -m quantlib linear --weight w.npy --inputs x.npy --methods rtn gptq --bits 4 --out table.csv
  python -m quantlib linear --model minilm --layer encoder.layer.1.intermediate.dense.weight --bits 3
  python -m quantlib linear --weight w.npy --inputs x.npy --methods rtn --weights asymmetric --activations symmetric

The weight is (out_features, in_features) as PyTorch stores nn.Linear; the inputs
(tokens, in_features). The first tokens calibrate, the last --heldout-share measure.
Columns: bits per element (codes plus every stored scale, zero-point and kept outlier),
the relative output error ||y_q - x W^T||^2 / ||x W^T||^2 on the calibration and the
held-out tokens, and the method's time in milliseconds.
"""


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


def _one_tensor(path: str, name: str | None, role: str):
    """The tensor ``name`` of the file at ``path`` (the only one when ``name`` is None)."""
    import quantlib as ql

    p = Path(path)
    if not p.is_file():
        raise CliError(f"{path}: no such file")
    try:
        tensors = ql.load_tensors(p)
    except (ValueError, TypeError, OSError) as exc:
        raise CliError(str(exc)) from None
    names = list(tensors)
    pick = name if name is not None else (names[0] if len(names) == 1 else None)
    if pick not in tensors:
        shown = ", ".join(map(repr, names[:10])) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        what = f"no tensor {name!r}" if name is not None else f"several tensors; choose one with --{role}-tensor"
        raise CliError(f"{p.name}: {what}; it holds {shown}")
    return tensors[pick]


def _linear_source(args: argparse.Namespace) -> tuple:
    """(weight, inputs, label) from --weight/--inputs or --model/--layer."""
    import quantlib as ql

    if args.model is not None:
        if args.weight or args.inputs:
            raise CliError("give either --model and --layer or --weight and --inputs, not both")
        found = [n for n in ql.MODELS if n == args.model] or [n for n in ql.MODELS if n.startswith(args.model)]
        if len(found) != 1:
            raise CliError(f"unknown model {args.model!r}; known: {', '.join(ql.MODELS)}")
        m = ql.load_model(found[0])
        if not args.layer:
            raise CliError(f"--model needs --layer; {found[0]} has {len(m.linear_layers)} linear layers, e.g. "
                           f"{', '.join(m.linear_layers[:3])}")
        try:
            x = m.calibration_inputs(args.layer)
        except ValueError as exc:
            raise CliError(str(exc)) from None
        return m.weights[args.layer], x, f"{found[0]} {args.layer}"
    if not args.weight or not args.inputs:
        raise CliError("linear needs --weight FILE and --inputs FILE (or --model NAME --layer NAME)")
    w = _one_tensor(args.weight, args.weight_tensor, "weight")
    x = _one_tensor(args.inputs, args.inputs_tensor, "inputs")
    if w.ndim != 2:
        raise CliError(f"{args.weight}: the weight must be 2-D (out_features, in_features), got shape {w.shape}")
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] != w.shape[1]:
        hint = " (is the weight stored (in, out)? transpose it)" if x.ndim == 2 and x.shape[1] == w.shape[0] else ""
        raise CliError(f"{args.inputs}: inputs of shape {x.shape} do not match the weight {w.shape}: they need "
                       f"(tokens, {w.shape[1]}){hint}")
    return w, x, Path(args.weight).name


def _method_settings(methods: Sequence[str], items: Sequence[str]) -> dict[str, dict]:
    import quantlib as ql

    out: dict[str, dict] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        method, dot, name = key.partition(".")
        if not sep or not dot or not name:
            raise CliError(f"--set {item!r}: expected METHOD.NAME=VALUE")
        if method not in methods:
            raise CliError(f"--set {item!r}: method {method!r} is not among --methods {' '.join(methods)}")
        spec = ql.LINEAR_METHODS[method]
        try:
            s = spec.setting(name)
        except KeyError:
            raise CliError(f"method {method!r} has no setting {name!r}; its settings are "
                           f"{', '.join(x.name for x in spec.settings) or 'none'}") from None
        out.setdefault(method, {})[name] = _typed(s, raw, item)
    return out


def _typed(s, raw: str, item: str) -> object:
    if raw.lower() == "none" and s.optional:
        return None
    try:
        if s.type is bool:
            if raw.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return raw.lower() in ("true", "1")
        return s.type(raw)
    except ValueError:
        raise CliError(f"--set {item!r}: {s.name} must be {s.type.__name__}") from None


def linear(args: argparse.Namespace) -> pd.DataFrame:
    """The methods table of ``python -m quantlib linear``."""
    import quantlib as ql
    from .linear.compare import compare_methods

    methods = args.methods or list(ql.LINEAR_METHODS)
    unknown = [m for m in methods if m not in ql.LINEAR_METHODS]
    if unknown:
        raise CliError(f"unknown method(s) {', '.join(map(repr, unknown))}; known: {', '.join(ql.LINEAR_METHODS)}")
    if not 1 <= args.bits <= 16:
        raise CliError(f"--bits must be in 1..16 (each method and scheme says which it takes), got {args.bits}")
    settings = _method_settings(methods, args.settings)
    weights = _schemes(args.weights)[0] if args.weights else None
    acts = None
    if args.activations:
        name = _schemes(args.activations)[0]
        spec = ql.SCHEMES[name]
        acts = (name, spec.at_bits(args.activation_bits, spec.defaults()))
    w, x, label = _linear_source(args)
    try:
        df = compare_methods(w, x, methods, bits=args.bits, heldout_share=args.heldout_share, settings=settings,
                             weights=weights, activations=acts)
    except (ValueError, TypeError) as exc:
        raise CliError(f"{label}: {exc}") from None
    return df


def format_linear(df: pd.DataFrame) -> str:
    shown = pd.DataFrame({
        "method": df["method"], "bits": ["-" if pd.isna(v) else str(int(v)) for v in df["bits"]],
        "bits/element": [f"{v:.3f}" for v in df["bits_per_element"]],
        "error (calibration)": [f"{v:.4g}" for v in df["calibration_error"]],
        "error (held-out)": ["-" if math.isnan(v) else f"{v:.4g}" for v in df["heldout_error"]],
        "ms": [f"{1e3 * v:.1f}" for v in df["seconds"]],
    })
    return shown.to_string(index=False)


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
    if list(argv[:1]) == ["linear"] and "--list-methods" in argv:
        import quantlib as ql

        print("\n".join(f"{n:12s} {m.title}" for n, m in ql.LINEAR_METHODS.items()))
        return 0
    args = parser.parse_args(argv)
    try:
        if args.command == "vectors":
            print(vectors(args))
            return 0
        if args.command == "checkpoint":
            print(checkpoint(args))
            return 0
        if args.command == "linear":
            df = linear(args)
            if args.out:
                _write(df, args.out, "csv")
            print(format_linear(df))
            for method, why in df.attrs.get("refused", {}).items():
                print(f"not at {args.bits} bits: {method}: {_one_line(why)}", file=sys.stderr)
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
