"""quantlib — a small, exact engine for learning, checking and comparing quantization.

numpy in, numpy / pandas out; no UI imports. See README.md for the API tour.
"""

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
from .loaders import load_tensors
from .metrics import Metrics, metrics
from .model import DigitsModel, accuracy_vs_bits, digits_model, layer_sensitivity
from .params import QuantParams, qrange
from .schemes import SCHEMES, Quantizer, QuantResult, SchemeSpec, Setting, register
from .sweeps import sweep_bits, sweep_threshold

from . import formats, nonuniform  # noqa: E402,F401  (they register their schemes)
from . import teaching, toolkits  # noqa: E402,F401
from .toolkits import compare_toolkits  # noqa: E402

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
    "register",
    "sample_tensors",
    "sweep_bits",
    "synthetic",
    "sweep_threshold",
    "layer_sensitivity",
    "levels",
    "load_tensors",
    "qparams_from_range",
    "qrange",
    "quantize",
]
