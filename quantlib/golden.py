"""Golden test vectors: exact reference outputs of any configuration, for kernel writers to test against.

:func:`golden_vectors` quantizes a tensor and returns a ``.npz`` file (as bytes) and its manifest.
The ``.npz`` holds the arrays below and the manifest itself (``manifest``, UTF-8 JSON as uint8), so
one file is self-checking; it is written without pickles and read with ``allow_pickle=False``.

Arrays (those the configuration has): ``input`` (float32), ``codes`` (the scheme's own code dtype),
``dequantized`` (float32), ``scale`` / ``zero_point`` (affine params), ``block_scales`` /
``block_offsets`` / ``global_scale`` (block formats: the values as stored), ``levels`` (a codebook),
``packed`` (uint8: the bytes of the format's own memory layout, where its spec defines one — its
``pack`` hook; the manifest's ``packed_layout`` names it).

Manifest: ``scheme``, ``family``, ``label``, ``settings`` (every setting, defaults included),
``convention`` and ``rounding`` (the scheme's settings of those names, else what its spec says),
``formula`` (LaTeX), ``description``, ``bits_per_element``, ``mse``, ``sqnr_db``, ``shape``,
``versions`` (python, numpy, ml_dtypes, quantlib) and ``arrays``: for each array its dtype, shape and
the sha256 of its C-order bytes.

:func:`check_golden_vectors` re-checks a file: that every array still has the dtype, shape and
sha256 its manifest records (a changed file fails here), then that the current engine, run on the
stored input with the stored settings, reproduces every array bit for bit.
"""

from __future__ import annotations

import hashlib
import io
import json
import platform
import zipfile
from collections.abc import Mapping
from os import PathLike
from typing import Any

import numpy as np

from ._checks import as_float_array
from .metrics import mse_sqnr
from .schemes import Quantizer, QuantResult

FORMAT = "quantlib golden vectors"
FORMAT_VERSION = 1
MAX_FILE_BYTES = 2**31  # what a check reads at most (a 16 M tensor's vectors are ~250 MB)


def _arrays(x: np.ndarray, r: QuantResult, spec: Any) -> dict[str, np.ndarray]:
    out = {"input": x, "codes": np.asarray(r.codes), "dequantized": np.asarray(r.dequantized)}
    if spec.pack is not None:
        out["packed"] = np.asarray(spec.pack(r)[0], np.uint8)
    if r.params is not None:
        out["scale"] = np.asarray(r.params.scale, np.float32)
        out["zero_point"] = np.asarray(r.params.zero_point)
    if r.blocks is not None:
        out["block_scales"] = np.asarray(r.blocks.scales)
        if r.blocks.offsets is not None:
            out["block_offsets"] = np.asarray(r.blocks.offsets)
        if r.blocks.global_scale is not None:
            out["global_scale"] = np.asarray(r.blocks.global_scale, np.float64)
    if r.levels is not None:
        out["levels"] = np.asarray(r.levels)
    return {k: np.ascontiguousarray(v) for k, v in out.items()}


def sha256_of(a: np.ndarray) -> str:
    """sha256 of the array's C-order bytes (its dtype and shape are recorded beside it)."""
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version(), "numpy": np.__version__}
    for dist, key in (("ml_dtypes", "ml_dtypes"), ("quantization-explorer", "quantlib")):
        try:
            out[key] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[key] = "not installed"
    return out


def _describe(spec: Any, settings: Mapping[str, Any], key: str) -> str:
    return str(settings[key]) if key in settings else spec.description


def golden_vectors(x: object, scheme: str, **settings: Any) -> tuple[bytes, dict[str, Any]]:
    """``(npz bytes, manifest)`` for ``scheme`` with ``settings`` on ``x`` (see the module doc).

    Raises what the scheme raises for a configuration it refuses (ValueError / TypeError)."""
    x = as_float_array(x)
    q = Quantizer(scheme, **settings)
    r = q(x)
    arrays = _arrays(x, r, q.spec)
    mse, sqnr = mse_sqnr(x, r.dequantized)
    manifest: dict[str, Any] = {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "scheme": q.name, "family": q.spec.family, "label": q.label, "settings": dict(q.settings),
        "convention": _describe(q.spec, q.settings, "convention"), "rounding": _describe(q.spec, q.settings, "rounding"),
        "formula": q.spec.formula, "description": q.spec.description,
        "bits_per_element": float(r.bits_per_element), "mse": float(mse), "sqnr_db": float(sqnr),
        "shape": list(x.shape), "versions": _versions(),
        "packed_layout": q.spec.pack(r)[1] if q.spec.pack is not None else None,
        "arrays": {k: {"dtype": v.dtype.str, "shape": list(v.shape), "sha256": sha256_of(v)} for k, v in arrays.items()},
    }
    doc = json.dumps(manifest, indent=2, sort_keys=True, default=_jsonable)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays, manifest=np.frombuffer(doc.encode(), np.uint8))
    return buf.getvalue(), json.loads(doc)


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(f"not JSON serialisable: {type(v).__name__}")


