"""GGUF files in and out: a strict reader of the container and a one-tensor writer.

Reading (:func:`read_gguf`, used by :func:`quantlib.load_tensors` for ``.gguf``): the header, every
metadata value and every tensor record are parsed with bounds checks against the bytes actually
present — string and array lengths, tensor counts, dimensions, types and data offsets — before any
array is built, so a short file that claims 10**12 elements or a string of 2**60 bytes is refused at
once with a ``ValueError``. Tensors of float / integer types are read as stored; quantized ones are
dequantized by gguf-py (``gguf.quants.dequantize``, the dequantizers llama.cpp's Python tools use),
so every type gguf-py knows is accepted. :func:`gguf_types` tells each tensor's stored type
(``"Q4_K"``, ``"F16"``, ...).

Writing (:func:`gguf_bytes`): a GGUF v3 file holding one tensor of a ggml-family
:class:`~quantlib.QuantResult`, written by gguf-py's ``GGUFWriter`` from the bytes of
:func:`quantlib.to_ggml_bytes`; gguf-py (and so llama.cpp) reads it back to the same values.

GGUF stores dimensions innermost first (ne0 = the row length); numpy shapes are the reverse.
"""

from __future__ import annotations

import math
import os
import struct
import tempfile
from typing import Any

import numpy as np

MAGIC = b"GGUF"
MAX_TENSORS = 4096
MAX_KV = 1 << 20
MAX_DIMS = 4  # GGML_MAX_DIMS
MAX_DEPTH = 4  # arrays of arrays
MAX_FLOAT_BYTES = 800 * 2**20  # all tensors as float32, as for .npz members (a 1.7-bit TQ1_0 grows ~19x)
_SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_PLAIN = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "I8": "i1", "I16": "<i2", "I32": "<i4", "I64": "<i8"}


class GGUFError(ValueError):
    pass


