"""What every shipped model shares: the score object, quantizer configurations, weight replacement.

A model here is anything with ``linear_layers`` (names in forward order), ``weights`` (name ->
float32 ``(out, in)``), ``evaluate(weights=None, activations=None, *, layers=None, linears=None) -> Score``,
``calibration_inputs(layer) -> (tokens, in_features)``, ``iter_calibration_inputs(layers)`` (the
same, every layer in forward order from one pass) and ``layer_position(name) -> (row, column)``
(where the layer sits on a sensitivity heatmap); see :class:`QuantModel`.

``linears`` maps layer names to callables that compute the layer's product ``x W^T`` themselves
(float32 ``(tokens, in)`` -> ``(tokens, out)``; the model adds the bias): methods such as
SmoothQuant, rotations or LLM.int8 change a layer's forward, not only its weight. A layer in
``linears`` ignores ``weights`` and ``activations``: its callable does all of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, Union, runtime_checkable

import numpy as np

from .._checks import shown
from ..schemes import Quantizer

#: A layer's replacement product: float32 inputs ``(tokens, in_features)`` -> ``(tokens, out_features)``
#: (``x W^T`` as the layer computes it, without the bias, which the model adds).
Linear = Callable[[np.ndarray], np.ndarray]

#: A registry scheme configuration: a :class:`Quantizer`, a scheme name (default settings), or
#: ``(name, settings)`` as ``Quantizer(name, **settings)`` takes them.
Config = Union[Quantizer, str, tuple[str, Mapping[str, Any]]]


def as_quantizer(config: Config | None, role: str = "configuration") -> Quantizer | None:
    """``config`` as a :class:`Quantizer` (None stays None). Unknown schemes and settings raise
    the registry's own ``ValueError``; anything else is a ``TypeError`` naming ``role``."""
    if config is None or isinstance(config, Quantizer):
        return config
    if isinstance(config, str):
        return Quantizer(config)
    if isinstance(config, tuple) and len(config) == 2 and isinstance(config[0], str) and isinstance(config[1], Mapping):
        return Quantizer(config[0], **dict(config[1]))
    raise TypeError(f"{role} must be a Quantizer, a scheme name or (scheme, settings), got {shown(config)}")


@dataclass(frozen=True, eq=False)
class Score(Mapping[str, float]):
    """A model's score under one quantization: ``values`` maps metric names to floats.

    ``metric`` names the model's task metric (``score.value``; the float model's is
    ``score.float_value``, stored as ``"float_" + metric``); ``agreement`` is the share of
    outputs (predicted class, nearest neighbour) unchanged from the float model; ``objective``
    names the value sensitivity scans and the bit planner maximise (for a coarse task metric, a
    smoother one such as the cosine to the float model). It is a read-only mapping, so
    ``score["accuracy"]`` and ``dict(score)`` work; two scores are equal when their values are.
    """

    metric: str
    values: Mapping[str, float]
    objective: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)  # metric name -> short human label

    def __post_init__(self) -> None:
        for name in (self.metric, f"float_{self.metric}", "agreement", self.objective or self.metric):
            if name not in self.values:
                raise ValueError(f"a Score needs the value {name!r}; it has {sorted(self.values)}")

    @property
    def value(self) -> float:
        return float(self.values[self.metric])

    @property
    def float_value(self) -> float:
        return float(self.values[f"float_{self.metric}"])

    @property
    def agreement(self) -> float:
        return float(self.values["agreement"])

    @property
    def objective_value(self) -> float:
        return float(self.values[self.objective or self.metric])

    def __getitem__(self, key: str) -> float:
        return self.values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)

    def __repr__(self) -> str:
        vals = ", ".join(f"{k}={v:.6g}" for k, v in self.values.items())
        return f"Score({self.metric}: {vals})"


@runtime_checkable
class QuantModel(Protocol):
    name: str
    linear_layers: tuple[str, ...]
    weights: Mapping[str, np.ndarray]
    objective: str

    def evaluate(self, weights: Any = None, activations: Config | None = None, *,
                 layers: Iterable[str] | None = None, linears: Mapping[str, Linear] | None = None) -> Score: ...

    def calibration_inputs(self, layer: str) -> np.ndarray: ...

    def iter_calibration_inputs(self, layers: Iterable[str] | None = None) -> Iterator[tuple[str, np.ndarray]]: ...

    def layer_position(self, layer: str) -> tuple[int, str]: ...


