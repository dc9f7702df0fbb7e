"""Linear methods on whole models (``linears=``, quantize_layers, evaluate_layers) and the per-layer
comparison (split_tokens, compare_methods, error_vs_bits)."""

import numpy as np
import pytest
import torch

import quantlib as ql
from quantlib.linear import compare

FP16 = "fp16"  # rounds each weight to float16: a method whose forward is exactly one matmul with it


@pytest.fixture(scope="module")
def minilm():
    return ql.load_model("minilm_l6")


@pytest.fixture(scope="module")
def digits():
    return ql.digits_model()


# ------------------------------------------------------------------ linears= on the models
def test_minilm_identity_linears_give_exactly_the_float_embeddings_and_score(minilm):
    ident = {n: (lambda x, w=minilm.weights[n]: x @ w.T) for n in minilm.linear_layers[12::5]}
    assert np.array_equal(minilm.eval_embeddings(linears=ident), minilm.float_embeddings)
    assert minilm.evaluate(linears=ident) == minilm.evaluate()


def test_minilm_linears_see_the_float_inputs_bert_feeds_the_layer(minilm):
    """The callable of a layer receives what calibration_inputs gives for the calibration text
    (here: the inputs of encoder layer 1's ffn-down on the first calibration paragraph)."""
    name = minilm.linear_layers[11]
    seen = []
    text = [minilm.calibration_texts[0]]
    minilm.encode(text, linears={name: lambda x, w=minilm.weights[name]: seen.append(x) or x @ w.T})
    ref = minilm.calibration_inputs(name)
    assert np.array_equal(seen[0], ref[: len(seen[0])])


def test_minilm_rtn_fp16_layers_score_as_the_dequantized_weights(minilm):
    layers = minilm.linear_layers[24:]  # the last 2 encoder layers: a restart from the cached block 4 state
    results = ql.quantize_layers(minilm, "rtn", weights=FP16, layers=layers)
    assert list(results) == list(layers)
    weights = {n: r.weight for n, r in results.items()}
    for n, w in weights.items():
        np.testing.assert_array_equal(w, minilm.weights[n].astype(np.float16).astype(np.float32))
    got = ql.evaluate_layers(minilm, results)
    assert got == minilm.evaluate(weights=weights)
    assert got["mean_cosine"] < 1.0  # float16 weights move the embeddings, a little
    assert ql.linear.average_bits(minilm, results) == 16.0


def test_minilm_rtn_at_4_bits_matches_the_weights_configuration(minilm):
    """``bits=4`` sets rtn's per-channel scheme to 4 bits: the same model as evaluate(weights=Quantizer)."""
    layers = minilm.linear_layers[30:]
    results = ql.quantize_layers(minilm, "rtn", bits=4, layers=layers)
    q = ql.Quantizer("symmetric", bits=4, granularity="per_channel", axis=0)
    assert ql.evaluate_layers(minilm, results) == minilm.evaluate(q, layers=layers)


def test_iter_calibration_inputs_equals_calibration_inputs(minilm):
    picked = [minilm.linear_layers[i] for i in (0, 3, 11)]
    seen = list(minilm.iter_calibration_inputs(picked))
    assert [n for n, _ in seen] == picked
    for n, x in seen:
        np.testing.assert_array_equal(x, minilm.calibration_inputs(n))


def test_digits_identity_and_rtn_linears(digits):
    ident = {n: (lambda x, w=digits.weights[n]: x.astype(np.float64) @ w.astype(np.float64).T)
             for n in digits.linear_layers}
    np.testing.assert_array_equal(digits.forward(digits.test_x, linears=ident), digits.float_logits)
    assert digits.evaluate(linears=ident) == digits.evaluate()
    results = ql.quantize_layers(digits, "rtn", bits=3)
    got = ql.evaluate_layers(digits, results)
    ref = digits.evaluate(weights={n: r.weight for n, r in results.items()})
    # the digits model multiplies in float64, the rtn forward in float32: same predictions, logits close
    assert got["accuracy"] == ref["accuracy"] and got["agreement"] == ref["agreement"]
    assert got["logit_mse"] == pytest.approx(ref["logit_mse"], rel=1e-4)


