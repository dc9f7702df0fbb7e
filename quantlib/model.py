"""The digits MLP's original home: its names now live in :mod:`quantlib.models` (kept here so
``from quantlib.model import digits_model`` keeps working)."""

from .models.digits import MODEL_PATH, DigitsModel, digits_model
from .models.planning import accuracy_vs_bits, layer_sensitivity

__all__ = ["MODEL_PATH", "DigitsModel", "accuracy_vs_bits", "digits_model", "layer_sensitivity"]
