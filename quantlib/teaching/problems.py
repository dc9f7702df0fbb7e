"""Lessons 4 and 5: problems met in practice with their fixes, and the formats in use."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._checks import as_float_array, check_bits
from ..schemes import Quantizer

if TYPE_CHECKING:
    import pandas as pd

# ------------------------------------------------------------------ 4. problems
def precision_fixes(x: object, bits: int = 4) -> pd.DataFrame:
    """Precision loss and its usual fixes on ``x`` at ``bits``: min-max, clipping calibrators,
    finer granularity (per-channel for 2-D tensors, groups of 128 where they divide), and a
    non-uniform codebook. One row per configuration: SQNR, clipped share, bits per element."""
    import pandas as pd

    x = as_float_array(x)
    bits = check_bits(bits, symmetric=True)
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
        rows.append({"fix": label, "scheme": scheme, "SQNR dB": m.sqnr_db, "clip_ratio": m.clip_ratio,
                     "bits per element": m.bits_per_element})
    return pd.DataFrame(rows)


def overhead_table(x: object, bits: int = 4, group_sizes: Sequence[int] = (32, 64, 128, 256, 1024)) -> pd.DataFrame:
    """The price of finer scales: per-group symmetric quantization at each group size that
    divides ``x``'s size, with the scales it stores, bits per element and SQNR (per tensor first)."""
    import pandas as pd

    x = as_float_array(x)
    bits = check_bits(bits, symmetric=True)
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