def manifest_json(manifest: Mapping[str, Any]) -> str:
    """The manifest as the JSON text a download holds."""
    return json.dumps(dict(manifest), indent=2, sort_keys=True)


def _read(source: bytes | str | PathLike | Any) -> dict[str, np.ndarray]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, PathLike)):
        with open(source, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    else:
        data = source.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(f"the file is larger than {MAX_FILE_BYTES:,} bytes; golden vector files are smaller")
    try:
        z = np.load(io.BytesIO(data), allow_pickle=False)
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise ValueError("it is a single .npy array, not an .npz archive")
        with z:
            return {k: z[k] for k in z.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(f"not a golden vector file (.npz): {exc}") from None


def _manifest(arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    raw = arrays.pop("manifest", None)
    if raw is None or raw.dtype != np.uint8 or raw.ndim != 1:
        raise ValueError("the file has no manifest (a 'manifest' array of UTF-8 JSON); it is not a golden vector file")
    try:
        m = json.loads(raw.tobytes().decode())
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"the manifest is not valid JSON: {exc}") from None
    if not isinstance(m, dict) or m.get("format") != FORMAT or not isinstance(m.get("arrays"), dict):
        raise ValueError(f"the manifest is not a {FORMAT!r} manifest")
    return m


def _mismatch(name: str, stored: np.ndarray, now: np.ndarray) -> str | None:
    if stored.dtype != now.dtype or stored.shape != now.shape:
        return f"{name}: the engine now gives dtype {now.dtype} shape {now.shape}, the file holds {stored.dtype} {stored.shape}"
    if stored.tobytes() == now.tobytes():
        return None
    a, b = np.ascontiguousarray(stored).reshape(-1), np.ascontiguousarray(now).reshape(-1)
    diff = np.flatnonzero(np.any(a.view(np.uint8).reshape(a.size, -1) != b.view(np.uint8).reshape(b.size, -1), axis=1))
    i = int(diff[0])
    return f"{name}: {diff.size} of {a.size} value(s) differ, the first at flat index {i} (file {a[i]!r}, engine now {b[i]!r})"


def check_golden_vectors(source: bytes | str | PathLike | Any, manifest: Mapping[str, Any] | None = None, *,
                         raises: bool = True) -> bool:
    """True when the file ``source`` (bytes, a path or a binary file) is intact and the current engine
    reproduces it exactly; otherwise a ValueError naming what no longer matches (``raises=False``:
    False instead). ``manifest``: a separately kept manifest, which must equal the file's own.
    A file that is not a golden vector file always raises ValueError."""
    arrays = _read(source)
    m = _manifest(arrays)
    problems: list[str] = []
    if manifest is not None and json.loads(manifest_json(manifest)) != m:
        diff = sorted(k for k in set(m) | set(manifest) if m.get(k) != dict(manifest).get(k))
        problems.append(f"the manifest given differs from the file's own in {diff}")
    listed = m["arrays"]
    for name in sorted(set(arrays) - set(listed)):
        problems.append(f"{name}: an array the manifest does not list")
    for name, info in listed.items():
        a = arrays.get(name)
        if a is None:
            problems.append(f"{name}: listed in the manifest but missing from the file")
        elif a.dtype.str != info.get("dtype") or list(a.shape) != info.get("shape"):
            problems.append(f"{name}: dtype {a.dtype.str} shape {list(a.shape)} in the file, "
                            f"{info.get('dtype')} {info.get('shape')} in the manifest")
        elif sha256_of(a) != info.get("sha256"):
            problems.append(f"{name}: sha256 {sha256_of(a)[:16]}… does not match the manifest's "
                            f"{str(info.get('sha256'))[:16]}… (the file was changed)")
    if not problems:
        try:
            q = Quantizer(m["scheme"], **m["settings"])
            now = _arrays(arrays["input"], q(arrays["input"]), q.spec)
        except (ValueError, TypeError, KeyError) as exc:
            problems.append(f"the engine no longer runs {m.get('scheme')!r} with these settings: {exc}")
        else:
            for name in sorted(set(now) | set(listed)):
                if name not in now or name not in arrays:
                    problems.append(f"{name}: {'no longer made by the engine' if name not in now else 'new in the engine'}")
                elif (msg := _mismatch(name, arrays[name], now[name])) is not None:
                    problems.append(msg)
    if problems:
        if raises:
            raise ValueError(f"golden vectors of {m.get('label', m.get('scheme'))!r} do not match: " + "; ".join(problems))
        return False
    return True
