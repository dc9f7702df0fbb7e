"""Safe tensor loaders: .npy, .npz, .csv, .safetensors, .onnx, .gguf -> {name: float32 array}.

Nothing is ever unpickled (``allow_pickle=False`` everywhere) and nothing a header merely
claims is allocated: sizes are checked against the bytes actually present before any array
is built, so a 100-byte file claiming 10**12 elements is refused at once. Every refusal is
a ``ValueError`` of the form ``"<file name>: <reason>"``.

Accepted: real floating and integer dtypes (integers are converted to float32), any shape
with at least one element (2-D tensors keep their shape). Refused: pickled or object
arrays, structured, complex and boolean dtypes, truncated files, empty files and
zero-size or 0-d tensors, NaN/Inf (with the count), unknown extensions, files over
``max_bytes``, ONNX initializers stored outside the file. GGUF (llama.cpp): every tensor, quantized
types dequantized by gguf-py; :func:`gguf_types` tells their stored types (see :mod:`quantlib.gguf_file`).
"""

from __future__ import annotations

import io
import json
import math
import struct
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ._checks import as_float_array

MAX_FILE_BYTES = 200 * 2**20  # matches server.maxUploadSize in .streamlit/config.toml
MAX_TENSORS = 4096
MAX_NPY_HEADER = 10_000  # bytes; numpy's own safe default for untrusted files
EXTENSIONS = (".npy", ".npz", ".csv", ".safetensors", ".onnx", ".gguf")
_ST_DTYPES = {"F16": np.float16, "F32": np.float32, "F64": np.float64, "I8": np.int8, "U8": np.uint8,
              "I16": np.int16, "U16": np.uint16, "I32": np.int32, "U32": np.uint32, "I64": np.int64,
              "U64": np.uint64, "BF16": None}


class _Refused(ValueError):
    pass


def load_tensors(source: str | Path | BinaryIO | bytes, *, name: str | None = None,
                 max_bytes: int = MAX_FILE_BYTES) -> dict[str, np.ndarray]:
    """Read every tensor in a file into ``{name: float32 array}``.

    ``source`` is a path, an open binary file / upload (anything with ``read`` or
    ``getvalue``; its ``name`` attribute gives the extension) or raw bytes (then ``name``
    is required). Single-array formats (.npy, .csv) use the file's stem as the tensor name.
    """
    fname, data = _read(source, name, max_bytes)
    ext = Path(fname).suffix.lower()
    try:
        if ext not in EXTENSIONS:
            raise _Refused(f"unknown extension {ext or '(none)'!r}; accepted: {', '.join(EXTENSIONS)}")
        if not data:
            raise _Refused("the file is empty")
        raw = {".npy": _npy, ".npz": _npz, ".csv": _csv, ".safetensors": _safetensors, ".onnx": _onnx,
               ".gguf": _gguf}[ext](data, Path(fname).stem)
        if not raw:
            raise _Refused("the file holds no tensors")
        return {k: _to_float(v, k) for k, v in raw.items()}
    except _Refused as exc:
        raise ValueError(f"{fname}: {exc}") from None


def gguf_types(source: str | Path | BinaryIO | bytes, *, name: str | None = None,
               max_bytes: int = MAX_FILE_BYTES) -> dict[str, str]:
    """``{tensor name: stored ggml type}`` of a .gguf file (``"Q4_K"``, ``"F16"``, ...), the names
    :func:`load_tensors` gives its tensors; ``source`` as for :func:`load_tensors`."""
    from .gguf_file import GGUFError, gguf_types as types

    fname, data = _read(source, name or ("a.gguf" if isinstance(source, (bytes, bytearray)) else None), max_bytes)
    try:
        return types(data)
    except GGUFError as exc:
        raise ValueError(f"{fname}: {exc}") from None


#: Stored types whose values load exactly as float32 (every value of the type is a float32).
EXACT_IN_FLOAT32 = frozenset({"F32", "F16", "BF16", "float32", "float16", "bfloat16"})


