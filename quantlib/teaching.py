"""Teaching: the numbers behind the Learn page, as pure functions that return data.

* :func:`footprint_table` — memory and memory-bound speed of a model at several bit widths;
* :func:`method_demo` — the four common methods (symmetric, asymmetric, histogram, fixed point);
* :func:`integer_steps`, :func:`float_steps`, :func:`histogram_steps` — one element worked
  out step by step, with quantlib's own float32 arithmetic (so every number equals what
  :func:`quantlib.quantize` / :func:`quantlib.dequantize` give), each step with its LaTeX;
* :func:`wrap_lesson`, :func:`histogram_bin_lesson`, :func:`asymmetric_lesson` — the source
  blog's three bugs, each beside the corrected behaviour;
* :data:`CHALLENGES` and :func:`check_challenge` — classroom goals checked against metrics;
* :data:`FORMATS_IN_USE` — which formats industry and research use, and where they run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ml_dtypes
import numpy as np
import pandas as pd

from ._checks import as_float_array, check_bits, check_choice, check_int, check_num_bins
from .conventions import get_convention
from .histograms import fma_f32
from .integer import OVERFLOW_MODES, ROUNDING_MODES, _multiplier, _round, dequantize, quantize
from .metrics import Metrics
from .params import QuantParams, qrange
from .schemes import SCHEMES, Quantizer, QuantResult

_F32 = np.float32

#: The source blog's worked example: these five values with scale 0.1 give codes 10 ... 50.
BLOG_VALUES = np.array([1, 2, 3, 4, 5], dtype=_F32)
BLOG_SCALE = 0.1


# ------------------------------------------------------------------------- numbers
def num(v: Any) -> str:
    """The shortest decimal that reads back as the same float32 (integers as integers)."""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    f = _F32(v)
    if not np.isfinite(f):
        return str(float(f))
    if f == 0:
        return "0"
    a = abs(float(f))
    if 1e-4 <= a < 1e7:
        return np.format_float_positional(f, unique=True, trim="-")
    return np.format_float_scientific(f, unique=True, trim="-")


def tex(v: Any) -> str:
    """:func:`num` for LaTeX: ``1.5e-05`` becomes ``1.5\\times10^{-5}``, negatives are bracketed."""
    s = num(v)
    if "e" in s:
        m, e = s.split("e")
        s = rf"{m}\times10^{{{int(e)}}}"
    return f"({s})" if s.startswith("-") else s


def _tex_plain(v: Any) -> str:
    s = num(v)
    if "e" in s:
        m, e = s.split("e")
        s = rf"{m}\times10^{{{int(e)}}}"
    return s


def _err(v: float) -> str:
    return "0" if v == 0 else f"{v:.6g}"


def _tex_err(v: float) -> str:
    s = _err(v)
    if "e" in s:
        m, e = s.split("e")
        s = rf"{m}\times10^{{{int(e)}}}"
    return s


# ------------------------------------------------------------------- 1. what & why
#: Dense peak throughput of an NVIDIA A100 (datasheet): FP32 without tensor cores, FP16/BF16,
#: INT8 and INT4 tensor-core operations per second, in tera-ops. Speed-ups are against FP16.
A100_PEAK_TOPS = {32: 19.5, 16: 312.0, 8: 624.0, 4: 1248.0}


def footprint_table(
    n_params: float,
    bits: Sequence[float] = (32, 16, 8, 4),
    *,
    bandwidth_gb_s: float = 100.0,
    group_size: int | None = None,
) -> pd.DataFrame:
    """Memory and memory-bound speed of a model with ``n_params`` weights at each bit width.

    ``bits per weight`` adds a 32-bit scale per ``group_size`` weights (below 16 bits, when
    given). A memory-bound pass (one generated token of a language model reads every weight
    once) takes ``bytes / bandwidth``; ``tokens/s`` is its inverse, an upper bound. ``A100
    peak`` is the dense tensor-core throughput where the chip has one for that width.
    """
    if not (np.isfinite(n_params) and n_params > 0):
        raise ValueError(f"n_params must be a positive number, got {n_params!r}")
    if not (np.isfinite(bandwidth_gb_s) and bandwidth_gb_s > 0):
        raise ValueError(f"bandwidth_gb_s must be a positive number, got {bandwidth_gb_s!r}")
    if group_size is not None:
        group_size = check_int(group_size, "group_size", 1, 2**24)
    rows = []
    fp32_bytes = n_params * 4
    for b in bits:
        b = float(b)
        if not 1 <= b <= 64:
            raise ValueError(f"bits must be in [1, 64], got {b}")
        overhead = 32 / group_size if (group_size and b < 16) else 0.0
        bpw = b + overhead
        nbytes = n_params * bpw / 8
        seconds = nbytes / (bandwidth_gb_s * 1e9)
        label = {32: "FP32", 16: "FP16 / BF16"}.get(int(b), f"INT{int(b)}") if b == int(b) else f"{b:g}-bit"
        rows.append({
            "format": label,
            "bits": b,
            "bits per weight": bpw,
            "memory GB": nbytes / 1e9,
            "x smaller than FP32": fp32_bytes / nbytes,
            "x smaller than FP16": fp32_bytes / 2 / nbytes,
            "ms per pass": seconds * 1e3,
            "tokens/s (memory-bound)": 1.0 / seconds,
            "A100 peak TOPS": A100_PEAK_TOPS.get(int(b)) if b == int(b) else None,
        })
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------ 2. methods
#: The blog's four common methods, as registry schemes.
METHODS = {
    "symmetric": "Zero maps to code 0; one scale s = max|x| / qmax covers [-max|x|, max|x|].",
    "asymmetric": "A zero-point z shifts the grid so [min, max] fills every code: x ≈ s (q - z).",
    "histogram": "Each value becomes the index of its uniform bin over [min, max]; rebuilt at the bin centre.",
    "fixed_point": "Qm.n: a power-of-two scale 2^-n fixed in advance, no calibration at all.",
}


@dataclass(frozen=True)
class MethodDemo:
    method: str
    settings: dict[str, Any]
    result: QuantResult
    metrics: Metrics
    table: pd.DataFrame  # the first elements: x, code, x_hat, error


def method_demo(x: object, method: str, bits: int = 8, *, show: int = 8) -> MethodDemo:
    """``method`` (a key of :data:`METHODS`) at ``bits`` on ``x``: result, metrics and the first ``show`` elements."""
    method = check_choice(method, "method", METHODS)
    x = as_float_array(x)
    spec = SCHEMES[method]
    settings = spec.at_bits(check_bits(bits), spec.defaults())
    r = Quantizer(method, **settings)(x)
    n = min(int(show), x.size)
    xf = x.ravel()[:n]
    xh = r.dequantized.ravel()[:n]
    table = pd.DataFrame({"x": xf, "code": r.codes.ravel()[:n].astype(np.int64), "x_hat": xh,
                          "error": xf.astype(np.float64) - xh.astype(np.float64)})
    return MethodDemo(method, settings, r, r.metrics(x), table)


# ------------------------------------------------------------------ 3. model quality
def model_quality(bits: int, scheme: str = "symmetric", *, per_channel: bool = False) -> dict[str, float]:
    """The shipped digits MLP with weights quantized by ``scheme`` at ``bits``: accuracy against the float model."""
    from .model import digits_model

    spec = SCHEMES[check_choice(scheme, "scheme", SCHEMES)]
    settings = spec.at_bits(check_bits(bits), spec.defaults())
    if per_channel and any(s.name == "granularity" for s in spec.settings):
        settings.update(granularity="per_channel", axis=0)
    return digits_model().evaluate(weights=Quantizer(scheme, **settings))


# ------------------------------------------------------------------ 4. problems
def precision_fixes(x: object, bits: int = 4) -> pd.DataFrame:
    """Precision loss and its usual fixes on ``x`` at ``bits``: min-max, clipping calibrators,
    finer granularity (per-channel for 2-D tensors, groups of 128 where they divide), and a
    non-uniform codebook. One row per configuration: SQNR, clipped share, bits per element."""
    x = as_float_array(x)
    bits = check_bits(bits)
    configs: list[tuple[str, str, dict[str, Any]]] = [
        ("min-max range (the baseline)", "symmetric", {}),
        ("clip outliers: percentile 99.99", "symmetric", {"calibration": "percentile"}),
        ("clip outliers: least-MSE threshold", "symmetric", {"calibration": "mse"}),
    ]
    if x.ndim >= 2:
        configs.append(("one scale per channel", "symmetric", {"granularity": "per_channel", "axis": 0}))
    if _groups_fit(x, 128):
        configs.append(("one scale per group of 128", "symmetric", {"granularity": "per_group", "group_size": 128}))
    configs.append(("non-uniform levels (Lloyd-Max)", "lloyd_max", {}))
    rows = []
    for label, scheme, settings in configs:
        r = Quantizer(scheme, **{**settings, "bits": bits})(x)
        m = r.metrics(x)
        rows.append({"fix": label, "scheme": scheme, "SQNR dB": m.sqnr_db, "clipped %": 100 * m.clip_ratio,
                     "bits per element": m.bits_per_element})
    return pd.DataFrame(rows)


def overhead_table(x: object, bits: int = 4, group_sizes: Sequence[int] = (32, 64, 128, 256, 1024)) -> pd.DataFrame:
    """The price of finer scales: per-group symmetric quantization at each group size that
    divides ``x``'s size, with the scales it stores, bits per element and SQNR (per tensor first)."""
    x = as_float_array(x)
    bits = check_bits(bits)
    rows = []
    r = Quantizer("symmetric", bits=bits)(x)
    rows.append({"granularity": "per tensor", "scales stored": 1, "bits per element": r.bits_per_element,
                 "SQNR dB": r.metrics(x).sqnr_db})
    for g in group_sizes:
        if not _groups_fit(x, g):
            continue
        r = Quantizer("symmetric", bits=bits, granularity="per_group", group_size=int(g))(x)
        rows.append({"granularity": f"groups of {g}", "scales stored": int(np.size(r.params.scale)),
                     "bits per element": r.bits_per_element, "SQNR dB": r.metrics(x).sqnr_db})
    return pd.DataFrame(rows)


