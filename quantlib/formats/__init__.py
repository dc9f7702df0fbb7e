"""Number formats real deployments use, as registry schemes: each is a table entry plus one shared function.

Families (registry names):

* **float** — ``fp16``, ``bf16``, ``fp8_e4m3fn``, ``fp8_e5m2``, ``fp8_e4m3fnuz``, ``fp8_e5m2fnuz``, ``fp6_e3m2``,
  ``fp6_e2m3``, ``fp4_e2m1``. The cast is ml_dtypes' (round to nearest, ties to even).
  ``scaling="none"`` is the plain cast; ``"per_tensor"`` / ``"per_channel"`` first divide by the
  float32 scale ``s = amax / max`` (at least 2**-126; 1 for an all-zero tensor or channel) so amax
  lands on the largest finite value, and multiply back after. ``saturate=True`` clips x/s to
  ±max before the cast. ``saturate=False`` keeps the cast's own overflow: fp6/fp4 saturate anyway,
  but fp16/bf16/e5m2 give ±inf and e4m3fn/e4m3fnuz/e5m2fnuz give NaN — and a NaN or inf is no
  quantized value to measure, so such a tensor is **refused** with a ValueError that counts the
  overflowing values, names what the cast would give and how to avoid it (saturate=True, or a
  scaling). When nothing overflows, saturate=False is exactly the plain cast. Either way the
  result is never non-finite. With ``scaling="none"``: ``dequantized == x.astype(dtype)`` exactly
  (saturate=False), or that cast with its non-finite values replaced by ±max (saturate=True).
* **mx** (OCP Microscaling v1.0) — ``mxfp8_e4m3``, ``mxfp8_e5m2``, ``mxfp6_e3m2``, ``mxfp6_e2m3``, ``mxfp4``,
  ``mxint8``: blocks of 32 share an E8M0 scale 2**E; elements saturate at their max.
  Exponent rule ``"floor"`` (default, OCP): ``E = floor(log2(amax)) - emax_elem`` with log2
  evaluated in float32, as the gguf package / llama.cpp and Microsoft's microxcaling compute it
  (for amax within a few float32 ulps below 2**k that log2 rounds up to k, so such a block takes
  the next larger scale). ``"ceil"``: the smallest E with amax / 2**E <= element max (no element
  saturates). E is clamped to E8M0's [-127, 127]; an all-zero block has E = -127 (byte 0, as gguf;
  for amax below 2**-125, a float32 subnormal, gguf's uint8 cast of a negative E wraps instead).
  Element ties: ``"even"`` (IEEE round-half-even, the ml_dtypes cast; MXINT8: ``np.rint``) is the
  default except for ``mxfp4``, whose default ``"toward_zero"`` is gguf's MXFP4 rule (nearest E2M1
  value, a tie goes to the smaller magnitude, and anything that rounds to zero is +0): mxfp4
  equals ``gguf.quants`` MXFP4 bit for bit. MXINT8 elements are k/64, |k| <= 127 (emax_elem 0).
* **nvfp4** — blocks of 16 E2M1 values, an FP8 E4M3 block scale and an FP32 global scale
  ``g = amax / (6 * 448)``, with NVIDIA ModelOpt's arithmetic (``NVFP4QTensor``): block scale
  ``e4m3(clamp(amax_b / fl32(6 g), 2**-9, 448))`` (an all-zero block: 1), elements
  ``e2m1(x / fl32(s_b g))`` (round-half-even, saturating), ``x_hat = e2m1 * fl32(s_b g)``. g is
  at least 2**-126, so a tensor with amax below ~3e-35 or all zeros keeps finite arithmetic
  (ModelOpt divides 0 by 0 for an all-zero tensor).
* **bitsandbytes** — ``nf4``, ``fp4_bnb``: absmax blocks (``block_size``, default 64) over the flattened
  tensor, bitsandbytes' exact float32 codebooks, x * fl32(1 / absmax) (the short last block:
  x / absmax, as bitsandbytes does) clamped to [-1, 1], then the nearest code by float32
  midpoints with a value on a midpoint going to the lower code (``torch.bucketize``). Codes are
  bitsandbytes' 4-bit indices (fp4: its bit-pattern order); dequantized = code * absmax, as
  bitsandbytes' generic ``dequantize_4bit``. (Its CPU kernel, for a 2-D tensor whose rows are not
  a multiple of the block, reads absmax row by row and disagrees with its own quantize there; we
  follow quantize's flattened blocks.) An absmax below 1e-38 is floored at 1e-38 in the reciprocal,
  as bitsandbytes does, so such float32-subnormal blocks quantize to 0.
* **ggml** (llama.cpp) — ``q8_0``, ``q4_0``, ``q4_1``, ``q5_0``, blocks of 32, with gguf's float32 arithmetic:
  Q8_0 ``d = amax / 127``, ``q = round_half_away(x * fl32(1/d))``; Q4_0 / Q5_0 ``d = m / -8`` (``-16``),
  m the block's value of largest magnitude (first one), ``q = min(15 (31), trunc(x * fl32(1/d) + 8.5 (16.5)))``;
  Q4_1 ``d = (max - min) / 15``, ``q = min(15, trunc((x - min) * fl32(1/d) + 0.5))``. d (and Q4_1's
  min) are stored as float16; ``x_hat = fp16(d) * (q - 8 | 16 | 0) (+ fp16(min))``. Codes are the
  stored unsigned values (Q8_0: signed int8). A block scale that overflows float16 (|x| beyond
  about 8e6 for Q8_0, 5e5 for Q4_0) gives inf in ggml; it is refused with a ValueError.
  ``imatrix=`` (one weight per column) switches Q4_0 / Q4_1 / Q5_0 to ggml's weighted search.
* **ggml K-quants and friends** (:mod:`.kquants`) — ``q5_1``, ``q2_k``, ``q3_k``, ``q4_k``, ``q5_k``,
  ``q6_k``, ``iq4_nl``, ``iq4_xs``, ``tq1_0``, ``tq2_0``, bit-exact with ggml's C quantizer (bytes and
  values, with and without ``imatrix``); :func:`to_ggml_bytes` packs any ggml-family result.
* **ternary / binary** (:mod:`.lowbit`) — ``ternary`` (BitNet b1.58 absmean), ``binary`` (sign × mean |x|).
* **integer** — ``int_group``: quantlib's own ``choose_qparams(..., group_size=g)`` / ``quantize`` /
  ``dequantize`` (min-max per group, round half to even; symmetric: signed, zero-point 0,
  s = amax / (2**(b-1) - 1), codes [-2**(b-1), 2**(b-1) - 1]; else unsigned with a zero-point and
  the range widened to hold 0, as GPTQ/AWQ round-to-nearest; GPTQ's own symmetric mode differs:
  unsigned codes around 2**(b-1) with s = 2 amax / (2**b - 1)).

Blocks and groups run over the flattened tensor in C order (for a 2-D weight whose rows are a
multiple of the block size: blocks along each row). When the size is not a multiple of the
block, ``partial_block="pad"`` (default) quantizes the short last block on its own: its scale
comes from its own elements only (it is padded with copies of its last value, which changes no
block statistic, and the padding is dropped); ``"error"`` refuses such a tensor, as llama.cpp
and gguf do. bitsandbytes always handles a short last block (its own rule above). int_group's
``params`` are the :class:`QuantParams` when groups tile the tensor, else None (the padded
groups have no quantlib layout).

``bits_per_element`` = element bits + stored scale bits per element: one scale per block,
counting a short last block, divided by the tensor size: mx 8/32 (mxfp4 4.25), nvfp4
8/16 + 32/n, nf4 32/64 (4.5), q8_0 16/32 (8.5), q4_1 32/32 (5.0), floats with a scale 32 per
scale, int_group 32 per group (+ b for a non-zero zero-point).

Value grids (what the Formats page draws): :func:`format_grid` gives any registry scheme's
:class:`FormatGrid` — the actual levels of per-tensor formats, or the *element grid* of block,
group and channel formats (E2M1 values, the NF4 codebook, Q4_0's integers −8..7, ...) with a note
on the scale that stretches it — and its dynamic range; :func:`grid_landing` counts how a tensor
lands on it (levels used, share clipped); :func:`format_table` ranks every registry scheme on one
tensor. Each scheme's spec carries its grid and element view (``SchemeSpec.grid`` / ``.view``):
fixed grids come from the tables above, tensor-dependent ones from the scheme's QuantResult.

One module per family — :mod:`.floats`, :mod:`.mx`, :mod:`.nvfp4`, :mod:`.bnb`, :mod:`.ggml`,
:mod:`.int_group` — each a table, its quantize function, its specs and their grid hooks, and
:mod:`.grids` for the grid analysis; :mod:`.common` holds what they share (element types,
casts and blocks; internal API). ml_dtypes and pandas are imported on first use.
"""

