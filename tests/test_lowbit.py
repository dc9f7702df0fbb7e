"""``ternary`` (BitNet b1.58) and ``binary`` against their references.

ternary: transformers' BitNet ``WeightQuant`` (the absmean rule as Microsoft's BitNet code writes it),
within the precision of its float32 mean, and exactly against the same torch ops with the mean taken in
float64 (quantlib's documented gamma); binary: torch's sign × mean |x| with sign(0) = +1.
"""

from __future__ import annotations

import numpy as np
import pytest

import quantlib as ql
from conftest import make_tensor, sum_rtol

torch = pytest.importorskip("torch")

KINDS = ("normal", "laplace", "uniform", "relu", "outliers", "lognormal", "ties", "tiny", "constant", "all_zero")


def torch_ternary(x: np.ndarray, dims=None, groups: int | None = None) -> np.ndarray:
    w = torch.from_numpy(x.copy())
    if groups is not None:
        w = w.reshape(-1, groups)
        dims = 1
    a = w.double().abs()
    g = (a.mean() if dims is None else a.mean(dim=dims, keepdim=True)).float()
    s = 1.0 / g.clamp(min=1e-5)
    return ((w * s).round().clamp(-1, 1) / s).reshape(x.shape).numpy()


@pytest.mark.parametrize("kind", KINDS)
def test_ternary_matches_transformers_bitnet_weight_quant(kind):
    bitnet = pytest.importorskip("transformers.integrations.bitnet")
    import torch._dynamo

    x = make_tensor(kind, 4096, 0).reshape(64, 64)
    with torch._dynamo.config.patch(disable=True):
        ref = bitnet.WeightQuant.forward(None, torch.from_numpy(x.copy())).numpy()
    r = ql.Quantizer("ternary")(x)
    rtol = 2 * sum_rtol(x.size, np.float32)  # transformers takes the mean in float32, in torch's order
    np.testing.assert_allclose(r.dequantized, ref, rtol=rtol, atol=0)
    ref_scale = 1 / max(float(np.abs(x.astype(np.float64)).mean()), 1e-5)
    away_from_ties = np.abs(np.abs(x * ref_scale) - 0.5) > 4 * rtol
    np.testing.assert_array_equal(np.sign(r.dequantized)[away_from_ties], np.sign(ref)[away_from_ties])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("granularity", ["per_tensor", "per_channel", "per_group"])
def test_ternary_is_the_absmean_rule_exactly(kind, granularity):
    x = make_tensor(kind, 96 * 64, 1).reshape(96, 64)
    kw = {"per_tensor": {}, "per_channel": {"granularity": "per_channel", "axis": 0},
          "per_group": {"granularity": "per_group", "group_size": 128}}[granularity]
    ref = torch_ternary(x, None if granularity != "per_channel" else 1, 128 if granularity == "per_group" else None)
    r = ql.Quantizer("ternary", **kw)(x)
    np.testing.assert_array_equal(r.dequantized, ref)
    assert set(np.unique(r.codes)) <= {-1, 0, 1}


@pytest.mark.parametrize("kind", KINDS)
def test_binary_is_sign_times_mean_abs(kind):
    x = make_tensor(kind, 4096, 2).reshape(32, 128)
    w = torch.from_numpy(x.copy())
    g = w.double().abs().mean(dim=1, keepdim=True).float()
    ref = torch.where(w >= 0, g, -g).numpy()
    r = ql.Quantizer("binary", granularity="per_channel", axis=0)(x)
    np.testing.assert_array_equal(r.dequantized, ref)
    assert r.bits_per_element == 1 + 32 * 32 / x.size


def test_binary_scale_is_the_least_squares_scale_for_the_signs():
    x = make_tensor("laplace", 2048, 3)
    r = ql.Quantizer("binary")(x)
    alpha = float(np.abs(r.dequantized[0]))
    sign = np.where(x >= 0, 1.0, -1.0)
    err = [float(np.sum((x - a * sign) ** 2)) for a in (alpha * 0.99, alpha, alpha * 1.01)]
    assert err[1] < err[0] and err[1] < err[2]


def test_ternary_packing_costs():
    x = make_tensor("normal", 4096, 0)
    assert ql.Quantizer("ternary")(x).bits_per_element == 2 + 32 / 4096
    assert ql.Quantizer("ternary", packing="base3")(x).bits_per_element == 1.6 + 32 / 4096
    assert ql.Quantizer("ternary", granularity="per_group", group_size=100)(x).bits_per_element == 2 + 32 * 41 / 4096
    assert len(ql.Quantizer("ternary")(x).levels) == 3