def _groups_fit(x: np.ndarray, g: int) -> bool:
    """Whether groups of ``g`` tile ``x`` as the symmetric scheme cuts them (per row of a 2-D+ tensor)."""
    per = x.size // x.shape[0] if x.ndim >= 2 else x.size
    return per % g == 0 and g < per


# ------------------------------------------------------------------ 5. in use
#: Formats in use and where they run; ``scheme`` is the registry scheme that reproduces it.
FORMATS_IN_USE: tuple[dict[str, str], ...] = (
    {"format": "INT8 (per-channel weights, per-tensor activations)", "scheme": "symmetric",
     "used by": "PyTorch (fbgemm, qnnpack), ONNX Runtime, TensorRT, TensorFlow Lite",
     "runs on": "CPUs with VNNI / AMX / NEON dot products, NVIDIA tensor cores since Turing, mobile NPUs and DSPs"},
    {"format": "FP16 / BF16", "scheme": "bf16",
     "used by": "mixed-precision training and most GPU inference",
     "runs on": "NVIDIA / AMD GPUs, Google TPUs (BF16), CPUs with AVX-512 BF16 or AMX"},
    {"format": "FP8 E4M3 / E5M2", "scheme": "fp8_e4m3fn",
     "used by": "NVIDIA Transformer Engine (E4M3 forward, E5M2 gradients), vLLM, TensorRT-LLM",
     "runs on": "NVIDIA Hopper and Ada GPUs and later; AMD MI300 uses the FNUZ variants"},
    {"format": "MXFP8 / MXFP6 / MXFP4 / MXINT8 (OCP Microscaling)", "scheme": "mxfp4",
     "used by": "the OCP Microscaling spec (AMD, Arm, Intel, Meta, Microsoft, NVIDIA, Qualcomm)",
     "runs on": "NVIDIA Blackwell tensor cores and other accelerators implementing the OCP spec"},
    {"format": "NVFP4", "scheme": "nvfp4",
     "used by": "NVIDIA TensorRT Model Optimizer, TensorRT-LLM",
     "runs on": "NVIDIA Blackwell GPUs"},
    {"format": "NF4 (4-bit NormalFloat)", "scheme": "nf4",
     "used by": "QLoRA fine-tuning with bitsandbytes / Hugging Face transformers",
     "runs on": "GPUs (bitsandbytes kernels), dequantized to BF16 for the matmul"},
    {"format": "GGML Q8_0 / Q4_0", "scheme": "q4_0",
     "used by": "llama.cpp and the GGUF file format",
     "runs on": "laptop and desktop CPUs, Apple Silicon, consumer GPUs"},
    {"format": "INT4 weight-only, groups of 128 (GPTQ, AWQ)", "scheme": "int_group",
     "used by": "GPTQ / AWQ checkpoints served by vLLM, TensorRT-LLM, Hugging Face TGI",
     "runs on": "GPUs with fused dequantize-and-multiply kernels"},
    {"format": "Fixed point Qm.n", "scheme": "fixed_point",
     "used by": "DSP code and microcontroller inference (CMSIS-NN, TensorFlow Lite Micro requantization)",
     "runs on": "DSPs, microcontrollers, FPGAs"},
)