def test_progress_is_called_per_layer(digits):
    calls = []
    ql.quantize_layers(digits, "rtn", progress=lambda i, n, name: calls.append((i, n, name)))
    assert calls == [(0, 3, "fc1"), (1, 3, "fc2"), (2, 3, "fc3"), (3, 3, "")]


@pytest.mark.parametrize("linears, exc, message", [
    ({"fc9": lambda x: x}, ValueError, "unknown layer"),
    ({"fc1": "not callable"}, TypeError, "callable"),
    ({"fc1": lambda x: x[:, :3]}, ValueError, "returned shape"),
    ({"fc1": lambda x: np.full((x.shape[0], 64), np.nan)}, ValueError, "non-finite"),
    ([("fc1", abs)], TypeError, "mapping"),
], ids=["unknown-layer", "not-callable", "wrong-shape", "nan", "not-a-mapping"])
def test_bad_linears_are_clear_errors(digits, linears, exc, message):
    with pytest.raises(exc, match=message):
        digits.evaluate(linears=linears)


def test_quantize_layers_bad_input(digits):
    with pytest.raises(ValueError, match="method"):
        ql.quantize_layers(digits, "nope")
    with pytest.raises(ValueError, match="unknown layer"):
        ql.quantize_layers(digits, "rtn", layers=["fc7"])
    with pytest.raises(ValueError, match="fc1"):  # a scheme that cannot take the layer names it
        ql.quantize_layers(digits, "rtn", weights=("symmetric", {"granularity": "per_group", "group_size": 48}))


# ------------------------------------------------------------------ one layer, methods side by side
@pytest.fixture(scope="module")
def layer():
    rng = np.random.default_rng(3)
    return rng.standard_normal((40, 24)).astype(np.float32), rng.standard_normal((300, 24)).astype(np.float32)


def test_split_tokens_keeps_the_last_share_apart(layer):
    _, x = layer
    calib, held = compare.split_tokens(x, 0.25)
    assert calib.shape == (225, 24) and held.shape == (75, 24)
    np.testing.assert_array_equal(np.concatenate([calib, held]), x)
    assert compare.split_tokens(x, 0.0)[1] is None
    for bad in (1.0, -0.1, 0.999):
        with pytest.raises(ValueError, match="heldout_share|no token"):
            compare.split_tokens(x, bad)


def test_method_row_measures_rtn_on_held_out_tokens_against_torch(layer):
    w, x = layer
    row = compare.method_row(w, x, "rtn", bits=3, heldout_share=0.5)
    amax = np.abs(w).max(axis=1)
    ref = torch.fake_quantize_per_channel_affine(torch.from_numpy(w), torch.tensor(amax / np.float32(3)),
                                                 torch.zeros(40, dtype=torch.int32), 0, -4, 3).numpy()
    held = x[150:].astype(np.float64)
    y, yq = held @ w.astype(np.float64).T, held @ ref.astype(np.float64).T
    assert row["heldout_error"] == pytest.approx(np.sum((yq - y) ** 2) / np.sum(y ** 2), rel=1e-5)
    assert row["bits_per_element"] == 3 + 32 / 24  # a float32 scale per row of 24 weights
    assert row["seconds"] > 0 and row["title"] == "Round to nearest"


def test_compare_and_error_vs_bits(layer):
    w, x = layer
    df = compare.compare_methods(w, x, ["rtn"], bits=4, weights="asymmetric")
    assert list(df.columns) == list(compare.COLUMNS) and df["bits_per_element"].item() == 4 + (32 + 4) / w.size  # a float32 scale, a 4-bit zero-point
    curve = compare.error_vs_bits(w, x, "rtn", range(2, 9))
    assert curve["bits"].tolist() == list(range(2, 9))
    assert curve["heldout_error"].is_monotonic_decreasing  # each added bit halves the step of the same grid
    with pytest.raises(ValueError, match="method"):
        compare.compare_methods(w, x, ["rtn", "nope"])
    with pytest.raises(ValueError, match="in_features"):
        compare.compare_methods(w, x[:, :5], ["rtn"])


@pytest.mark.parametrize("method", list(ql.LINEAR_METHODS))
def test_every_registered_method_sweeps_its_bits(layer, method):
    """Each method's curve: one point per code width it has (LLM.int8 is 8-bit only: one point)."""
    w, x = layer
    curve = compare.error_vs_bits(w, x, method, (3, 8))
    assert 8 in curve["bits"].tolist() or not compare.has_bits(method)
    assert np.isfinite(curve["heldout_error"]).all() and (curve["bits_per_element"] > 0).all()


