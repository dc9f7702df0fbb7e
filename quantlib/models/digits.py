"""The shipped digits MLP, run in numpy with quantized weights and activations.

``sample_data/digits_mlp.npz`` holds a 64 -> 64 -> 32 -> 10 ReLU MLP trained on the UCI 8x8
digits (see sample_data/README.md), its held-out test split and its real hidden
activations. Weights are quantized once per layer (PyTorch layout (out, in): per-channel
``axis=0`` is one scale per output neuron). Activations — the input of every linear layer —
are quantized dynamically on the evaluated batch, as dynamic quantization does. Every
number comes from the shipped file; nothing is hard-coded.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data import SAMPLE_DIR
from ..loaders import load_tensors
from ._base import Config, Linear, Score, activation_quantizer, call_linear, check_layers, check_linears, resolve_weights

MODEL_PATH = SAMPLE_DIR / "digits_mlp.npz"


@dataclass(frozen=True, eq=False)
class DigitsModel:
    """A ReLU MLP: ``layers`` is a tuple of (name, weight (out, in), bias (out,)).

    Task metric: accuracy on the 540 held-out digits; agreement: share of predictions equal
    to the float model's. The objective of sensitivity scans and the bit planner is accuracy.
    There is no separate calibration split: :meth:`calibration_inputs` gives each layer's real
    inputs on the held-out images (the file's ``test_x``, ``act.fc1``, ``act.fc2``).
    """

    layers: tuple[tuple[str, np.ndarray, np.ndarray], ...]
    test_x: np.ndarray
    test_y: np.ndarray
    name: str = "digits_mlp"
    objective: str = "accuracy"

    @property
    def layer_names(self) -> list[str]:
        return [name for name, _, _ in self.layers]

    @property
    def linear_layers(self) -> tuple[str, ...]:
        return tuple(self.layer_names)

    @functools.cached_property
    def weights(self) -> dict[str, np.ndarray]:
        """Layer name -> float32 weight (out, in), read-only."""
        out = {}
        for name, w, _ in self.layers:
            w = np.asarray(w, dtype=np.float32)
            w.setflags(write=False)
            out[name] = w
        return out

    def layer_position(self, layer: str) -> tuple[int, str]:
        """(index, kind) of ``layer`` on a sensitivity heatmap: one row per layer, one column."""
        (name,) = check_layers(self, [layer])
        return self.layer_names.index(name), "linear"

    def forward(self, x: np.ndarray, weights: Any = None, activations: Config | None = None,
                layers: Iterable[str] | None = None, *, capture: str | None = None,
                linears: Mapping[str, Linear] | None = None) -> np.ndarray:
        """Logits (float64) for inputs ``x``. ``weights``: None, a mapping name -> replacement
        (out, in) array, or a configuration quantizing the weights of ``layers`` (None: all);
        ``activations``: a configuration quantizing the input of each of ``layers``.
        ``capture``: return that layer's (float) input instead of the logits. ``linears``: layer
        name -> callable computing ``x W^T`` from the layer's float32 input (its output is taken
        in float64, as this model computes; the bias is added after it; ``weights`` and
        ``activations`` do not apply to that layer)."""
        chosen = set(check_layers(self, layers))
        w_all = resolve_weights(self, weights, layers)
        aq = activation_quantizer(activations, [w.shape[1] for w in self.weights.values()])
        fns = check_linears(self, linears)
        h = np.asarray(x, dtype=np.float32)
        for i, (name, _, b) in enumerate(self.layers):
            if name == capture:
                return h
            if name in fns:
                h = call_linear(fns[name], h, name, w_all[name].shape[0], np.float64) + b
            else:
                if name in chosen and aq is not None:
                    h = aq(h).dequantized
                h = h.astype(np.float64) @ w_all[name].astype(np.float64).T + b
            if i < len(self.layers) - 1:
                h = np.maximum(h, 0.0).astype(np.float32)
        return h

    def evaluate(self, weights: Any = None, activations: Config | None = None, *,
                 layers: Iterable[str] | None = None, linears: Mapping[str, Linear] | None = None) -> Score:
        """Accuracy on the held-out split, agreement with the float model, and logit error.

        Values: accuracy, float_accuracy, agreement (share of predictions equal to the float
        model's), logit_mse, logit_max_error and logit_sqnr_db (inf when the logits are exact).
        """
        ref = self.float_logits
        out = self.forward(self.test_x, weights, activations, layers, linears=linears)
        pred, ref_pred = out.argmax(axis=1), ref.argmax(axis=1)
        err = out - ref
        mse = float(np.mean(err**2))
        values = {
            "accuracy": float(np.mean(pred == self.test_y)),
            "float_accuracy": float(np.mean(ref_pred == self.test_y)),
            "agreement": float(np.mean(pred == ref_pred)),
            "logit_mse": mse,
            "logit_max_error": float(np.abs(err).max()),
            "logit_sqnr_db": float(10 * np.log10(np.mean(ref**2) / mse)) if mse > 0 else float("inf"),
        }
        return Score("accuracy", values, self.objective,
                     {"accuracy": "accuracy", "agreement": "agreement", "logit_sqnr_db": "logit SQNR (dB)"})

    def calibration_inputs(self, layer: str) -> np.ndarray:
        """The float32 (images, in_features) inputs ``layer`` sees on the held-out images."""
        (name,) = check_layers(self, [layer])
        return np.asarray(self.forward(self.test_x, capture=name), dtype=np.float32)

    def iter_calibration_inputs(self, layers: Iterable[str] | None = None) -> Iterator[tuple[str, np.ndarray]]:
        """``(name, calibration_inputs(name))`` for ``layers`` (None: all) in forward order."""
        for name in check_layers(self, layers):
            yield name, self.calibration_inputs(name)

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