def is_block_type(stored: str) -> bool:
    """Whether a stored type (:func:`stored_types`) is one of ggml's block types (Q4_0, Q4_K, IQ2_XXS,
    MXFP4 …): values kept as codes and block scales, loaded dequantized, so they already lie on that
    type's grid. Read from gguf-py's table of block sizes (a block of more than one value)."""
    from gguf.constants import GGML_QUANT_SIZES

    return any(t.name == stored and size > 1 for t, (size, _) in GGML_QUANT_SIZES.items())


def stored_types(source: str | Path | BinaryIO | bytes, *, name: str | None = None,
                 max_bytes: int = MAX_FILE_BYTES) -> dict[str, str]:
    """``{tensor name: how the file stores it}`` for the names :func:`load_tensors` gives, which turns
    every tensor into float32: a .gguf's ggml type (``"Q4_K"``, ``"F16"``), a .safetensors dtype
    (``"F16"``, ``"BF16"``, ``"I8"``), numpy's dtype name for .npy / .npz / .onnx (``"float16"``) and
    ``"text"`` for .csv. ``source`` as for :func:`load_tensors`; the same refusals.

    Types in :data:`EXACT_IN_FLOAT32` load exactly; other float types are rounded to float32, integers
    converted, and ggml's block types (Q4_0, Q4_K …) dequantized: their values already lie on that
    type's grid."""
    fname, data = _read(source, name, max_bytes)
    ext = Path(fname).suffix.lower()
    try:
        if ext == ".gguf":
            from .gguf_file import GGUFError, gguf_types as types

            try:
                return types(data)
            except GGUFError as exc:
                raise _Refused(str(exc)) from None
        if ext == ".safetensors":
            n = safetensors_header_length(data[:8], len(data))
            return {k: m["dtype"] for k, m in safetensors_header(data[8 : 8 + n], len(data) - 8 - n).items()}
        if ext == ".csv":
            return dict.fromkeys(_csv(data, Path(fname).stem), "text")
        if ext in (".npy", ".npz", ".onnx"):
            return {k: a.dtype.name for k, a in {".npy": _npy, ".npz": _npz, ".onnx": _onnx}[ext](data, Path(fname).stem).items()}
        raise _Refused(f"unknown extension {ext or '(none)'!r}; accepted: {', '.join(EXTENSIONS)}")
    except _Refused as exc:
        raise ValueError(f"{fname}: {exc}") from None


def _gguf(data: bytes, stem: str) -> dict[str, np.ndarray]:
    from .gguf_file import GGUFError, read_gguf

    try:
        return read_gguf(data)
    except GGUFError as exc:
        raise _Refused(str(exc)) from None


def _read(source, name, max_bytes) -> tuple[str, bytes]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        if not name:
            raise ValueError("raw bytes need a file name (for the extension), e.g. name='weights.npy'")
        data = bytes(source)
    elif isinstance(source, (str, Path)):
        path = Path(source)
        name = name or path.name
        size = path.stat().st_size
        if size > max_bytes:
            raise ValueError(f"{name}: the file has {size:,} bytes, over the {max_bytes:,}-byte limit")
        data = path.read_bytes()
    else:
        name = name or getattr(source, "name", None)
        if not name:
            raise ValueError("the file object has no name; pass name='…' so its format is known")
        size = getattr(source, "size", None)
        if size is not None and size > max_bytes:
            raise ValueError(f"{name}: the file has {size:,} bytes, over the {max_bytes:,}-byte limit")
        if hasattr(source, "getvalue"):
            data = source.getvalue()
        else:
            data = source.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"{name}: the file has {len(data):,} bytes or more, over the {max_bytes:,}-byte limit")
    return str(name), data


def _to_float(a: np.ndarray, key: str) -> np.ndarray:
    kind = a.dtype.kind
    if kind == "c":
        raise _Refused(f"tensor {key!r} is complex ({a.dtype}); only real numbers can be quantized")
    if kind == "b":
        raise _Refused(f"tensor {key!r} is boolean; only real numbers can be quantized")
    if kind not in "fiu":
        raise _Refused(f"tensor {key!r} has dtype {a.dtype}, which is not numeric")
    if a.ndim == 0:
        raise _Refused(f"tensor {key!r} is a 0-d scalar; nothing to quantize")
    if a.size == 0:
        raise _Refused(f"tensor {key!r} is empty (shape {a.shape})")
    try:
        out = as_float_array(a, f"tensor {key!r}")
    except (ValueError, TypeError) as exc:
        raise _Refused(str(exc)) from None
    return np.array(out, dtype=np.float32)  # an owned copy: never a view of the file's bytes