# -------------------------------------------------------------- worked example
@dataclass(frozen=True)
class Step:
    """One step of a worked example: a name, plain words, the LaTeX with the actual numbers, its value."""

    name: str
    text: str
    latex: str
    value: Any


@dataclass(frozen=True)
class WorkedExample:
    """One element quantized step by step. ``code`` is the stored code (float formats: the bit
    pattern), ``value`` the dequantized float32 value and ``error`` ``x - value``."""

    index: int
    x: float
    steps: tuple[Step, ...]
    code: int
    value: float
    error: float


def element_params(params: QuantParams, shape: tuple[int, ...], index: int) -> tuple[np.float32, int, float | None]:
    """(scale, zero-point, amax) that apply to element ``index`` (flat, C order) of an array of
    ``shape``: per-tensor, per-channel or per-group params alike."""
    params.check_fits(tuple(shape))
    amax = params.amax
    if params.per_tensor:
        return _F32(params.scale), int(params.zero_point), (None if amax is None else float(amax))
    pos = _param_position(params, tuple(shape), index)
    s = np.asarray(params.scale)[pos]
    z = np.asarray(params.zero_point)[pos]
    a = None if amax is None else float(np.asarray(amax)[pos])
    return _F32(s), int(z), a


def _param_position(params: QuantParams, shape: tuple[int, ...], index: int) -> tuple[int, ...]:
    idx = np.unravel_index(index, shape)
    if params.group_size is None:
        return (int(idx[params.axis % len(shape)]),)
    if params.axis is None:
        return (index // params.group_size,)
    ax = params.axis % len(shape)
    rest_shape = tuple(d for k, d in enumerate(shape) if k != ax)
    rest = tuple(int(i) for k, i in enumerate(idx) if k != ax)
    within = int(np.ravel_multi_index(rest, rest_shape)) if rest_shape else 0
    return (int(idx[ax]), within // params.group_size)


def _block_position(params: QuantParams, shape: tuple[int, ...], index: int) -> int:
    """Flat position of element ``index`` in the block view quantize rounds (see params.blocks)."""
    if params.group_size is None or params.axis is None:
        return index
    ax = params.axis % len(shape)
    idx = np.unravel_index(index, shape)
    moved_shape = (shape[ax],) + tuple(d for k, d in enumerate(shape) if k != ax)
    moved_idx = (idx[ax],) + tuple(i for k, i in enumerate(idx) if k != ax)
    return int(np.ravel_multi_index(moved_idx, moved_shape))


_ROUND_WORDS = {
    "half_even": "Round to nearest; a tie (exactly k + 1/2) would go to the even integer",
    "half_away": "Round to nearest; a tie (exactly k + 1/2) would go away from zero",
    "floor": "Round down, toward -infinity",
    "stochastic": "Round up with probability frac(y), down otherwise (seeded draw)",
}
_ROUND_TEX = {"half_even": r"\mathrm{round}_{\text{half-even}}", "half_away": r"\mathrm{round}_{\text{half-away}}",
              "floor": r"\lfloor\cdot\rfloor", "stochastic": r"\mathrm{round}_{\text{stochastic}}"}


def integer_steps(
    x: object,
    index: int,
    params: QuantParams,
    *,
    rounding: str = "half_even",
    seed: int | None = 0,
    overflow: str = "saturate",
) -> WorkedExample:
    """Element ``index`` of ``x`` through quantize and dequantize under ``params``, step by step.

    The arithmetic is quantlib's own, in float32, for the params' convention: x / s
    (quantlib, onnxruntime), x * fl32(1/s) (pytorch, which adds the zero-point before
    rounding, fused, per tensor), x * fl32(qmax / amax) (tensorrt); then the rounding (with
    its tie rule), + z, clamp (or wrap), dequantize and the error. The final code and value
    equal ``quantize(x, params, ...)`` and ``dequantize`` at that element.
    """
    x = as_float_array(x)
    i = check_int(index, "index", 0, x.size - 1)
    check_choice(rounding, "rounding", ROUNDING_MODES)
    check_choice(overflow, "overflow", OVERFLOW_MODES)
    conv = get_convention(params.convention)
    xi = _F32(x.ravel()[i])
    s, z, amax = element_params(params, x.shape, i)
    one = QuantParams(scale=s, zero_point=z, qmin=params.qmin, qmax=params.qmax, convention=conv.name, amax=amax)
    m, multiply = _multiplier(one, conv)
    m = _F32(np.asarray(m).reshape(()))
    zp_first = conv.mapping == "reciprocal" and params.group_size is None and z != 0
    steps: list[Step] = []

    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        y_div = np.divide(xi, s, dtype=_F32)
        if zp_first:
            if params.axis is None:
                y = _F32(np.asarray(fma_f32(xi, m, _F32(z))).reshape(-1)[0])
                how = "one fused multiply-add, one rounding"
            else:
                y = _F32(np.add(np.multiply(xi, m, dtype=_F32), _F32(z), dtype=_F32))
                how = "multiply, then add"
            steps.append(Step(
                "x / s + z", f"PyTorch multiplies by the float32 reciprocal fl32(1/s) = {num(m)} and adds the "
                f"zero-point before rounding ({how}).",
                rf"x \cdot \mathrm{{fl}}_{{32}}\!\left(\tfrac{{1}}{{s}}\right) + z = {tex(xi)} \cdot {tex(m)} + {tex(z)} = {_tex_plain(y)}",
                y))
        elif conv.mapping == "amax":
            y = np.multiply(xi, m, dtype=_F32)
            a = _F32(amax) if amax is not None else _F32(s) * _F32(params.qmax)
            steps.append(Step(
                "x * qmax / amax", f"TensorRT multiplies by fl32(qmax / amax) = fl32({params.qmax} / {num(a)}) = {num(m)}.",
                rf"x \cdot \mathrm{{fl}}_{{32}}\!\left(\tfrac{{q_{{max}}}}{{a}}\right) = {tex(xi)} \cdot \tfrac{{{params.qmax}}}{{{_tex_plain(a)}}} = {tex(xi)} \cdot {tex(m)} = {_tex_plain(y)}",
                y))
        elif multiply:
            y = np.multiply(xi, m, dtype=_F32)
            steps.append(Step(
                "x / s", f"PyTorch multiplies by the float32 reciprocal fl32(1/s) = {num(m)} instead of dividing.",
                rf"x \cdot \mathrm{{fl}}_{{32}}\!\left(\tfrac{{1}}{{s}}\right) = {tex(xi)} \cdot {tex(m)} = {_tex_plain(y)}",
                y))
        else:
            y = y_div
            steps.append(Step(
                "x / s", "Divide by the scale (float32, correctly rounded).",
                rf"\frac{{x}}{{s}} = \frac{{{_tex_plain(xi)}}}{{{_tex_plain(s)}}} = {_tex_plain(y)}", y))
    if y != y_div and not zp_first and conv.mapping != "divide":
        steps[-1] = Step(steps[-1].name, steps[-1].text + f" Dividing would give {num(y_div)}.", steps[-1].latex, y)

    # rounding
    fl = np.floor(y)
    tie = bool(np.isfinite(y) and y - fl == _F32(0.5))
    if rounding == "stochastic":
        shape = _block_shape(params, x.shape)
        u = np.random.default_rng(0 if seed is None else seed).random(shape, dtype=_F32).ravel()[_block_position(params, x.shape, i)]
        r = _F32(fl + _F32(u < (y - fl)))
        words = f"frac(y) = {num(y - fl)}; the draw u = {num(u)} is {'below' if u < y - fl else 'not below'} it, so y goes {'up' if r > fl else 'down'}."
    else:
        r = _F32(_round(np.array([y], dtype=_F32), rounding, seed)[0])
        words = _ROUND_WORDS[rounding] + "." if y != fl else f"{num(y)} is already an integer."
        if tie and rounding in ("half_even", "half_away"):
            words = (f"{num(y)} is exactly halfway between {num(fl)} and {num(fl + 1)}: a tie, "
                     + ("which goes to the even integer" if rounding == "half_even" else "which goes away from zero")
                     + f", {num(r)}.")
    steps.append(Step("round", words,
                      rf"{_ROUND_TEX[rounding]}({_tex_plain(y)}) = {_tex_plain(r)}", r))

    # zero-point
    if conv.mapping == "amax":
        zadd = 0
        steps.append(Step("+ z", "TensorRT has no zero-point (symmetric only).", rf"z = 0 \Rightarrow {_tex_plain(r)}", r))
    elif zp_first:
        zadd = 0
        steps.append(Step("+ z", f"The zero-point {z} was already added before rounding.", rf"z = {z}\ \text{{(added above)}}", r))
    else:
        zadd = z
        v = float(r) + z
        steps.append(Step("+ z", "Add the zero-point." if z else "The zero-point is 0: nothing to add.",
                          rf"{_tex_plain(r)} + {tex(z)} = {num(v) if np.isfinite(v) else v}", _F32(v)))
    v = float(r) + zadd

    # clamp or wrap
    if overflow == "saturate":
        q = int(min(max(v, params.qmin), params.qmax)) if np.isfinite(v) else (params.qmax if v > 0 else params.qmin)
        clipped = not (params.qmin <= v <= params.qmax)
        steps.append(Step("clamp", f"Keep the code in [{params.qmin}, {params.qmax}]" + (": it was outside and saturates." if clipped else ": it is inside."),
                          rf"\mathrm{{clamp}}({num(v) if np.isfinite(v) else v},\ {params.qmin},\ {params.qmax}) = {q}", q))
    else:
        span = params.qmax - params.qmin + 1
        q = int(np.mod(v - params.qmin, span) + params.qmin)
        steps.append(Step("wrap", f"No clamp: keep the low bits, two's-complement style (modulo {span}), as a C/Go integer cast does.",
                          rf"\left(({num(v)} - ({params.qmin})) \bmod {span}\right) + ({params.qmin}) = {q}", q))

    # dequantize
    if conv.mapping == "amax":
        d = m if m != 0 else _F32(1)
        xh = _F32(_F32(q) / d)
        steps.append(Step("dequantize", f"Divide the code by the same multiplier {num(d)}.",
                          rf"\hat x = \frac{{q}}{{\mathrm{{fl}}_{{32}}(q_{{max}}/a)}} = \frac{{{q}}}{{{_tex_plain(d)}}} = {_tex_plain(xh)}", xh))
    else:
        xh = _F32(np.multiply(_F32(q) - _F32(z), s, dtype=_F32))
        steps.append(Step("dequantize", "Subtract the zero-point and multiply by the scale.",
                          rf"\hat x = s\,(q - z) = {_tex_plain(s)} \cdot ({q} - {tex(z)}) = {_tex_plain(xh)}", xh))
    e = float(xi) - float(xh)
    step = float(s) if conv.mapping != "amax" else 1.0 / float(m) if m != 0 else float(s)
    if e == 0:
        words = "None: this value lies exactly on the grid."
    else:
        beyond = " (wrapped around)." if overflow == "wrap" else " (clipped: more than half a step)."
        words = f"What quantization cost this element: {abs(e) / step:.3g} of a step" + (
            beyond if abs(e) > step / 2 * (1 + 1e-6) else ".")
    steps.append(Step("error", words,
                      rf"x - \hat x = {_tex_plain(xi)} - {tex(xh)} = {_tex_err(e)}", e))
    return WorkedExample(i, float(xi), tuple(steps), q, float(xh), e)


def _block_shape(params: QuantParams, shape: tuple[int, ...]) -> tuple[int, ...]:
    if params.group_size is None:
        return tuple(shape)
    size = int(np.prod(shape))
    c = 1 if params.axis is None else shape[params.axis % len(shape)]
    return (c, size // c // params.group_size, params.group_size)


def float_steps(x: object, index: int, fmt: str, *, scaling: str = "none", saturate: bool = True,
                axis: int = 0) -> WorkedExample:
    """Element ``index`` of ``x`` cast to float format ``fmt`` (a :data:`quantlib.formats.FLOATS`
    name), step by step: the optional scale, the saturation, the two neighbouring
    representable values, the chosen one (nearest, ties to an even mantissa) and its sign,
    exponent and mantissa bits. Equal to the registry scheme ``fmt`` at that element."""
    from . import formats as F

    f = F.FLOATS[check_choice(fmt, "float format", F.FLOATS)]
    x = as_float_array(x)
    i = check_int(index, "index", 0, x.size - 1)
    check_choice(scaling, "scaling", F.SCALINGS)
    xi = _F32(x.ravel()[i])
    fmax = _F32(f.max)
    steps: list[Step] = []
    if scaling == "none":
        s = _F32(1)
        y = xi
    else:
        ax = None
        if scaling == "per_channel":
            if x.ndim < 2:
                raise ValueError(f"scaling='per_channel' needs a tensor with at least 2 dimensions, got shape {x.shape}")
            ax = axis % x.ndim
        sc = F._amax_scale(x, fmax, ax)
        if ax is None:
            s = _F32(np.asarray(sc).reshape(()))
        else:
            idx = np.unravel_index(i, x.shape)
            s = _F32(sc.reshape(-1)[idx[ax]])
        y = np.divide(xi, s, dtype=_F32)
        steps.append(Step("x / s", f"Scale so the largest |x| lands on the format's max {f.max:g}: s = amax / {f.max:g} = {num(s)}.",
                          rf"\frac{{x}}{{s}} = \frac{{{_tex_plain(xi)}}}{{{_tex_plain(s)}}} = {_tex_plain(y)}", y))
    if saturate:
        yc = _F32(np.clip(y, -fmax, fmax))
        steps.append(Step("saturate", f"Clip to ±{f.max:g}, the largest finite {f.name} value" + (": it was beyond." if yc != y else ": it is inside."),
                          rf"\mathrm{{clamp}}({_tex_plain(y)},\ -{f.max:g},\ {f.max:g}) = {_tex_plain(yc)}", yc))
        y = yc
    elif abs(y) > fmax:
        raise ValueError(f"{f.name} with saturate=False: {num(y)} overflows (max {f.max:g}); the cast gives {f.overflow}")
    codes, vals = F._cast(np.array([y], dtype=_F32), f.dtype)
    code, v = int(codes[0]), _F32(vals[0])
    finite = F._finite_values(f.dtype)
    k = int(np.searchsorted(finite, y, side="left"))
    lo = finite[max(k - 1, 0)] if finite[min(k, finite.size - 1)] != y else y
    hi = finite[min(k, finite.size - 1)]
    fi = ml_dtypes.finfo(f.dtype)
    nexp, nmant = int(fi.nexp), int(fi.nmant)
    bias = 1 - int(fi.minexp)
    sign = (code >> (nexp + nmant)) & 1
    expo = (code >> nmant) & ((1 << nexp) - 1)
    mant = code & ((1 << nmant) - 1)
    if lo == hi:
        words = f"{num(y)} is exactly representable in {f.name}."
        label = f.name.replace("_", r"\_")
        nearest_tex = rf"{_tex_plain(y)} \in \mathrm{{{label}}}"
    else:
        tie = float(y) * 2 == float(lo) + float(hi)
        words = (f"{num(y)} lies between the neighbours {num(lo)} and {num(hi)}; "
                 + ("it is exactly halfway: the tie goes to the one with an even mantissa, " if tie else "the nearest is ")
                 + f"{num(v)}.")
        nearest_tex = rf"{_tex_plain(lo)} \le {_tex_plain(y)} \le {_tex_plain(hi)} \;\Rightarrow\; {_tex_plain(v)}"
    steps.append(Step("nearest value", words, nearest_tex, v))
    bits_tex = (rf"\underbrace{{{sign}}}_{{\text{{sign}}}}\ \underbrace{{{expo:0{nexp}b}}}_{{\text{{exponent}}}}\ "
                rf"\underbrace{{{mant:0{nmant}b}}}_{{\text{{mantissa}}}}")
    if expo == 0:
        value_tex = rf"(-1)^{{{sign}}} \cdot 2^{{{1 - bias}}} \cdot \tfrac{{{mant}}}{{{1 << nmant}}} = {_tex_plain(v)}"
        kind = f"subnormal (exponent field 0): (-1)^sign x 2^(1 - {bias}) x mantissa / {1 << nmant}"
    else:
        value_tex = rf"(-1)^{{{sign}}} \cdot 2^{{{expo} - {bias}}} \cdot \left(1 + \tfrac{{{mant}}}{{{1 << nmant}}}\right) = {_tex_plain(v)}"
        kind = f"normal: (-1)^sign x 2^(exponent - {bias}) x (1 + mantissa / {1 << nmant})"
    steps.append(Step("bits", f"{1 + nexp + nmant} bits: 1 sign, {nexp} exponent (bias {bias}), {nmant} mantissa; {kind}. "
                      f"Bit pattern {code:#0{2 + (1 + nexp + nmant + 3) // 4}x}.",
                      bits_tex + r"\;\Rightarrow\;" + value_tex, code))
    xh = _F32(v * s) if scaling != "none" else v
    if scaling != "none":
        steps.append(Step("dequantize", "Multiply back by the scale.",
                          rf"\hat x = s \cdot v = {_tex_plain(s)} \cdot {tex(v)} = {_tex_plain(xh)}", xh))
    e = float(xi) - float(xh)
    steps.append(Step("error", "What the format cost this element.", rf"x - \hat x = {_tex_plain(xi)} - {tex(xh)} = {_tex_err(e)}", e))
    return WorkedExample(i, float(xi), tuple(steps), code, float(xh), e)


def histogram_steps(x: object, index: int, num_bins: int = 256, reconstruction: str = "center") -> WorkedExample:
    """Element ``index`` through the histogram scheme: bin width, raw bin index, the clamp that
    fixes the blog's out-of-range index, and the reconstruction (bin centre or bin mean)."""
    from .binning import RECONSTRUCTIONS

    x = as_float_array(x)
    i = check_int(index, "index", 0, x.size - 1)
    num_bins = check_num_bins(num_bins)
    check_choice(reconstruction, "reconstruction", RECONSTRUCTIONS)
    xi = _F32(x.ravel()[i])
    lo, hi = float(x.min()), float(x.max())
    w = (hi - lo) / num_bins
    steps = [Step("bin width", f"{num_bins} equal bins over [min, max] = [{num(lo)}, {num(hi)}].",
                  rf"w = \frac{{x_{{max}} - x_{{min}}}}{{B}} = \frac{{{_tex_plain(hi)} - {tex(lo)}}}{{{num_bins}}} = {w:.9g}", w)]
    if w == 0:
        k_raw = 0
        steps.append(Step("bin index", "A constant tensor: one value, bin 0.", r"w = 0 \Rightarrow k = 0", 0))
    else:
        t = (float(xi) - lo) / w
        k_raw = int(np.floor(t))
        steps.append(Step("bin index", "Which bin: floor of the distance from min in bin widths.",
                          rf"\left\lfloor \frac{{x - x_{{min}}}}{{w}} \right\rfloor = \lfloor {t:.9g} \rfloor = {k_raw}", k_raw))
    k = min(max(k_raw, 0), num_bins - 1)
    steps.append(Step("clamp", f"Keep k in [0, {num_bins - 1}]" + (
        f": x = max gives {k_raw}, one past the last bin — the blog's bug; the clamp puts it in bin {k}." if k != k_raw else ": it is inside."),
        rf"\mathrm{{clamp}}({k_raw},\ 0,\ {num_bins - 1}) = {k}", k))
    edges = lo + w * np.arange(num_bins + 1)
    edges[-1] = hi
    if w == 0:
        xh = _F32(lo)
        steps.append(Step("reconstruct", "Every value is the constant itself.", rf"\hat x = {_tex_plain(xh)}", xh))
    elif reconstruction == "center":
        xh = _F32((edges[k] + edges[k + 1]) / 2)
        steps.append(Step("reconstruct", "Rebuild at the bin centre.",
                          rf"\hat x = x_{{min}} + \left(k + \tfrac12\right) w = {_tex_plain(xh)}", xh))
    else:
        idx = np.clip(np.floor((x.astype(np.float64) - lo) / w).astype(np.int64), 0, num_bins - 1)
        members = x.ravel()[idx.ravel() == k].astype(np.float64)
        xh = _F32(members.mean())
        steps.append(Step("reconstruct", f"Rebuild at the mean of the {members.size} values in bin {k}.",
                          rf"\hat x = \overline{{x}}_{{k}} = {_tex_plain(xh)}", xh))
    e = float(xi) - float(xh)
    steps.append(Step("error", "What binning cost this element.", rf"x - \hat x = {_tex_plain(xi)} - {tex(xh)} = {_tex_err(e)}", e))
    return WorkedExample(i, float(xi), tuple(steps), k, float(xh), e)


def worked_example(x: object, index: int, result: QuantResult) -> WorkedExample:
    """The worked example for a registry result on ``x``: integer (affine params), float or histogram schemes."""
    from . import formats as F

    s = result.settings
    if result.scheme == "histogram":
        return histogram_steps(x, index, s["num_bins"], s["reconstruction"])
    if result.scheme in F.FLOATS:
        return float_steps(x, index, result.scheme, scaling=s["scaling"], saturate=s["saturate"], axis=s["axis"])
    if result.params is None:
        raise ValueError(f"{result.scheme}: no per-element affine parameters to show (try a size its groups divide)")
    return integer_steps(x, index, result.params, rounding=s.get("rounding", "half_even"), seed=s.get("seed", 0),
                         overflow=s.get("overflow", "saturate"))


def worked_schemes() -> list[str]:
    """Registry schemes the worked example can explain: affine integer, fixed point, histogram, float."""
    return [n for n, spec in SCHEMES.items() if spec.family in ("integer", "fixed point", "histogram", "float")]


def blog_params(bits: int = 8, *, signed: bool = True) -> QuantParams:
    """The blog's example parameters: scale 0.1, zero-point 0."""
    qmin, qmax = qrange(check_bits(bits), signed)
    return QuantParams(scale=BLOG_SCALE, zero_point=0, qmin=qmin, qmax=qmax)


# ---------------------------------------------------------------- the blog's bugs
def wrap_lesson(values: object, params: QuantParams | None = None) -> pd.DataFrame:
    """The blog's int8 conversion without clamping, beside the fix.

    For each value: x / s, the code a plain integer cast keeps (``overflow="wrap"``: the low
    bits, so 12.8 / 0.1 = 128 becomes -128) and what it dequantizes to, beside the saturated
    code and value. ``params`` default: the blog's scale 0.1, int8.
    """
    p = params or blog_params()
    x = as_float_array(values).ravel()
    wrapped = quantize(x, p, overflow="wrap")
    sat = quantize(x, p)
    with np.errstate(over="ignore", divide="ignore"):
        y = np.divide(x, _F32(p.scale), dtype=_F32)
    return pd.DataFrame({
        "x": x, "x / s": y,
        "blog: code (wraps)": wrapped.astype(np.int64), "blog: x_hat": dequantize(wrapped, p),
        "fixed: code (saturates)": sat.astype(np.int64), "fixed: x_hat": dequantize(sat, p),
    })


def wrap_curve(params: QuantParams | None = None, points: int = 801) -> pd.DataFrame:
    """Codes of a sweep of x from 2 below to 2 beyond the representable range: the sawtooth a
    wrapping cast makes beside the saturating staircase."""
    p = params or blog_params()
    lo, hi = (p.qmin - p.zero_point) * p.scale, (p.qmax - p.zero_point) * p.scale
    span = hi - lo
    x = np.linspace(lo - span, hi + span, points).astype(_F32)
    return pd.DataFrame({"x": x, "wrap": quantize(x, p, overflow="wrap").astype(np.int64),
                         "saturate": quantize(x, p).astype(np.int64)})


@dataclass(frozen=True)
class HistogramLesson:
    num_bins: int
    lo: float
    hi: float
    width: float
    out_of_range: int  # elements whose unclamped index is num_bins (or more)
    table: pd.DataFrame  # a few elements: x, raw index, valid?, clamped index, quantlib's code


def histogram_bin_lesson(x: object, num_bins: int = 16) -> HistogramLesson:
    """The blog's bin index ``int((x - min) / width)`` runs to ``num_bins`` at x = max (an
    index past the end of the histogram); quantlib's histogram scheme clamps it to
    ``num_bins - 1``. The table shows min, a middle value, the largest value below max and
    max; ``out_of_range`` counts the tensor's elements that would index past the end."""
    from .binning import histogram_quantize

    x = as_float_array(x)
    num_bins = check_num_bins(num_bins)
    flat = x.ravel()
    lo, hi = float(flat.min()), float(flat.max())
    w = (hi - lo) / num_bins
    if w == 0:
        raw = np.zeros(flat.size, dtype=np.int64)
    else:
        raw = np.floor((flat.astype(np.float64) - lo) / w).astype(np.int64)
    codes = histogram_quantize(x, num_bins)[0].ravel()
    middle = int(np.argpartition(flat, flat.size // 2)[flat.size // 2])
    below = np.where(flat < hi, flat, -np.inf)
    below_max = int(np.argmax(below)) if np.isfinite(below.max()) else int(np.argmin(flat))
    picks = list(dict.fromkeys([int(np.argmin(flat)), middle, below_max, int(np.argmax(flat))]))
    table = pd.DataFrame({
        "index": picks,
        "x": flat[picks],
        "blog: bin index": raw[picks],
        "blog: inside the histogram?": [bool(0 <= raw[k] < num_bins) for k in picks],
        "fixed: clamped index": np.clip(raw[picks], 0, num_bins - 1),
        "quantlib histogram code": codes[picks].astype(np.int64),
    })
    return HistogramLesson(num_bins, lo, hi, w, int(np.count_nonzero(raw >= num_bins)), table)


def asymmetric_lesson(weights: object, activations: object, bits: int = 8) -> pd.DataFrame:
    """"Asymmetric" is not "weights and activations get different scales".

    Every tensor gets its own scale in both schemes; asymmetric means a zero-point that
    shifts the grid off centre, so a one-sided range (post-ReLU activations) uses every
    code. One row per (tensor, scheme): scale, zero-point, code range, levels used of those
    available, SQNR.
    """
    bits = check_bits(bits)
    rows = []
    for name, t in (("weights", weights), ("activations", activations)):
        t = as_float_array(t)
        for scheme in ("symmetric", "asymmetric"):
            r = Quantizer(scheme, bits=bits)(t)
            m = r.metrics(t)
            p = r.params
            rows.append({"tensor": name, "range": f"[{num(t.min())}, {num(t.max())}]", "scheme": scheme,
                         "scale": float(p.scale), "zero-point": int(p.zero_point), "codes": f"[{p.qmin}, {p.qmax}]",
                         "levels used": m.levels_used, "levels available": p.qmax - p.qmin + 1, "SQNR dB": m.sqnr_db})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------- challenges
@dataclass(frozen=True)
class Challenge:
    """A classroom goal: reach ``min_sqnr_db`` with codes of ``code_bits`` (None: any) and at
    most ``max_bits_per_element`` stored bits (None: no budget), with one of ``schemes``
    (None: any). ``beat`` names a reference (scheme, settings) whose SQNR on the same tensor
    must be exceeded instead of a fixed number."""

    key: str
    title: str
    goal: str
    hint: str
    min_sqnr_db: float | None = None
    code_bits: int | None = None
    max_bits_per_element: float | None = None
    schemes: tuple[str, ...] | None = None
    beat: tuple[str, tuple[tuple[str, Any], ...]] | None = None


CHALLENGES: dict[str, Challenge] = {c.key: c for c in (
    Challenge("int8_40db", "Eight bits, 40 dB",
              "Reach SQNR >= 40 dB with an 8-bit integer scheme (symmetric or asymmetric).",
              "Min-max spends codes on the rare largest values; a calibrator that clips a few of them "
              "(percentile, mse) shrinks the step for everyone else.",
              min_sqnr_db=40.0, code_bits=8, schemes=("symmetric", "asymmetric")),
    Challenge("four_bit_30db", "Four-bit codes, 30 dB",
              "Reach SQNR >= 30 dB at 4 bits on this tensor.",
              "One scale for the whole tensor cannot do it on a bell curve. Smaller groups can — then look at "
              "the bits per element: the scales cost more than the codes.",
              min_sqnr_db=30.0, code_bits=4),
    Challenge("budget_20db", "20 dB in 4.1 bits",
              "Reach SQNR >= 20 dB storing at most 4.1 bits per element, scales and codebooks included.",
              "Uniform grids top out near 19 dB at 4 bits on a normal tensor; non-uniform levels put more of them "
              "where the values are.",
              min_sqnr_db=20.0, max_bits_per_element=4.1),
    Challenge("beat_fp8", "Beat FP8 with 6.6 bits",
              "Beat FP8 E4M3 (scaled per tensor) on this tensor's SQNR, storing at most 6.6 bits per element.",
              "FP8 keeps its relative precision at every magnitude; one 6-bit grid for the whole tensor falls just "
              "short. Give groups of values their own scale — and count what the scales cost.",
              max_bits_per_element=6.6, beat=("fp8_e4m3fn", (("scaling", "per_tensor"),))),
)}


@dataclass(frozen=True)
class ChallengeCheck:
    passed: bool
    rows: pd.DataFrame  # condition, yours, goal, met


def code_bits(scheme: str, settings: Mapping[str, Any]) -> int | None:
    """Bits of one stored code for ``scheme`` with ``settings`` (validated), scales not counted."""
    from . import formats as F

    spec = SCHEMES[check_choice(scheme, "scheme", SCHEMES)]
    s = spec.validate(settings)
    if "bits" in s:
        return int(s["bits"])
    if scheme == "fixed_point":
        return int(s["int_bits"] + s["frac_bits"] + int(s["signed"]))
    if scheme == "histogram":
        return int(np.ceil(np.log2(s["num_bins"])))
    for table in (F.FLOATS, F.MX_FORMATS, F.GGML_FORMATS):
        if scheme in table:
            return int(table[scheme].bits)
    if scheme in F.BNB_FORMATS or scheme == "nvfp4":
        return 4
    return None


def check_challenge(challenge: Challenge, scheme: str, settings: Mapping[str, Any], metrics: Mapping[str, float],
                    reference: Mapping[str, float] | None = None) -> ChallengeCheck:
    """Check a configuration's ``metrics`` (a :class:`Metrics` dict) against ``challenge``;
    ``reference`` is the metrics of ``challenge.beat`` on the same tensor when it has one."""
    rows = []
    if challenge.schemes is not None:
        rows.append(("scheme", scheme, " or ".join(challenge.schemes), scheme in challenge.schemes))
    if challenge.code_bits is not None:
        cb = code_bits(scheme, settings)
        rows.append(("bits per code", "—" if cb is None else str(cb), f"= {challenge.code_bits}", cb == challenge.code_bits))
    if challenge.max_bits_per_element is not None:
        b = float(metrics["bits_per_element"])
        rows.append(("bits per element (scales included)", f"{b:.3f}", f"<= {challenge.max_bits_per_element:g}",
                     bool(b <= challenge.max_bits_per_element)))
    sq = float(metrics["sqnr_db"])
    if challenge.min_sqnr_db is not None:
        rows.append(("SQNR", f"{sq:.2f} dB", f">= {challenge.min_sqnr_db:g} dB", bool(sq >= challenge.min_sqnr_db)))
    if challenge.beat is not None:
        if reference is None:
            raise ValueError(f"challenge {challenge.key!r} needs the metrics of {challenge.beat[0]} as reference")
        ref = float(reference["sqnr_db"])
        rows.append((f"SQNR vs {challenge.beat[0]}", f"{sq:.2f} dB", f"> {ref:.2f} dB", bool(sq > ref)))
    df = pd.DataFrame(rows, columns=["condition", "yours", "goal", "met"])
    return ChallengeCheck(bool(df["met"].all()), df)
