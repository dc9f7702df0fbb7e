"""Linear-layer quantization methods beyond round-to-nearest, one module per method.

``quantize_linear(weight, inputs, method, **settings) -> LinearResult`` runs a method from
:data:`LINEAR_METHODS`; each method module registers its :class:`LinearMethod` spec on import.
"""

from ._base import (
    FLOAT,
    LINEAR_METHODS,
    LinearMethod,
    LinearResult,
    check_inputs,
    check_weight,
    quantize_linear,
    register_method,
    transformed_result,
)
from . import rtn  # noqa: E402,F401  (registers its spec)
from . import awq, hadamard, llm_int8, smoothquant  # noqa: E402,F401  (each registers its spec)
from . import gptq  # noqa: E402,F401
from . import hqq  # noqa: E402,F401
from .model import average_bits, evaluate_layers, quantize_layers  # noqa: E402

__all__ = [
    "FLOAT",
    "LINEAR_METHODS",
    "LinearMethod",
    "LinearResult",
    "average_bits",
    "check_inputs",
    "check_weight",
    "evaluate_layers",
    "quantize_layers",
    "quantize_linear",
    "register_method",
    "transformed_result",
]
