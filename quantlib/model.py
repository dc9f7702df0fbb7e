"""Model impact: the shipped digits MLP, run in numpy with quantized weights and activations.

``sample_data/digits_mlp.npz`` holds a 64 -> 64 -> 32 -> 10 ReLU MLP trained on the UCI 8x8
digits (see sample_data/README.md), its held-out test split and its real hidden
activations. Weights are quantized once per layer (PyTorch layout (out, in): per-channel
``axis=0`` is one scale per output neuron). Activations — the input of every linear layer —
are quantized dynamically on the evaluated batch, as dynamic quantization does. Every
number comes from the shipped file; nothing is hard-coded.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._lazy import pandas as pd
from .data import SAMPLE_DIR
from .loaders import load_tensors
from .schemes import SCHEMES, Quantizer

MODEL_PATH = SAMPLE_DIR / "digits_mlp.npz"


@dataclass(frozen=True, eq=False)
class DigitsModel:
    """A ReLU MLP: ``layers`` is a tuple of (name, weight (out, in), bias (out,))."""

    layers: tuple[tuple[str, np.ndarray, np.ndarray], ...]
    test_x: np.ndarray
    test_y: np.ndarray

    @property
    def layer_names(self) -> list[str]:
        return [name for name, _, _ in self.layers]

    def forward(self, x: np.ndarray, weights: Quantizer | None = None, activations: Quantizer | None = None,
                layers: Iterable[str] | None = None) -> np.ndarray:
        """Logits (float64) for inputs ``x``; quantize weights/activations of ``layers`` (None: all)."""
        chosen = set(self.layer_names if layers is None else layers)
        unknown = chosen - set(self.layer_names)
        if unknown:
            raise ValueError(f"unknown layer(s) {sorted(unknown)}; layers are {self.layer_names}")
        h = np.asarray(x, dtype=np.float32)
        for i, (name, w, b) in enumerate(self.layers):
            if name in chosen and activations is not None:
                h = activations(h).dequantized
            if name in chosen and weights is not None:
                w = weights(w).dequantized
            h = h.astype(np.float64) @ w.astype(np.float64).T + b
            if i < len(self.layers) - 1:
                h = np.maximum(h, 0.0).astype(np.float32)
        return h

    def evaluate(self, weights: Quantizer | None = None, activations: Quantizer | None = None,
                 layers: Iterable[str] | None = None) -> dict[str, float]:
        """Accuracy on the held-out split, agreement with the float model, and logit error.

        Returns accuracy, float_accuracy, agreement (share of predictions equal to the float
        model's), logit_mse, logit_max_error and logit_sqnr_db.
        """
        ref = self.float_logits
        out = self.forward(self.test_x, weights, activations, layers)
        pred, ref_pred = out.argmax(axis=1), ref.argmax(axis=1)
        err = out - ref
        mse = float(np.mean(err**2))
        return {
            "accuracy": float(np.mean(pred == self.test_y)),
            "float_accuracy": float(np.mean(ref_pred == self.test_y)),
            "agreement": float(np.mean(pred == ref_pred)),
            "logit_mse": mse,
            "logit_max_error": float(np.abs(err).max()),
            "logit_sqnr_db": float(10 * np.log10(np.mean(ref**2) / mse)) if mse > 0 else float("inf"),
        }

    @functools.cached_property
    def float_logits(self) -> np.ndarray:
        """Logits of the unquantized model on the test split (computed once)."""
        return self.forward(self.test_x)


@functools.cache
def digits_model(path: str | None = None) -> DigitsModel:
    """The shipped MLP (read with the safe loaders, so nothing is unpickled)."""
    t = load_tensors(Path(path) if path else MODEL_PATH)
    names = sorted({k.split(".")[0] for k in t if k.startswith("fc") and k.endswith(".weight")})
    layers = tuple((n, t[f"{n}.weight"], t[f"{n}.bias"].astype(np.float64)) for n in names)
    return DigitsModel(layers, t["test_x"], t["test_y"].astype(np.int64))


def accuracy_vs_bits(model: DigitsModel, configs: Sequence[tuple[str, Mapping[str, Any]]],
                     bit_widths: Iterable[int] = range(2, 9), *, target: str = "weights") -> pd.DataFrame:
    """Accuracy and agreement at each bit width for each (scheme, settings); ``target`` is
    ``"weights"``, ``"activations"`` or ``"both"``. One row per (configuration, bits)."""
    if target not in ("weights", "activations", "both"):
        raise ValueError(f"target must be 'weights', 'activations' or 'both', got {target!r}")
    rows = []
    for scheme, settings in configs:
        spec = SCHEMES[Quantizer(scheme).name]
        swept = spec.at_bits(8, spec.validate(settings))  # the settings each bit width sets: not in the name
        for b in bit_widths:
            q = Quantizer(scheme, **{**settings, **spec.at_bits(b, spec.validate(settings))})
            r = model.evaluate(weights=q if target in ("weights", "both") else None,
                               activations=q if target in ("activations", "both") else None)
            rows.append({"configuration": Quantizer(scheme, **settings).describe(omit=swept), "bits": b, **r})
    return pd.DataFrame(rows)


def layer_sensitivity(model: DigitsModel, weights: Quantizer | None = None,
                      activations: Quantizer | None = None) -> pd.DataFrame:
    """Quantize one layer at a time (the others stay float): accuracy and agreement per layer."""
    rows = [{"layer": name, **model.evaluate(weights, activations, layers=[name])} for name in model.layer_names]
    return pd.DataFrame(rows)