class _Cursor:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def need(self, n: int, what: str) -> None:
        if n < 0 or n > len(self.data) - self.pos:
            raise GGUFError(f"{what} needs {n:,} bytes at offset {self.pos:,}, but the file ends after "
                            f"{max(len(self.data) - self.pos, 0):,} (truncated or forged)")

    def unpack(self, fmt: str, what: str) -> Any:
        n = struct.calcsize(fmt)
        self.need(n, what)
        (v,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += n
        return v

    def string(self, what: str) -> str:
        n = self.unpack("<Q", f"the length of {what}")
        self.need(n, what)
        raw = self.data[self.pos:self.pos + n]
        self.pos += n
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise GGUFError(f"{what} is not UTF-8") from None

    def value(self, vtype: int, what: str, depth: int = 0) -> Any:
        if vtype in _SCALAR:
            return self.unpack(_SCALAR[vtype], what)
        if vtype == 8:
            return self.string(what)
        if vtype == 9:
            if depth >= MAX_DEPTH:
                raise GGUFError(f"{what}: arrays nested deeper than {MAX_DEPTH}")
            itype = self.unpack("<I", f"the item type of {what}")
            count = self.unpack("<Q", f"the length of {what}")
            if itype in _SCALAR:  # fixed-size items: check the whole array fits, then read it at once
                size = struct.calcsize(_SCALAR[itype])
                self.need(count * size, what)
                self.pos += count * size
                return count
            if itype not in (8, 9):
                raise GGUFError(f"{what}: unknown array item type {itype}")
            self.need(count * 8, what)  # every string or array item takes at least 8 bytes
            return [self.value(itype, f"item {i} of {what}", depth + 1) for i in range(count)]
        raise GGUFError(f"{what}: unknown value type {vtype}")


def _header(data: bytes, max_float_bytes: int | None = MAX_FLOAT_BYTES
            ) -> tuple[dict[str, Any], list[tuple[str, tuple[int, ...], str, int, int]], int]:
    """(metadata, [(name, numpy shape, type name, data offset, nbytes)], data start), all checked.
    ``max_float_bytes``: the most the tensors may take as float32 (None: no limit, for a reader
    that streams them, see :func:`tensor_records`)."""
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    c = _Cursor(data)
    c.need(4, "the GGUF magic")
    if data[:4] != MAGIC:
        raise GGUFError(f"not a GGUF file (magic {data[:4]!r}, expected b'GGUF')")
    c.pos = 4
    version = c.unpack("<I", "the version")
    if version not in (2, 3):
        raise GGUFError(f"GGUF version {version} is not supported (2 and 3 are)")
    n_tensors = c.unpack("<Q", "the tensor count")
    n_kv = c.unpack("<Q", "the metadata count")
    if n_tensors > MAX_TENSORS:
        raise GGUFError(f"the header claims {n_tensors:,} tensors; at most {MAX_TENSORS} are read")
    if n_kv > MAX_KV or n_kv * 12 > len(data):
        raise GGUFError(f"the header claims {n_kv:,} metadata entries, more than the file's {len(data):,} bytes can hold")
    meta: dict[str, Any] = {}
    for i in range(n_kv):
        key = c.string(f"metadata key {i}")
        meta[key] = c.value(c.unpack("<I", f"the type of metadata {key!r}"), f"metadata {key!r}")
    align = meta.get("general.alignment", 32)
    if not isinstance(align, int) or isinstance(align, bool) or align <= 0 or align & (align - 1) or align > 1 << 16:
        raise GGUFError(f"general.alignment must be a power of two up to 65536, got {align!r}")
    infos = []
    for i in range(n_tensors):
        name = c.string(f"the name of tensor {i}")
        nd = c.unpack("<I", f"the dimension count of {name!r}")
        if not 1 <= nd <= MAX_DIMS:
            raise GGUFError(f"tensor {name!r} has {nd} dimensions; ggml allows 1 to {MAX_DIMS}")
        ne = [c.unpack("<Q", f"a dimension of {name!r}") for _ in range(nd)]
        tid = c.unpack("<I", f"the type of {name!r}")
        off = c.unpack("<Q", f"the data offset of {name!r}")
        try:
            qtype = GGMLQuantizationType(tid)
        except ValueError:
            raise GGUFError(f"tensor {name!r} has unknown ggml type {tid}") from None
        if any(n == 0 for n in ne):
            raise GGUFError(f"tensor {name!r} is empty (dimensions {ne})")
        block, size = GGML_QUANT_SIZES[qtype]
        if ne[0] % block:
            raise GGUFError(f"tensor {name!r}: its row length {ne[0]} is not a multiple of {qtype.name}'s block {block}")
        if off % align:
            raise GGUFError(f"tensor {name!r}: data offset {off} is not a multiple of the alignment {align}")
        infos.append((name, tuple(reversed(ne)), qtype.name, off, math.prod(ne) // block * size))
    start = -(-c.pos // align) * align
    body = len(data) - start
    for name, shape, tname, off, nbytes in infos:
        if off + nbytes > body:
            raise GGUFError(f"tensor {name!r} ({tname}, shape {shape}) claims bytes {off:,}..{off + nbytes:,} of the "
                            f"data section, which has {max(body, 0):,} (truncated or forged)")
    total = 4 * sum(math.prod(i[1]) for i in infos)
    if max_float_bytes is not None and total > max_float_bytes:
        raise GGUFError(f"the tensors would take {total:,} bytes as float32, over the {max_float_bytes:,}-byte limit")
    if len({i[0] for i in infos}) != len(infos):
        raise GGUFError("two tensors share a name")
    return meta, infos, start


def tensor_records(data: Any) -> tuple[list[tuple[str, tuple[int, ...], str, int, int]], int]:
    """``([(name, numpy shape, ggml type name, data offset, nbytes)], data start)`` of a GGUF file,
    every record checked as :func:`read_gguf` checks it but with no float32 size limit: ``data``
    may be an ``mmap.mmap`` of a file of any size, whose tensors a caller then reads one at a time
    at ``data start + offset`` (see :mod:`quantlib.checkpoint`)."""
    _, infos, start = _header(data, None)
    return infos, start


def dequantize_rows(raw: np.ndarray, type_name: str, shape: tuple[int, ...]) -> np.ndarray:
    """float32 values of whole rows of a tensor stored as ``type_name``: ``raw`` is their bytes
    (uint8), ``shape`` their numpy shape (last axis = the row). Plain types are viewed as stored;
    quantized ones are dequantized by gguf-py. Raises GGUFError when gguf-py cannot."""
    from gguf import GGMLQuantizationType
    from gguf.quants import dequantize

    if type_name in _PLAIN:
        return raw.view(np.dtype(_PLAIN[type_name])).reshape(shape)
    try:
        with np.errstate(all="ignore"):
            return dequantize(raw.reshape(-1, raw.size // math.prod(shape[:-1])),
                              GGMLQuantizationType[type_name]).reshape(shape).astype(np.float32, copy=False)
    except NotImplementedError:
        raise GGUFError(f"gguf-py cannot dequantize {type_name}") from None


def gguf_types(data: bytes) -> dict[str, str]:
    """``{tensor name: stored ggml type name}`` of a GGUF file's bytes (e.g. ``"Q4_K"``, ``"F16"``)."""
    return {name: t for name, _, t, _, _ in _header(data)[1]}


def read_gguf(data: bytes) -> dict[str, np.ndarray]:
    """Every tensor of a GGUF file, as stored (float / integer types) or dequantized to float32."""
    _, infos, start = _header(data)
    out = {}
    for name, shape, tname, off, nbytes in infos:
        try:  # an inf / NaN value is counted and refused by the loader
            out[name] = dequantize_rows(np.frombuffer(data, np.uint8, nbytes, start + off), tname, shape)
        except GGUFError as exc:
            raise GGUFError(f"tensor {name!r}: {exc}") from None
    return out


def gguf_bytes(result: Any, name: str = "tensor") -> bytes:
    """A GGUF v3 file with one tensor: ``result`` (a ggml-family QuantResult) under ``name``, its
    stored type that of the scheme. The tensor's last axis must be a multiple of the type's block."""
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFWriter

    from .formats import to_ggml_bytes

    shape = tuple(int(n) for n in np.shape(result.dequantized))
    if len(shape) > MAX_DIMS:
        raise ValueError(f"GGUF tensors have at most {MAX_DIMS} dimensions; this one has shape {shape}")
    raw = np.frombuffer(to_ggml_bytes(result), np.uint8)
    qtype = GGMLQuantizationType[result.ggml_blocks.type.upper()]
    block = GGML_QUANT_SIZES[qtype][0]
    if shape[-1] % block:
        raise ValueError(f"{result.ggml_blocks.type} in GGUF quantizes rows: the last axis ({shape[-1]}, shape {shape}) "
                         f"must be a multiple of its block {block}")
    fd, path = tempfile.mkstemp(suffix=".gguf")
    os.close(fd)
    try:
        w = GGUFWriter(path, "quantlib")
        w.add_name(name)
        w.add_tensor(name, raw.reshape(*shape[:-1], -1), raw_dtype=qtype)  # bytes per row; gguf-py derives the shape
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        with open(path, "rb") as f:
            return f.read()
    finally:
        os.unlink(path)
