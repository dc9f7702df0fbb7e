"""The linear-layer method registry: one :class:`LinearMethod` spec per method, one result type.

A method turns a float linear layer ``y = x @ W.T`` (``W``: ``(out_features, in_features)``,
``x``: ``(tokens, in_features)``) into a quantized layer. Unlike a registry *scheme*, which rounds
one tensor, a method may use the layer's calibration inputs (GPTQ's Hessian, AWQ's and
SmoothQuant's channel statistics), transform both sides first (scaling, rotation), or keep part
of the layer in higher precision (LLM.int8). Every method also takes ``activations=``: a registry
scheme configuration applied dynamically to the layer's inputs after the method's own transform
(None: inputs stay float), so plain W8A8 is ``rtn`` with 8-bit weights and 8-bit activations.

The shared forward of a transformed layer (the pattern of SmoothQuant, AWQ and rotations)::

    x' = (x / s) @ R          s: per-input-channel scale (1 when absent), R: orthogonal (I when absent)
    y  = Qa(x') @ Q(W')^T      W' = (W * s) @ R,  Qa: the activation scheme (identity when None)

and the effective weight in the original basis is ``Q(W') @ R^T / s`` — the weight that gives the
same output as the quantized layer on float inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from .._checks import as_float_array, check_choice, shown
from ..models._base import Config, as_quantizer
from ..schemes import Quantizer, Setting, SettingsSpec

#: Settings every method takes besides its own (validated by :func:`quantize_linear`).
COMMON = ("weights", "activations")

#: ``weights=FLOAT`` / ``activations=FLOAT``: that side stays float32 — quantization turned off
#: (there is no identity scheme in the registry). The weight then counts 32 bits per element; for
#: ``activations`` it also overrides a method's ``default_activations`` (SmoothQuant's 8 bits), which
#: ``None`` does not. Methods with their own rounding (``default_weights`` None) refuse it for
#: ``weights`` and offer their own off switch.
FLOAT = "float"


@dataclass(frozen=True, eq=False)
class LinearResult:
    """A quantized linear layer.

    ``weight``: the effective dequantized float32 weight ``(out, in)`` in the original basis, or
    None where none exists (LLM.int8 with int8 activations: the output is not one matrix product).
    ``bits_per_element``: stored bits per weight element, every scale, zero-point, codebook and
    kept outlier included (activations are not counted). ``details``: what the method chose,
    for the page and the tests (per-channel scales, the rotation, kept columns …), read-only
    arrays and numbers. ``weight_result``: the registry :class:`~quantlib.QuantResult` of the
    (transformed) weight where a registry scheme quantized it, else None.
    """

    method: str
    settings: Mapping[str, Any]
    weight: np.ndarray | None
    bits_per_element: float
    float_weight: np.ndarray = field(repr=False)
    details: Mapping[str, Any] = field(default_factory=dict, repr=False)
    weight_result: Any = field(default=None, repr=False)
    _forward: Callable[[np.ndarray], np.ndarray] = field(default=None, repr=False)  # type: ignore[assignment]

    @property
    def in_features(self) -> int:
        return int(self.float_weight.shape[1])

    def forward(self, x: object) -> np.ndarray:
        """The quantized layer's float32 output ``(tokens, out)`` for inputs ``x`` ``(tokens, in)``,
        with every transform and activation quantization of the method applied (no bias)."""
        a = check_inputs(x, self.in_features, "x")
        return np.asarray(self._forward(a), dtype=np.float32)

    def output_error(self, x: object) -> float:
        """Relative output MSE ``‖forward(x) − x Wᵀ‖² / ‖x Wᵀ‖²`` against the float layer, in
        float64 (0 when the float output is all zero and the quantized one equals it; inf when
        only the float output is zero)."""
        a = check_inputs(x, self.in_features, "x")
        ref = a.astype(np.float64) @ self.float_weight.astype(np.float64).T
        err = np.asarray(self._forward(a), dtype=np.float64) - ref
        num, den = float(np.sum(err * err)), float(np.sum(ref * ref))
        if den == 0.0:
            return 0.0 if num == 0.0 else float("inf")
        return num / den


#: ``fit(weight, inputs, settings, weights_quantizer, activations_quantizer) -> LinearResult``.
FitFn = Callable[[np.ndarray, np.ndarray | None, dict[str, Any], Quantizer | None, Quantizer | None], LinearResult]


@dataclass(frozen=True)
class LinearMethod(SettingsSpec):
    """A registered linear-layer method and what a UI needs to show it.

    ``fit``: the method itself (see :data:`FitFn`); it receives float32 ``weight`` ``(out, in)``,
    float32 ``inputs`` ``(tokens, in)`` (None when ``needs_inputs`` is False and none were given),
    its validated ``settings``, the weight quantizer (a :class:`~quantlib.Quantizer` built from
    ``weights=`` or ``default_weights``; None when the method brings its own rounding) and the
    activation quantizer (None: float inputs).
    ``default_weights``: the registry weight configuration the method quantizes with when none is
    given; None means the method has its own weight quantizer and refuses ``weights=``.
    ``at_bits(bits, settings, weights) -> (settings, weights)``: the configuration at ``bits``
    bits per weight code, for bit sweeps (the default sets a ``bits`` setting, or the weight
    scheme's own ``at_bits``).
    ``formula`` is LaTeX; ``source`` names the paper and the reference implementation matched.
    ``setting``, ``defaults`` and ``validate`` as on a scheme (:class:`~quantlib.schemes.SettingsSpec`).
    """

    kind: ClassVar[str] = "method"
    also_takes: ClassVar[tuple[str, ...]] = COMMON

    name: str
    title: str
    description: str
    formula: str
    source: str
    settings: tuple[Setting, ...]
    fit: FitFn = field(repr=False)
    needs_inputs: bool = True
    default_weights: Config | None = None
    default_activations: Config | None = None
    at_bits: Callable[[int, dict[str, Any], Quantizer | None], tuple[dict[str, Any], Quantizer | None]] | None = field(
        default=None, repr=False)

    def configure(self, bits: int, settings: Mapping[str, Any] | None = None,
                  weights: Config | None = None) -> tuple[dict[str, Any], Quantizer | None]:
        """This method's settings and weight quantizer at ``bits`` bits per weight code."""
        s = self.validate(settings or {})
        wq = self.weights_quantizer(weights)
        if self.at_bits is not None:
            return self.at_bits(int(bits), s, wq)
        if "bits" in s:
            return self.validate({**s, "bits": int(bits)}), wq
        if wq is not None:
            return s, Quantizer(wq.name, **{**wq.settings, **wq.spec.at_bits(int(bits), wq.settings)})
        raise ValueError(f"method {self.name!r} has no bit width to set")

    def weights_quantizer(self, weights: Config | None) -> Quantizer | None:
        """``weights`` (or the default) as a Quantizer; refused for a method with its own rounding."""
        if self.default_weights is None:
            if weights is not None:
                raise ValueError(f"method {self.name!r} quantizes weights with its own rule and takes no "
                                 f"weights= scheme (got {shown(weights)}); set its own settings instead: "
                                 f"{[s.name for s in self.settings]}")
            return None
        if isinstance(weights, str) and weights == FLOAT:
            return None
        return as_quantizer(self.default_weights if weights is None else weights, "weights")


LINEAR_METHODS: dict[str, LinearMethod] = {}


def register_method(spec: LinearMethod) -> LinearMethod:
    """Add ``spec`` to :data:`LINEAR_METHODS` (names are unique)."""
    if spec.name in LINEAR_METHODS:
        raise ValueError(f"linear method {spec.name!r} is already registered")
    LINEAR_METHODS[spec.name] = spec
    return spec


def check_weight(weight: object) -> np.ndarray:
    """A finite float32 ``(out_features, in_features)`` weight."""
    w = as_float_array(weight, "weight")
    if w.ndim != 2:
        raise ValueError(f"weight must be a 2-D (out_features, in_features) matrix, got shape {w.shape}")
    return np.ascontiguousarray(w, dtype=np.float32)


def check_inputs(x: object, in_features: int, name: str = "inputs") -> np.ndarray:
    """Finite float32 ``(tokens, in_features)`` inputs (a 1-D vector is one token)."""
    a = as_float_array(x, name)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2 or a.shape[1] != in_features:
        raise ValueError(f"{name} must be (tokens, {in_features}) to match the weight's in_features, "
                         f"got shape {a.shape}")
    return np.ascontiguousarray(a, dtype=np.float32)


def quantize_linear(weight: object, inputs: object | None, method: str, *, weights: Config | None = None,
                    activations: Config | None = None, **settings: Any) -> LinearResult:
    """Quantize the linear layer ``y = x @ weight.T`` with ``method`` (a key of :data:`LINEAR_METHODS`).

    ``weight``: ``(out_features, in_features)``; ``inputs``: calibration inputs
    ``(tokens, in_features)`` (may be None for a method that needs no data, e.g. ``rtn``, ``hqq``);
    ``weights``: the registry weight scheme configuration for methods that round with one (rtn,
    smoothquant, awq, hadamard; see each method's ``default_weights``), or :data:`FLOAT` to keep the
    weight float32; ``activations``: a registry scheme configuration applied per call to the
    (transformed) inputs, None = the method's ``default_activations`` (float inputs for most),
    :data:`FLOAT` = float inputs always;
    ``settings``: the method's own settings (``LINEAR_METHODS[method].settings``).
    Unknown methods or settings, mismatched shapes and non-finite values raise ``ValueError``.
    """
    spec = LINEAR_METHODS[check_choice(method, "method", LINEAR_METHODS)]
    w = check_weight(weight)
    s = spec.validate(settings)
    x = None
    if inputs is not None:
        x = check_inputs(inputs, w.shape[1])
    elif spec.needs_inputs:
        raise ValueError(f"method {method!r} needs calibration inputs (tokens, {w.shape[1]}); got None")
    wq = spec.weights_quantizer(weights)
    if isinstance(activations, str) and activations == FLOAT:
        aq = None
    else:
        aq = as_quantizer(activations if activations is not None else spec.default_activations, "activations")
    return spec.fit(w, x, s, wq, aq)


def quantize_weight_result(wq: Quantizer, w: np.ndarray) -> Any:
    """``wq(w)`` (a :class:`~quantlib.QuantResult` of the same shape); a scheme that cannot take
    this weight is a ``ValueError`` naming the scheme and the shape."""
    try:
        r = wq(w)
    except ValueError as exc:
        raise ValueError(f"weights scheme {wq.label} cannot quantize a {w.shape} weight: {exc}") from None
    if r.dequantized.shape != w.shape:
        raise ValueError(f"weights scheme {wq.label} returned shape {r.dequantized.shape} for a {w.shape} weight")
    return r


def round_weight(wq: Quantizer | None, w: np.ndarray) -> tuple[np.ndarray, float, Any]:
    """``(Q(w), bits_per_element, QuantResult)`` with the weight scheme ``wq``; ``wq`` None
    (``weights=FLOAT``) keeps ``w`` as it is: ``(w, 32.0, None)``."""
    if wq is None:
        return w, 32.0, None
    r = quantize_weight_result(wq, w)
    return r.dequantized, float(r.bits_per_element), r


def label(q: Quantizer | None) -> str:
    """A quantizer's label, or :data:`FLOAT` for a side left in float32."""
    return FLOAT if q is None else q.label


def act_fn(aq: Quantizer | None) -> Callable[[np.ndarray], np.ndarray]:
    """The dynamic activation quantizer as a function of a float32 batch (identity for None)."""
    if aq is None:
        return lambda x: x
    return lambda x: aq(x).dequantized


def transformed_result(name: str, settings: Mapping[str, Any], w: np.ndarray, wq_transformed: np.ndarray,
                       bits_per_element: float, aq: Quantizer | None, *, scale: np.ndarray | None = None,
                       rotation: np.ndarray | None = None, details: Mapping[str, Any] | None = None,
                       weight_result: Any = None) -> LinearResult:
    """A :class:`LinearResult` for the transformed-layer pattern of the module docstring.

    ``wq_transformed``: the dequantized ``Q(W')`` in the transformed basis; ``scale``: ``s``
    (in_features,) or None; ``rotation``: ``R`` (in, in) orthogonal, or None. The forward computes
    ``Qa((x / s) @ R) @ Q(W')^T``; the effective weight is ``Q(W') @ R^T / s``.
    """
    s32 = None if scale is None else np.asarray(scale, np.float32)
    r32 = None if rotation is None else np.asarray(rotation, np.float32)
    act = act_fn(aq)
    wqt = np.ascontiguousarray(wq_transformed, dtype=np.float32)

    def transform(x: np.ndarray) -> np.ndarray:
        if s32 is not None:
            x = x / s32
        if r32 is not None:
            x = x @ r32
        return x

    def forward(x: np.ndarray) -> np.ndarray:
        return act(transform(x)) @ wqt.T

    eff = wqt if r32 is None else wqt @ r32.T
    if s32 is not None:
        eff = eff / s32
    eff = np.ascontiguousarray(eff, dtype=np.float32)
    eff.setflags(write=False)
    return LinearResult(name, dict(settings), eff, float(bits_per_element), w, dict(details or {}),
                        weight_result, forward)