# ----------------------------------------------------------------------- .npy
def _npy_header(f: BinaryIO, available: int, key: str) -> tuple[np.dtype, tuple[int, ...], bool, int, int]:
    """Parse a .npy header; check the data it claims fits in ``available`` bytes.

    Returns ``(dtype, shape, fortran_order, data_offset, count)``."""
    try:
        start = f.tell()
        if f.read(6) != b"\x93NUMPY":
            raise _Refused(f"{key}: not a .npy file: it lacks the signature that every file written by "
                           "numpy.save starts with. Save the array with numpy.save, or give the file the extension "
                           "of its real format")
        f.seek(start)
        version = np.lib.format.read_magic(f)
        reader = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}.get(version)
        if reader is None:
            raise _Refused(f"{key}: unsupported .npy version {version}")
        width = 2 if version == (1, 0) else 4
        pos = f.tell()
        raw_len = f.read(width)
        f.seek(pos)
        if len(raw_len) == width:
            (header_len,) = struct.unpack("<H" if width == 2 else "<I", raw_len)
            if header_len > available - pos - width:
                raise _Refused(f"{key}: not a valid .npy header (it declares {header_len:,} header bytes but "
                               f"the file ends {max(available - pos - width, 0):,} bytes later; truncated or corrupt)")
            if header_len > MAX_NPY_HEADER:
                raise _Refused(f"{key}: the .npy header declares {header_len:,} bytes, over the "
                               f"{MAX_NPY_HEADER:,}-byte limit (a forged or hostile file)")
        shape, fortran, dtype = reader(f, max_header_size=MAX_NPY_HEADER)
    except _Refused:
        raise
    except Exception as exc:  # numpy raises ValueError/TypeError/SyntaxError for garbage headers
        raise _Refused(f"{key}: not a valid .npy header ({exc})") from None
    if dtype.hasobject:
        raise _Refused(f"{key}: holds Python objects (a pickled array); refused — only numeric arrays are read")
    if dtype.names is not None or dtype.subdtype is not None:
        raise _Refused(f"{key}: structured dtype {dtype}; only plain numeric arrays are read")
    shape = tuple(shape)
    if any(n < 0 for n in shape):
        raise _Refused(f"{key}: the header declares a negative dimension in shape {shape} (forged)")
    count = math.prod(shape)  # exact Python ints: no int64 overflow on forged shapes
    if shape and count == 0:
        raise _Refused(f"{key}: the array is empty (shape {shape}); there is nothing to quantize")
    need = count * dtype.itemsize
    header_end = f.tell()
    if need > available - header_end:
        raise _Refused(f"{key}: the header claims {need:,} bytes of data but the file holds {max(available - header_end, 0):,} (truncated or forged)")
    return dtype, shape, fortran, header_end, count


def _npy(data: bytes, stem: str) -> dict[str, np.ndarray]:
    f = io.BytesIO(data)
    dtype, shape, fortran, off, count = _npy_header(f, len(data), "array")
    a = np.frombuffer(data, dtype=dtype, count=count, offset=off)
    return {stem: a.reshape(shape, order="F" if fortran else "C")}