def test_a_method_that_changes_the_forward_runs_as_its_forward_in_the_model(digits):
    """SmoothQuant W8A8 scales and quantizes each layer's input: the model runs each result's
    forward (composed here by hand, layer by layer, with the bias and the ReLU)."""
    if "smoothquant" not in ql.LINEAR_METHODS:
        pytest.skip("smoothquant is not registered")
    results = ql.quantize_layers(digits, "smoothquant", bits=8)
    h = digits.test_x.astype(np.float32)
    for i, (name, _, b) in enumerate(digits.layers):
        h = results[name].forward(h).astype(np.float64) + b
        if i < len(digits.layers) - 1:
            h = np.maximum(h, 0.0).astype(np.float32)
    linears = {n: r.forward for n, r in results.items()}
    np.testing.assert_array_equal(digits.forward(digits.test_x, linears=linears), h)
    score = ql.evaluate_layers(digits, results)
    assert score["agreement"] >= 0.97  # W8A8 keeps nearly every prediction of the float MLP


# ------------------------------------------------------------------ views: what a result shows, or None
def test_column_errors_sum_to_the_output_error_when_input_channels_are_orthogonal(layer):
    """e_j = (Σ_t x_tj²)‖ΔW_:,j‖² / ‖x Wᵀ‖² are the diagonal terms of the output error: with XᵀX
    diagonal (orthogonal input channels) they are all of it."""
    from quantlib.linear import views

    w, _ = layer
    q, _ = np.linalg.qr(np.random.default_rng(7).standard_normal((300, 24)))
    x = (q * np.linspace(0.5, 3.0, 24)).astype(np.float32)
    r = ql.quantize_linear(w, None, "rtn", weights=("symmetric", {"bits": 3, "granularity": "per_channel"}))
    df = views.column_errors({"rtn": r}, x)
    assert list(df.columns) == ["column", "rtn"] and len(df) == 24
    assert df["rtn"].sum() == pytest.approx(r.output_error(x), rel=1e-4)


def test_views_are_none_where_a_method_records_nothing_of_the_kind(layer):
    from quantlib.linear import views

    w, x = layer
    r = ql.quantize_linear(w, None, "rtn")
    assert views.channel_scaling(r) is None and views.rotation_samples(r, x) is None
    assert views.own_column_errors(r, "rtn") is None
    if "smoothquant" in ql.LINEAR_METHODS:
        df = views.channel_scaling(ql.quantize_linear(w, x, "smoothquant"))
        np.testing.assert_array_equal(df["x_max_before"], np.abs(x).max(axis=0))
    if "hadamard" in ql.LINEAR_METHODS:
        s = views.rotation_samples(ql.quantize_linear(w, x, "hadamard"), x)
        # an orthogonal rotation keeps every row's norm: the same total energy before and after
        assert np.sum(s["weights_after"].astype(np.float64) ** 2) == pytest.approx(np.sum(w.astype(np.float64) ** 2),
                                                                                   rel=1e-5)
        assert np.sum(s["inputs_after"].astype(np.float64) ** 2) == pytest.approx(np.sum(x.astype(np.float64) ** 2),
                                                                                  rel=1e-5)
    if "gptq" in ql.LINEAR_METHODS:
        df = views.own_column_errors(ql.quantize_linear(w, x, "gptq", bits=4, group_size=8), "gptq")
        assert list(df.columns) == ["column", "gptq", "rtn (same grid)"]
        assert df["gptq"].sum() < df["rtn (same grid)"].sum()  # the error feedback lowers the total


def test_minilm_restarts_from_the_first_encoder_layer_linears_change(minilm, monkeypatch):
    _ = minilm.float_embeddings  # the cached float states
    blocks = []
    run_block = minilm._block

    def counting(i, *args, **kwargs):
        blocks.append(i)
        return run_block(i, *args, **kwargs)

    monkeypatch.setattr(minilm, "_block", counting)
    name = "encoder.layer.5.output.dense.weight"
    minilm.eval_embeddings(linears={name: lambda x, w=minilm.weights[name]: x @ w.T})
    assert set(blocks) == {5}  # only the last encoder layer ran, once per batch