from .common import PARTIAL, Blocked
from .grids import GRID_KINDS, TABLE_COLUMNS, FormatGrid, GridLanding, format_grid, format_table, grid_landing
from .floats import FLOATS, SCALINGS, FloatFormat, float_quantize  # noqa: I001  (registration order)
from .mx import MX_BLOCK, MX_EXPONENTS, MX_FORMATS, MX_TIES, MXFormat, mx_quantize
from .nvfp4 import NV_BLOCK, nvfp4_quantize
from .bnb import BNB_BLOCK_SIZES, BNB_FORMATS, bnb_quantize
from .ggml import GGML_BLOCK, GGML_FORMATS, GGMLFormat, ggml_quantize
from .int_group import INT_GROUP_SIZES, int_group_quantize

__all__ = [
    "FLOATS", "MX_FORMATS", "BNB_FORMATS", "GGML_FORMATS", "Blocked",
    "float_quantize", "mx_quantize", "nvfp4_quantize", "bnb_quantize", "ggml_quantize", "int_group_quantize",
    "FormatGrid", "GridLanding", "format_grid", "grid_landing", "format_table",
    "FloatFormat", "MXFormat", "GGMLFormat", "SCALINGS", "PARTIAL", "MX_EXPONENTS", "MX_TIES", "MX_BLOCK", "NV_BLOCK",
    "GGML_BLOCK", "BNB_BLOCK_SIZES", "INT_GROUP_SIZES", "GRID_KINDS", "TABLE_COLUMNS",
]
from .kquants import (KQUANT_FORMATS, GGMLBlocks, KQuantFormat, ggml_table, kquant_dequantize, kquant_quantize,  # noqa: E402
                      proxy_importance, superblock_view, to_ggml_bytes)
from .lowbit import GRANULARITIES, PACKINGS, binary_quantize, ternary_quantize  # noqa: E402