def _npz(data: bytes, stem: str) -> dict[str, np.ndarray]:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise _Refused(f"not a valid .npz (zip) archive: {exc}") from None
    if len(infos) > MAX_TENSORS:
        raise _Refused(f"{len(infos)} members; at most {MAX_TENSORS} are read")
    total = sum(i.file_size for i in infos)
    if total > 4 * MAX_FILE_BYTES:
        raise _Refused(f"members would unpack to {total:,} bytes, over the {4 * MAX_FILE_BYTES:,}-byte limit")
    out = {}
    for info in infos:
        key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
        try:
            with zf.open(info) as member:
                body = member.read(info.file_size + 1)
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError, ValueError, zlib.error) as exc:
            raise _Refused(f"member {info.filename!r} cannot be read ({type(exc).__name__}: {exc})") from None
        if len(body) != info.file_size:
            raise _Refused(f"member {info.filename!r} is truncated or its size is forged")
        f = io.BytesIO(body)
        dtype, shape, fortran, off, count = _npy_header(f, len(body), f"member {info.filename!r}")
        out[key] = np.frombuffer(body, dtype=dtype, count=count, offset=off).reshape(shape, order="F" if fortran else "C")
    return out


# ----------------------------------------------------------------------- .csv
def _csv(data: bytes, stem: str) -> dict[str, np.ndarray]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _Refused("not UTF-8 text; a .csv must hold numbers separated by commas") from None
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise _Refused("the CSV holds no numbers")
    last_exc = None
    for skip in (0, 1):  # allow one header row of column names
        try:
            rows = [[float(v) for v in ln.split(",")] for ln in lines[skip:]]
        except ValueError as exc:
            last_exc = exc
            continue
        if not rows:
            raise _Refused("the CSV has a header row but no numbers under it")
        widths = {len(r) for r in rows}
        if len(widths) != 1:
            raise _Refused(f"rows have different numbers of values ({sorted(widths)[:5]}); the CSV must be a table")
        a = np.array(rows, dtype=np.float64)
        return {stem: a[:, 0] if a.shape[1] == 1 else a}
    raise _Refused(f"non-numeric CSV ({last_exc}); every value must be a number")


# --------------------------------------------------------------- .safetensors
def safetensors_header_length(prefix: bytes, size: int) -> int:
    """The JSON header's byte count n from a safetensors file's first 8 bytes (``prefix``, at least
    those), checked against the file's ``size``: the header must fit in the file and in 100 MiB.
    Raises ValueError (no file name: the caller adds it)."""
    if size < 8 or len(prefix) < 8:
        raise _Refused("too short for a safetensors file (no 8-byte header length)")
    (n,) = struct.unpack("<Q", prefix[:8])
    if n > size - 8 or n > 100 * 2**20:
        raise _Refused(f"corrupt safetensors header: it claims {n:,} header bytes but the file has {size - 8:,} after the length")
    return n


def safetensors_header(raw: bytes, body: int) -> dict[str, dict]:
    """The tensor entries of a safetensors JSON header (``raw``, its n bytes; ``__metadata__``
    dropped), each checked: a readable dtype, a shape of non-negative integers and data offsets
    that hold exactly shape x itemsize bytes inside the ``body`` bytes after the header. A file
    cut short fails here, before any data is read. Raises ValueError (no file name)."""
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _Refused(f"corrupt safetensors header: not JSON ({exc})") from None
    if not isinstance(header, dict):
        raise _Refused("corrupt safetensors header: not a JSON object")
    header.pop("__metadata__", None)
    if len(header) > MAX_TENSORS:
        raise _Refused(f"{len(header)} tensors; at most {MAX_TENSORS} are read")
    for key, meta in header.items():
        try:
            dt, shape, (b, e) = meta["dtype"], meta["shape"], meta["data_offsets"]
        except (KeyError, TypeError, ValueError) as exc:
            raise _Refused(f"corrupt safetensors header entry {key!r}: {exc!r}") from None
        if not isinstance(dt, str):
            raise _Refused(f"corrupt safetensors header entry {key!r}: dtype must be a string, got {dt!r}"[:300])
        if not (isinstance(shape, list) and all(_is_count(n) for n in shape)):
            raise _Refused(f"corrupt safetensors header entry {key!r}: shape must be a list of non-negative integers, got {shape!r}"[:300])
        if not (_is_count(b) and _is_count(e)):
            raise _Refused(f"corrupt safetensors header entry {key!r}: data_offsets must be two non-negative integers, got {[b, e]!r}"[:300])
        count = math.prod(shape)
        if dt not in _ST_DTYPES:
            raise _Refused(f"tensor {key!r} has dtype {dt}; readable: {', '.join(_ST_DTYPES)}")
        if not (0 <= b <= e <= body) or e - b != count * safetensors_itemsize(dt):
            raise _Refused(f"tensor {key!r} claims bytes {b}..{e} for {count:,} values of {dt}, but the data section has {body:,} bytes (truncated or forged)")
    return header