def check_layers(model: QuantModel, layers: Iterable[str] | None) -> tuple[str, ...]:
    """``layers`` (None: all linear layers) as a tuple in forward order; unknown names raise."""
    if layers is None:
        return tuple(model.linear_layers)
    if isinstance(layers, str):
        layers = [layers]
    chosen = list(layers)
    unknown = sorted(set(chosen) - set(model.linear_layers))
    if unknown:
        some = ", ".join(model.linear_layers[:3])
        raise ValueError(f"unknown layer(s) {unknown} for model {model.name!r}; its {len(model.linear_layers)} "
                         f"linear layers are named like {some}, …")
    keep = set(chosen)
    return tuple(n for n in model.linear_layers if n in keep)


def check_linears(model: QuantModel, linears: Mapping[str, Linear] | None) -> dict[str, Linear]:
    """``linears`` (None: none) as a dict; unknown layer names raise ``ValueError``, a value that
    is not callable ``TypeError``."""
    if linears is None:
        return {}
    if not isinstance(linears, Mapping):
        raise TypeError(f"linears must be a mapping of layer name -> callable, got {shown(linears)}")
    check_layers(model, list(linears))
    for name, fn in linears.items():
        if not callable(fn):
            raise TypeError(f"linears[{name!r}] must be a callable x -> x W^T, got {shown(fn)}")
    return dict(linears)


def call_linear(fn: Linear, x: np.ndarray, name: str, out_features: int, dtype: type = np.float32) -> np.ndarray:
    """``fn(x)`` as a finite ``dtype`` array ``(tokens, out_features)``; anything else is a
    ``ValueError`` naming the layer."""
    y = np.asarray(fn(x), dtype=dtype)
    if y.shape != (x.shape[0], out_features):
        raise ValueError(f"linears[{name!r}] returned shape {y.shape} for input {x.shape}; the layer's output "
                         f"is ({x.shape[0]}, {out_features})")
    if not np.all(np.isfinite(y)):
        raise ValueError(f"linears[{name!r}] returned non-finite values")
    return y


def resolve_weights(model: QuantModel, weights: Any, layers: Iterable[str] | None) -> dict[str, np.ndarray]:
    """The weights to run with: ``weights`` is None (float), a mapping name -> array replacing
    any subset of linear weights (same shape, finite), or a configuration quantizing the
    weights of ``layers`` (None: all). Only replaced entries differ from ``model.weights``
    (the others are the same objects, which lets a model skip work that did not change)."""
    out = dict(model.weights)
    if weights is None:
        return out
    if isinstance(weights, Mapping):
        check_layers(model, list(weights))
        for name, w in weights.items():
            a = np.asarray(w, dtype=np.float32)
            if a.shape != out[name].shape:
                raise ValueError(f"replacement weight {name!r} has shape {a.shape}; the layer's is {out[name].shape}")
            if not np.all(np.isfinite(a)):
                raise ValueError(f"replacement weight {name!r} holds non-finite values")
            out[name] = a
        return out
    q = as_quantizer(weights, "weights")
    for name in check_layers(model, layers):
        out[name] = quantize_weight(q, out[name], name)
    return out


def quantize_weight(q: Quantizer, w: np.ndarray, name: str) -> np.ndarray:
    """The dequantized ``q(w)``; a scheme that cannot take this weight's shape is a ValueError
    naming the layer."""
    try:
        return q(w).dequantized
    except ValueError as exc:
        raise ValueError(f"weights scheme {q.label} cannot quantize layer {name!r} {w.shape}: {exc}") from None


def activation_quantizer(config: Config | None, probe_widths: Iterable[int]) -> Quantizer | None:
    """``config`` as the quantizer of every linear layer's input, checked once on small real-shaped
    batches (7 and 8 tokens, each width in ``probe_widths``): a scheme that cannot quantize a
    ``(tokens, in_features)`` batch on the fly — a manual scale with per-channel granularity, groups
    that run along the token axis (their count depends on the batch), a block layout that does not
    divide the width, … — is refused here with a
    ``ValueError`` that names it, instead of failing halfway through a forward pass."""
    q = as_quantizer(config, "activations")
    if q is None:
        return None
    rng = np.random.default_rng(0)
    for width in sorted(set(probe_widths)):
        for tokens in (7, 8):  # two token counts: a layout tied to the batch's length fails on one of them
            x = rng.standard_normal((tokens, width)).astype(np.float32)
            try:
                r = q(x).dequantized
            except (ValueError, TypeError) as exc:
                raise ValueError(f"activation scheme {q.label} cannot run per batch on a (tokens, {width}) layer "
                                 f"input, whatever the number of tokens: {exc}") from None
            if r.shape != x.shape:
                raise ValueError(f"activation scheme {q.label} returned shape {r.shape} for a {x.shape} input")
    return q


def size_of(model: QuantModel, layer: str) -> int:
    return int(np.prod(model.weights[layer].shape))
