"""Real models to quantize, registered by name: ``load_model("digits_mlp")``, ``load_model("minilm_l6")``.

Every model is one :class:`ModelSpec` in :data:`MODELS` (its title, what it is, how its task is
scored, how to load it); pages list the registry. A loaded model follows
:class:`~quantlib.models._base.QuantModel`: ``linear_layers``, ``weights``, ``evaluate``,
``calibration_inputs``, ``layer_position``. :mod:`.planning` holds what works on any of them:
per-layer sensitivity, metric-vs-bits sweeps, the mixed-precision planner.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .._checks import check_choice
from ._base import Config, QuantModel, Score, as_quantizer
from .digits import DigitsModel, digits_model
from .planning import (
    BitPlan,
    accuracy_vs_bits,
    allocate_bits,
    layer_sensitivity,
    measure_candidates,
    metric_vs_bits,
    uniform_at_budget,
)


@dataclass(frozen=True)
class ModelSpec:
    """A shipped model: ``load()`` returns it (cached by the loader); the rest is what a page shows."""

    name: str
    title: str
    description: str
    metric_help: str
    load: Callable[[], QuantModel] = field(repr=False)
    curve_bits: tuple[int, ...] = tuple(range(2, 9))  # bit widths of the page's metric-vs-bits curves
    example_layer: str = ""  # the layer whose input channels the page shows first (its outliers)


def _load_minilm() -> QuantModel:
    from .minilm import minilm_model

    return minilm_model()


MODELS: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> ModelSpec:
    """Add ``spec`` to :data:`MODELS` (names are unique)."""
    if spec.name in MODELS:
        raise ValueError(f"model {spec.name!r} is already registered")
    MODELS[spec.name] = spec
    return spec


register_model(ModelSpec(
    "digits_mlp", "Digits MLP (64 → 64 → 32 → 10)",
    "A ReLU MLP trained on the UCI 8×8 handwritten digits, run in numpy on its 540 held-out images.",
    "accuracy: share of held-out digits classified correctly; agreement: share of predictions equal to the "
    "float model's.",
    digits_model,
    example_layer="fc2",
))
register_model(ModelSpec(
    "minilm_l6", "all-MiniLM-L6-v2 (6-layer BERT sentence encoder)",
    "The pretrained sentence encoder sentence-transformers/all-MiniLM-L6-v2 (22.7 M parameters, 36 linear "
    "layers), run in numpy on the shipped paraphrase pairs.",
    "paraphrase top-1: share of sentences whose nearest neighbour is their paraphrase; same neighbour: share "
    "whose nearest neighbour is the float model's; cosine: between each float and quantized embedding.",
    _load_minilm,
    curve_bits=(3, 4, 5, 6, 8),
    example_layer="encoder.layer.1.intermediate.dense.weight",  # channel 99 reaches 30, 17x the median channel
))


def load_model(name: str) -> QuantModel:
    """The registered model ``name`` (see :data:`MODELS`), loaded once and shared."""
    return MODELS[check_choice(name, "model", MODELS)].load()


__all__ = [
    "MODELS", "BitPlan", "Config", "DigitsModel", "ModelSpec", "QuantModel", "Score", "accuracy_vs_bits",
    "allocate_bits", "as_quantizer", "digits_model", "layer_sensitivity", "load_model", "measure_candidates",
    "metric_vs_bits", "register_model", "uniform_at_budget",
]