def safetensors_itemsize(dtype: str) -> int:
    """Bytes per value of a safetensors dtype name (``"BF16"``: 2)."""
    return 2 if dtype == "BF16" else np.dtype(_ST_DTYPES[dtype]).itemsize


def safetensors_numpy_dtype(dtype: str) -> np.dtype:
    """The little-endian numpy dtype a safetensors dtype name is stored as (``"BF16"``: its raw
    16 bits, ``<u2``; widen them with :func:`bf16_to_float32`)."""
    return np.dtype("<u2") if dtype == "BF16" else np.dtype(_ST_DTYPES[dtype]).newbyteorder("<")


def bf16_to_float32(bits: np.ndarray) -> np.ndarray:
    """bfloat16 bit patterns (uint16) widened to float32, exactly: the 16 bits become the top half
    (shifted in place: one 4-byte array, no second temporary)."""
    out = np.asarray(bits, dtype="<u2").astype(np.uint32)
    out <<= 16
    return out.view(np.float32)


def _safetensors(data: bytes, stem: str) -> dict[str, np.ndarray]:
    n = safetensors_header_length(data[:8], len(data))
    header = safetensors_header(data[8 : 8 + n], len(data) - 8 - n)
    try:
        from safetensors.numpy import load
    except ImportError:  # pragma: no cover - safetensors is a dependency
        raise _Refused("the safetensors package is not installed") from None
    if any(m["dtype"] == "BF16" for m in header.values()):
        return _safetensors_bf16(data, n, header)
    try:
        return dict(load(data))
    except Exception as exc:  # SafetensorError
        raise _Refused(f"corrupt safetensors file: {exc}") from None


def _is_count(n: object) -> bool:
    return isinstance(n, int) and not isinstance(n, bool) and n >= 0


def _safetensors_bf16(data: bytes, n: int, header: dict) -> dict[str, np.ndarray]:
    """bfloat16 has no numpy dtype: widen its 16 bits into float32 (exact), other dtypes as stored."""
    base = 8 + n
    out = {}
    for key, meta in header.items():
        b, e = meta["data_offsets"]
        if meta["dtype"] == "BF16":
            u = np.frombuffer(data, dtype="<u2", count=(e - b) // 2, offset=base + b)
            out[key] = bf16_to_float32(u).reshape(meta["shape"])
        else:
            dt = np.dtype(_ST_DTYPES[meta["dtype"]]).newbyteorder("<")
            out[key] = np.frombuffer(data, dtype=dt, count=(e - b) // dt.itemsize, offset=base + b).reshape(meta["shape"])
    return out


# ---------------------------------------------------------------------- .onnx
def _onnx(data: bytes, stem: str) -> dict[str, np.ndarray]:
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:  # pragma: no cover - onnx is a dependency
        raise _Refused("the onnx package is not installed") from None
    try:
        model = onnx.load_model_from_string(data)  # from bytes: external files are never opened
    except Exception as exc:  # DecodeError and friends
        raise _Refused(f"not a valid ONNX model: the bytes do not parse as an ONNX protobuf ({type(exc).__name__})") from None
    out = {}
    for init in model.graph.initializer:
        if init.data_location == onnx.TensorProto.EXTERNAL or init.external_data:
            raise _Refused(f"initializer {init.name!r} stores its data in an external file; only self-contained models are read")
        try:
            out[init.name or f"initializer_{len(out)}"] = numpy_helper.to_array(init)
        except Exception as exc:
            raise _Refused(f"initializer {init.name!r} cannot be decoded ({exc})") from None
    if len(out) > MAX_TENSORS:
        raise _Refused(f"{len(out)} initializers; at most {MAX_TENSORS} are read")
    return out
