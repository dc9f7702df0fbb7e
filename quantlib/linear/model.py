"""A linear method applied to every linear layer of a shipped model, and the model's score with it.

``quantize_layers(model, "gptq", bits=4)`` quantizes each layer on its own real calibration
inputs (``model.iter_calibration_inputs``: what the *float* model feeds the layer on its
calibration data; the layers are not calibrated one after another on the quantized model's
outputs, as GPTQ's reference scripts do), and ``evaluate_layers(model, results)`` scores the model
whose layers all run their quantized forward (``model.evaluate(linears=...)``), so a method that
changes the forward itself (SmoothQuant's scaled and quantized inputs, a rotation, LLM.int8's
outlier columns) is measured as it runs, not through an effective weight.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from .._checks import check_choice
from ..models._base import Config, QuantModel, Score, as_quantizer, check_layers
from ._base import LINEAR_METHODS, LinearResult, quantize_linear

#: ``progress(done, total, layer)``: called before each layer is quantized (``done`` layers finished).
Progress = Callable[[int, int, str], None]


def quantize_layers(model: QuantModel, method: str, *, bits: int | None = None, layers: Iterable[str] | None = None,
                    weights: Config | None = None, activations: Config | None = None,
                    progress: Progress | None = None, **settings: Any) -> dict[str, LinearResult]:
    """``method`` (a key of :data:`~quantlib.LINEAR_METHODS`) on each of ``layers`` (None: every
    linear layer of ``model``), in forward order: layer name -> :class:`~quantlib.LinearResult`.

    ``bits``: the bit width of the weight codes, set with the method's own rule
    (``LinearMethod.configure``: its ``bits`` setting, or its weight scheme's ``at_bits``); None
    keeps ``settings`` and ``weights`` as given. ``weights``, ``activations`` and ``settings`` as in
    :func:`~quantlib.quantize_linear`. Each layer is calibrated on ``model``'s float inputs to it
    (a method that needs no data, such as ``rtn``, gets none and no calibration pass is run).
    A layer a configuration cannot quantize raises a ``ValueError`` naming the layer.
    """
    spec = LINEAR_METHODS[check_choice(method, "method", LINEAR_METHODS)]
    chosen = check_layers(model, layers)
    if bits is not None:
        settings, wq = spec.configure(int(bits), settings, weights)
    else:
        settings, wq = spec.validate(settings), spec.weights_quantizer(weights)
    aq = as_quantizer(activations, "activations")
    inputs = model.iter_calibration_inputs(chosen) if spec.needs_inputs else ((n, None) for n in chosen)
    out: dict[str, LinearResult] = {}
    for i, (name, x) in enumerate(inputs):
        if progress is not None:
            progress(i, len(chosen), name)
        try:
            out[name] = quantize_linear(model.weights[name], x, method, weights=wq, activations=aq, **settings)
        except ValueError as exc:
            raise ValueError(f"{method} cannot quantize layer {name!r} {model.weights[name].shape}: {exc}") from None
    if progress is not None:
        progress(len(chosen), len(chosen), "")
    return out


def evaluate_layers(model: QuantModel, results: Mapping[str, LinearResult]) -> Score:
    """``model``'s score with each layer of ``results`` running its quantized forward
    (``results[name].forward``, the model adding the bias); the other layers stay float."""
    return model.evaluate(linears={name: r.forward for name, r in results.items()})


def average_bits(model: QuantModel, results: Mapping[str, LinearResult]) -> float:
    """Bits per weight over the layers of ``results``, each weighted by its number of weights
    (every scale, zero-point and kept outlier counted, as ``bits_per_element`` counts them)."""
    sizes = np.array([model.weights[n].size for n in results], dtype=np.float64)
    if sizes.sum() == 0:
        raise ValueError("results is empty: no layer to average over")
    bits = np.array([r.bits_per_element for r in results.values()], dtype=np.float64)
    return float(np.sum(sizes * bits) / np.sum(sizes))
