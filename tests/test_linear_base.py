"""The linear-method registry's contract, on the rtn baseline (methods have test files of their own)."""

import numpy as np
import pytest
import torch

import quantlib as ql


@pytest.fixture(scope="module")
def layer():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((48, 32)).astype(np.float32)
    x = rng.standard_normal((200, 32)).astype(np.float32)
    return w, x


def test_rtn_weight_is_the_registry_scheme_applied_to_the_weight(layer):
    w, x = layer
    r = ql.quantize_linear(w, x, "rtn", weights=("symmetric", {"bits": 4, "granularity": "per_channel"}))
    # reference: torch's per-channel fake quantize with the quantlib convention's symmetric scale amax / qmax
    amax = np.abs(w).max(axis=1)
    scale = torch.tensor(amax / np.float32(7), dtype=torch.float32)
    ref = torch.fake_quantize_per_channel_affine(torch.from_numpy(w), scale, torch.zeros(48, dtype=torch.int32),
                                                 0, -8, 7).numpy()
    np.testing.assert_array_equal(r.weight, ref)
    np.testing.assert_allclose(r.forward(x), x @ ref.T, rtol=1e-5, atol=1e-5)


def test_output_error_is_relative_mse_in_float64(layer):
    w, x = layer
    r = ql.quantize_linear(w, None, "rtn")
    ref = x.astype(np.float64) @ w.astype(np.float64).T
    got = x.astype(np.float64) @ r.weight.astype(np.float64).T
    assert r.output_error(x) == pytest.approx(np.sum((got - ref) ** 2) / np.sum(ref ** 2), rel=1e-5)


def test_w8a8_quantizes_activations_per_call(layer):
    w, x = layer
    a = ("symmetric", {"bits": 8})
    r = ql.quantize_linear(w, x, "rtn", weights=("symmetric", {"bits": 8}), activations=a)
    xq = ql.Quantizer("symmetric", bits=8)(x).dequantized
    np.testing.assert_array_equal(r.forward(x), (xq @ r.weight.T).astype(np.float32))


def test_float16_weights_are_numpys_float16_cast(layer):
    w, x = layer
    r = ql.quantize_linear(w, x, "rtn", weights="fp16")
    w16 = w.astype(np.float16).astype(np.float32)
    np.testing.assert_array_equal(r.weight, w16)
    ref = x.astype(np.float64) @ w16.astype(np.float64).T
    np.testing.assert_allclose(r.forward(x), ref, rtol=0, atol=1e-5 * np.abs(ref).max())


@pytest.mark.parametrize("call, message", [
    (lambda w, x: ql.quantize_linear(w, x, "nope"), "method"),
    (lambda w, x: ql.quantize_linear(w, x, "rtn", bits=4), "no setting"),
    (lambda w, x: ql.quantize_linear(w[0], x, "rtn"), "2-D"),
    (lambda w, x: ql.quantize_linear(w, x[:, :5], "rtn"), "in_features"),
    (lambda w, x: ql.quantize_linear(w, np.where(x > 2, np.nan, x), "rtn"), "finite|NaN|nan"),
    (lambda w, x: ql.quantize_linear(w, x, "rtn", weights="nope"), "scheme"),
], ids=["unknown-method", "unknown-setting", "1d-weight", "width-mismatch", "nan-inputs", "unknown-scheme"])
def test_bad_input_is_a_clear_value_error(layer, call, message):
    w, x = layer
    with pytest.raises(ValueError, match=message):
        call(w, x)


def test_forward_checks_its_inputs(layer):
    w, x = layer
    r = ql.quantize_linear(w, None, "rtn")
    with pytest.raises(ValueError, match="in_features"):
        r.forward(x[:, :3])


def test_configure_sets_the_weight_schemes_bits():
    settings, wq = ql.LINEAR_METHODS["rtn"].configure(3)
    assert wq.settings["bits"] == 3 and wq.settings["granularity"] == "per_channel"
