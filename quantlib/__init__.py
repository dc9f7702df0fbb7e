"""quantlib — a small, exact engine for learning, checking and comparing quantization.

numpy in, numpy / pandas out; no UI imports. See README.md for the API tour.

``import quantlib`` imports numpy and quantlib's own modules only: pandas and plotly are
bound at first use (quantlib._lazy), numba on the first large array (quantlib._kernels),
ml_dtypes and onnx inside the functions that need them. The submodules that only pages and
notebooks use (figures, export, teaching, cli) are imported on first attribute access,
``ql.figures`` as well as ``from quantlib import figures``.
"""

import importlib as _importlib

from .calibration import METHODS as CALIBRATION_METHODS
from .calibration import calibrate
from .conventions import CONVENTIONS, Convention
from .integer import (
    OVERFLOW_MODES,
    ROUNDING_MODES,
    choose_qparams,
    dequantize,
    fake_quantize,
    fixed_point_params,
    levels,
    qparams_from_range,
    quantize,
)
from .binning import histogram_quantize
from .data import DISTRIBUTIONS, sample_tensors, synthetic
from .loaders import gguf_types, load_tensors, stored_types
from .metrics import METRIC_INFO, MetricInfo, Metrics, metrics
from .models import (
    MODELS,
    BitPlan,
    DigitsModel,
    Score,
    accuracy_vs_bits,
    allocate_bits,
    digits_model,
    layer_sensitivity,
    load_model,
    measure_candidates,
    metric_vs_bits,
    uniform_at_budget,
)
from .params import QuantParams, qrange
from .schemes import SCHEMES, Quantizer, QuantResult, SchemeSpec, Setting, register
from .sweeps import sweep_bits, sweep_threshold
from .rate import LIMITS, RDChart, differential_entropy, rate_distortion, rd_chart, rd_limits, warm_up
from .anatomy import ErrorAnatomy, block_view, error_anatomy
from .golden import check_golden_vectors, golden_vectors
from .linear import LINEAR_METHODS, LinearMethod, LinearResult, evaluate_layers, quantize_layers, quantize_linear

from . import formats, nonuniform  # noqa: E402,F401  (they register their schemes)
from . import toolkits  # noqa: E402,F401
from .toolkits import compare_toolkits  # noqa: E402
from .formats import to_ggml_bytes  # noqa: E402

_LAZY_SUBMODULES = ("cli", "export", "figures", "teaching", "rd_figures", "checkpoint", "checkpoint_figures")


def checkpoint_report(*args: object, **kwargs: object) -> "pandas.DataFrame":  # noqa: F821
    """Quantize every tensor of a checkpoint with each scheme, on Dask: see :func:`quantlib.checkpoint.checkpoint_report`
    (imported on first call, so ``import quantlib`` stays free of pandas and dask)."""
    from .checkpoint import checkpoint_report as run

    return run(*args, **kwargs)


def __getattr__(name: str) -> object:
    if name in _LAZY_SUBMODULES:
        return _importlib.import_module(f".{name}", __name__)  # binds quantlib.<name> as well
    raise AttributeError(f"module 'quantlib' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_SUBMODULES))

__all__ = [
    "CALIBRATION_METHODS",
    "CONVENTIONS",
    "DISTRIBUTIONS",
    "SCHEMES",
    "Metrics",
    "QuantResult",
    "Quantizer",
    "SchemeSpec",
    "Setting",
    "OVERFLOW_MODES",
    "ROUNDING_MODES",
    "Convention",
    "DigitsModel",
    "QuantParams",
    "accuracy_vs_bits",
    "calibrate",
    "compare_toolkits",
    "choose_qparams",
    "dequantize",
    "digits_model",
    "fake_quantize",
    "fixed_point_params",
    "histogram_quantize",
    "metrics",
    "METRIC_INFO",
    "MetricInfo",
    "register",
    "sample_tensors",
    "sweep_bits",
    "to_ggml_bytes",
    "synthetic",
    "sweep_threshold",
    "layer_sensitivity",
    "levels",
    "load_tensors",
    "gguf_types",
    "stored_types",
    "qparams_from_range",
    "qrange",
    "quantize",
    "LIMITS",
    "ErrorAnatomy",
    "block_view",
    "check_golden_vectors",
    "differential_entropy",
    "error_anatomy",
    "golden_vectors",
    "rate_distortion",
    "rd_chart",
    "RDChart",
    "rd_limits",
    "warm_up",
    "MODELS",
    "BitPlan",
    "Score",
    "allocate_bits",
    "load_model",
    "measure_candidates",
    "metric_vs_bits",
    "uniform_at_budget",
    "checkpoint_report",
    "LINEAR_METHODS",
    "LinearMethod",
    "LinearResult",
    "quantize_linear",
    "quantize_layers",
    "evaluate_layers",
]
