"""all-MiniLM-L6-v2 in numpy against transformers' BertModel, and the model API on real layers."""

import functools
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import quantlib as ql
from quantlib.models.minilm import MINILM_DIR, MiniLM

W8_PC = ql.Quantizer("symmetric", bits=8, granularity="per_channel", axis=0)
W4_PC = ql.Quantizer("symmetric", bits=4, granularity="per_channel", axis=0)
W4_PT = ql.Quantizer("symmetric", bits=4)
A8 = ql.Quantizer("asymmetric", bits=8)

SENTENCES = [
    "Hi.",
    "The train to Leeds was cancelled this morning because of a signal failure near Wakefield, again.",
    "A cat.",
    "Quantization moves every weight to the nearest point of a coarser grid.",
    "Ünïcödé, émigré and naïve café owners don't mind punctuation!!",
]


@pytest.fixture(scope="module")
def model() -> MiniLM:
    return ql.load_model("minilm_l6")


@pytest.fixture(scope="module")
def quick() -> MiniLM:
    """The same weights evaluated on the first 12 paraphrase pairs: scans in a fraction of the time."""
    return MiniLM(pairs=12)


@pytest.fixture(scope="module")
def bert():
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    # transformers' own loader reads the shipped config.json and model.safetensors (no download)
    m = transformers.BertModel.from_pretrained(str(MINILM_DIR), add_pooling_layer=False).eval()
    return torch, m


def reference_embeddings(bert, ids: np.ndarray, mask: np.ndarray, **kwargs):
    """sentence-transformers' recipe for this model on BertModel: mean pooling over the mask, L2 norm."""
    torch, m = bert
    with torch.no_grad():
        out = m(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask), **kwargs)
        mk = torch.from_numpy(mask).unsqueeze(-1).to(out.last_hidden_state.dtype)
        e = (out.last_hidden_state * mk).sum(1) / mk.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(e, p=2, dim=1).numpy(), out


# ------------------------------------------------------------------ the forward pass
def test_tokenizer_is_the_shipped_bert_uncased_wordpiece(model):
    ids, mask = model.tokenize(["Hello WORLD", "hello world, again"])
    assert ids[0, 0] == 101 and ids[0, mask[0].sum() - 1] == 102  # [CLS] … [SEP]
    assert ids[0, :3].tolist() == ids[1, :3].tolist() == [101, 7592, 2088]  # lower-cased: hello, world
    assert mask[0].sum() == 4 and ids[0, 4:].tolist() == [0] * (ids.shape[1] - 4)  # padded with [PAD] = 0


def test_embeddings_match_transformers_bert_model_in_a_padded_batch(model, bert):
    ids, mask = model.tokenize(SENTENCES)
    assert len(set(mask.sum(1).tolist())) == len(SENTENCES)  # every length differs: real padding
    ref, _ = reference_embeddings(bert, ids, mask)
    ours = model.encode(SENTENCES)
    assert ours.dtype == np.float32 and ours.shape == (len(SENTENCES), 384)
    assert np.abs(ours - ref).max() <= 1e-5
    np.testing.assert_allclose(np.linalg.norm(ours.astype(np.float64), axis=1), 1.0, atol=1e-6)


def test_each_sentence_alone_matches_its_row_of_the_batch(model, bert):
    batch = model.encode(SENTENCES)
    for i, s in enumerate(SENTENCES):
        ids, mask = model.tokenize([s])
        ref, _ = reference_embeddings(bert, ids, mask)
        alone = model.encode([s])
        assert np.abs(alone - ref).max() <= 1e-5
        assert np.abs(alone[0] - batch[i]).max() <= 1e-5


def test_calibration_inputs_are_the_hidden_states_bert_model_feeds_each_layer(model, bert):
    texts = list(model.calibration_texts)
    ids, mask = model.tokenize(texts)
    _, out = reference_embeddings(bert, ids, mask, output_hidden_states=True)
    real = mask.astype(bool)
    assert real.sum() >= 2000  # the calibration text is at least 2,000 tokens
    for block in (0, 3):  # the input of q/k/v of encoder layer l is hidden_states[l]
        x = model.calibration_inputs(f"encoder.layer.{block}.attention.self.key.weight")
        ref = out.hidden_states[block].numpy()[real]
        assert x.shape == ref.shape == (real.sum(), 384) and x.dtype == np.float32
        assert np.abs(x - ref).max() <= 1e-4 * max(1.0, np.abs(ref).max())
    assert model.calibration_inputs("encoder.layer.5.output.dense.weight").shape == (real.sum(), 1536)


# ------------------------------------------------------------------ the API on real layers
def test_linear_layers_are_the_36_projections_by_checkpoint_name(model):
    assert len(model.linear_layers) == 36
    assert model.linear_layers[0] == "encoder.layer.0.attention.self.query.weight"
    assert model.linear_layers[-1] == "encoder.layer.5.output.dense.weight"
    shapes = {model.weights[n].shape for n in model.linear_layers}
    assert shapes == {(384, 384), (1536, 384), (384, 1536)}
    assert all(model.weights[n].dtype == np.float32 for n in model.linear_layers)
    assert sum(model.weights[n].size for n in model.linear_layers) == 6 * (4 * 384 * 384 + 2 * 384 * 1536)
    assert [model.layer_position(n) for n in model.linear_layers[6:12]] == [
        (1, "q"), (1, "k"), (1, "v"), (1, "o"), (1, "ffn-up"), (1, "ffn-down")]


def test_float_model_scores_its_own_embeddings_as_identical(model):
    s = model.evaluate()
    assert len(model.eval_sentences) >= 200 and len(model.eval_pairs) >= 100
    assert s.metric == "retrieval_top1" and s.value == s.float_value >= 0.95
    assert s["agreement"] == 1.0 and s["min_cosine"] == pytest.approx(1.0, abs=1e-6)


def test_eight_bit_per_channel_weights_keep_mean_cosine_above_0_999(model, w8):
    s = w8
    assert s["mean_cosine"] >= 0.999
    assert s["retrieval_top1"] >= s.float_value - 0.01


def test_four_bit_per_tensor_is_measurably_worse_than_per_channel(model):
    pt, pc = model.evaluate(W4_PT), model.evaluate(W4_PC)
    assert pt["mean_cosine"] < pc["mean_cosine"] - 0.05
    assert pt["min_cosine"] < pc["min_cosine"]


def test_weights_mapping_replaces_exactly_the_layers_given(model):
    name = "encoder.layer.2.intermediate.dense.weight"
    deq = W4_PT(model.weights[name]).dequantized
    texts = SENTENCES[:3]
    by_map = model.encode(texts, weights={name: deq})
    by_config = model.encode(texts, weights=W4_PT, layers=[name])
    np.testing.assert_array_equal(by_map, by_config)
    assert np.abs(by_map - model.encode(texts)).max() > 1e-4  # it did change something


@pytest.fixture(scope="module")
def w8(model):
    return model.evaluate(W8_PC)


def test_w8a8_quantizes_every_layer_input(model, w8):
    w8a8 = model.evaluate(W8_PC, A8)
    assert w8a8["mean_cosine"] < w8["mean_cosine"]
    texts = SENTENCES[:2]  # (name, settings) is the same configuration as the Quantizer
    np.testing.assert_array_equal(model.encode(texts, W8_PC, ("asymmetric", {"bits": 8})),
                                  model.encode(texts, W8_PC, A8))


def test_per_token_activation_scales_do_not_depend_on_the_rest_of_the_batch(model):
    per_token = ql.Quantizer("symmetric", bits=8, granularity="per_channel", axis=0)
    batch = model.encode(SENTENCES, activations=per_token)
    alone = np.concatenate([model.encode([s], activations=per_token) for s in SENTENCES])
    assert np.abs(batch - alone).max() <= 1e-5


def test_eval_restart_from_cached_state_equals_a_full_run(quick):
    name = "encoder.layer.4.attention.output.dense.weight"
    fast = quick.eval_embeddings(W4_PT, layers=[name])
    full = quick.encode(list(quick.eval_sentences), W4_PT, layers=[name])
    assert np.abs(fast - full).max() <= 1e-6


@pytest.fixture(scope="module")
def measured(quick):
    """One sensitivity scan per candidate, shared by the sensitivity and planner tests."""
    return ql.measure_candidates(quick, [W4_PC, W8_PC])


def test_sensitivity_has_a_row_for_every_linear_layer(quick, measured):
    df = measured[measured["candidate"] == 0]
    assert list(df["layer"]) == list(quick.linear_layers)
    assert set(df["kind"]) == {"q", "k", "v", "o", "ffn-up", "ffn-down"} and set(df["index"]) == set(range(6))
    assert (df["drop"] > 0).all()  # 4-bit weights hurt every layer somewhat
    assert (df["drop"] > measured[measured["candidate"] == 1]["drop"].to_numpy()).all()  # and 8-bit less
    assert df["bits_per_weight"].between(4.0, 4.2).all()  # 4-bit codes plus one float32 scale per row
    some = list(quick.linear_layers[10:13])
    direct = ql.layer_sensitivity(quick, W4_PC, layers=some)
    assert direct["drop"].tolist() == df.set_index("layer").loc[some, "drop"].tolist()


def test_allocate_bits_between_two_uniform_configurations_beats_the_cheaper(quick, measured):
    plan = ql.allocate_bits(quick, 6.0, [W4_PC, W8_PC], measured=measured)
    cheap = quick.evaluate(W4_PC)
    assert plan.average_bits <= 6.0
    assert plan.score.objective_value >= cheap.objective_value
    assert set(plan.plan) == set(quick.linear_layers)
    sizes = {n: quick.weights[n].size for n in quick.linear_layers}
    weighted = sum(plan.bits[n] * sizes[n] for n in sizes) / sum(sizes.values())
    assert weighted == pytest.approx(plan.average_bits)
    assert {q.label for q in plan.plan.values()} == {W4_PC.label, W8_PC.label}  # a real mix between the two
    uniform = plan.uniform.set_index("configuration")
    assert uniform.loc[W4_PC.label, "fits_budget"] and not uniform.loc[W8_PC.label, "fits_budget"]
    assert uniform.loc[W4_PC.label, "mean_cosine"] == cheap["mean_cosine"]
    table = plan.table(quick)
    assert len(table) == 36 and table["configuration"].isin([W4_PC.label, W8_PC.label]).all()


def test_measured_table_of_other_candidates_is_refused(quick, measured):
    with pytest.raises(ValueError, match="measured does not match"):
        ql.allocate_bits(quick, 6.0, [W4_PT, W8_PC], measured=measured)


# ------------------------------------------------------------------ bad input
def test_unknown_model_is_refused():
    with pytest.raises(ValueError, match=r"unknown model 'bert_large'; choose one of: 'digits_mlp', 'minilm_l6'"):
        ql.load_model("bert_large")


def test_unknown_layer_is_refused(model):
    with pytest.raises(ValueError, match=r"unknown layer\(s\) \['encoder.layer.9.attention.self.query.weight'\]"):
        model.evaluate(W8_PC, layers=["encoder.layer.9.attention.self.query.weight"])
    with pytest.raises(ValueError, match=r"unknown layer\(s\) \['pooler.dense.weight'\]"):
        model.encode(["a"], weights={"pooler.dense.weight": np.zeros((384, 384), np.float32)})
    with pytest.raises(ValueError, match="unknown layer"):
        model.calibration_inputs("embeddings.word_embeddings.weight")


def test_activation_scheme_that_cannot_run_per_batch_is_refused(model):
    along_tokens = ql.Quantizer("symmetric", granularity="per_group", group_size=32, axis=1)
    with pytest.raises(ValueError, match=r"activation scheme .* cannot run per batch on a \(tokens, 384\)"):
        model.encode(["a sentence"], activations=along_tokens)
    with pytest.raises(ValueError, match="cannot run per batch"):
        model.evaluate(activations=ql.Quantizer("symmetric", scale=0.1, granularity="per_channel"))


def test_budget_below_the_cheapest_candidate_is_refused(quick):
    with pytest.raises(ValueError, match=r"budget 3 bits per weight is below the cheapest plan .*\(4\.0"):
        ql.allocate_bits(quick, 3, [W4_PC, W8_PC])  # refused before any sensitivity is measured
    with pytest.raises(TypeError, match="budget must be a finite number"):
        ql.allocate_bits(quick, float("nan"), [W4_PC])
    with pytest.raises(ValueError, match="candidates must be a non-empty list"):
        ql.allocate_bits(quick, 8, [])


def test_bad_texts_and_replacements_are_refused(model):
    with pytest.raises(TypeError, match="texts must be a list of strings"):
        model.encode("one string")
    with pytest.raises(ValueError, match="texts is empty"):
        model.encode([])
    with pytest.raises(TypeError, match=r"texts\[1\] must be a string"):
        model.encode(["ok", 3])
    name = model.linear_layers[0]
    with pytest.raises(ValueError, match="has shape"):
        model.encode(["a"], weights={name: np.zeros((3, 3), np.float32)})
    with pytest.raises(ValueError, match="non-finite"):
        model.encode(["a"], weights={name: np.full((384, 384), np.nan, np.float32)})
    with pytest.raises(TypeError, match="activations must be a Quantizer"):
        model.encode(["a"], activations=8)


# ------------------------------------------------------------------ the digits model under the same contract
def test_digits_model_follows_the_same_contract():
    m = ql.load_model("digits_mlp")
    assert m is ql.digits_model() and m.linear_layers == ("fc1", "fc2", "fc3")
    assert m.weights["fc2"].shape == (32, 64) and m.weights["fc2"].dtype == np.float32
    t = ql.load_tensors(Path(ql.data.SAMPLE_DIR) / "digits_mlp.npz")
    np.testing.assert_array_equal(m.calibration_inputs("fc1"), t["test_x"])
    # act.fc1 was made with float32 matmuls, the model multiplies in float64: equal to float32 rounding
    np.testing.assert_allclose(m.calibration_inputs("fc2"), t["act.fc1"], rtol=0, atol=1e-5)
    s = m.evaluate({"fc1": W8_PC(m.weights["fc1"]).dequantized})
    assert s == m.evaluate(W8_PC, layers=["fc1"]) and s.metric == "accuracy"
    df = ql.layer_sensitivity(m, ql.Quantizer("symmetric", bits=2))
    assert list(df["layer"]) == ["fc1", "fc2", "fc3"] and (df["drop"] == df["float_accuracy"] - df["accuracy"]).all()


# ------------------------------------------------------------------ the Model impact page on MiniLM
@pytest.fixture
def quick_page_model(monkeypatch, quick):
    """The page's MiniLM evaluated on 12 pairs (same weights, same code): the page test stays short."""
    import streamlit as st

    import quantlib.models.minilm as minilm

    monkeypatch.setattr(minilm, "minilm_model", lambda: quick)
    st.cache_resource.clear()
    st.cache_data.clear()
    yield quick
    st.cache_resource.clear()
    st.cache_data.clear()


def quick_bits(m, q) -> dict:
    """Bits of each layer's weights (bits per weight x size), scales included."""
    return {n: q(m.weights[n]).bits_per_element * m.weights[n].size for n in m.linear_layers}


def test_model_page_on_minilm_switches_model_and_runs_the_planner(quick_page_model):
    from conftest import open_app

    m = quick_page_model
    at = open_app("model", {"model.weights.scheme": "symmetric", "model.weights.bits": "4",
                            "model.weights.granularity": "per_channel", "model.activations.scheme": "none",
                            "model.curve_schemes": ["symmetric"], "model.plan.candidates": [W4_PC.label]},
                  timeout=300)
    assert not at.exception and not at.error
    assert at.selectbox(key="model.name").value == "digits_mlp"
    at.selectbox(key="model.name").set_value("minilm_l6").run()
    assert not at.exception and not at.error
    want = m.evaluate(W4_PC)
    metrics = {x.label: x for x in at.metric}
    assert metrics["paraphrase top-1"].value == f"{want['retrieval_top1']:.4f}"
    assert metrics["mean cosine to float"].value == f"{want['mean_cosine']:.4f}"
    assert metrics["mean cosine to float"].delta == f"{want['mean_cosine'] - 1:+.4f} vs float"
    traces = [json.loads(c.proto.spec)["data"][0] for c in at.get("plotly_chart")]
    heat = next(t for t in traces if t["type"] == "heatmap")
    assert heat["x"] == ["q", "k", "v", "o", "ffn-up", "ffn-down"], heat["x"]
    assert heat["y"] == ["0", "1", "2", "3", "4", "5"]
    sens = next(d.value for d in at.dataframe if "drop" in d.value.columns)
    assert len(sens) == 36 and list(sens["layer"]) == list(m.linear_layers)
    # the activation ranges: channel 99 of layer 1's FFN input is the outlier the caption names
    assert any("Largest: channel 99" in c.value for c in at.caption)

    at.toggle(key="model.plan.run").set_value(True).run()
    assert not at.exception and not at.error
    # one candidate (the heatmap's configuration: its cached scan is reused), so every layer gets it
    metrics = {x.label: x for x in at.metric}
    w4 = m.evaluate(W4_PC)
    avg = sum(quick_bits(m, W4_PC).values()) / sum(m.weights[n].size for n in m.linear_layers)
    assert metrics["plan: average bits per weight"].value == f"{avg:.3f}"
    assert metrics["plan: mean cosine to float"].value == f"{w4['mean_cosine']:.4f}"
    assert len(at.get("plotly_chart")) == 5  # + the plan on the layer grid
    plan_table = next(d.value for d in at.dataframe if "configuration" in d.value.columns and len(d.value) == 36)
    assert set(plan_table["configuration"]) == {W4_PC.label}

    at.slider(key="model.plan.budget").set_value(3.0).run()  # below the cheapest candidate: a message
    assert not at.exception
    assert any("below the cheapest plan" in e.value for e in at.error)


def test_planner_with_activations_measures_against_the_activation_only_model():
    m = ql.load_model("digits_mlp")
    w3 = ql.Quantizer("symmetric", bits=3, granularity="per_channel", axis=0)
    df = ql.measure_candidates(m, [w3, W8_PC], A8)
    base = m.evaluate(None, A8).objective_value
    for r in df[df["candidate"] == 0].itertuples():
        alone = m.evaluate({r.layer: w3(m.weights[r.layer]).dequantized}, A8).objective_value
        assert r.drop == base - alone
    one = ql.measure_candidates(m, [w3], A8, layers=["fc2"], baseline=base)
    assert one["drop"].tolist() == df[(df["candidate"] == 0) & (df["layer"] == "fc2")]["drop"].tolist()
    plan = ql.allocate_bits(m, 5.0, [w3, W8_PC], activations=A8, measured=df)
    assert plan.average_bits <= 5.0
    assert plan.score == m.evaluate({n: q(m.weights[n]).dequantized for n, q in plan.plan.items()}, A8)


_DIGITS_CANDIDATES = [ql.Quantizer("symmetric", bits=b, granularity="per_channel", axis=0) for b in (2, 4, 8)]


@functools.cache
def _digits_measured():
    return ql.measure_candidates(ql.digits_model(), _DIGITS_CANDIDATES)


@settings(max_examples=25, deadline=None)
@given(budget=st.floats(min_value=2.6, max_value=8.6))
def test_every_plan_fits_its_budget_and_beats_the_cheapest_uniform(budget):
    m = ql.digits_model()
    plan = ql.allocate_bits(m, budget, _DIGITS_CANDIDATES, measured=_digits_measured())
    assert plan.average_bits <= budget + 1e-9
    cheapest = m.evaluate(_DIGITS_CANDIDATES[0])
    assert plan.score.objective_value >= cheapest.objective_value
    fitting = plan.uniform[plan.uniform["fits_budget"]]
    assert plan.score.objective_value >= fitting["accuracy"].max()  # never worse than a uniform that fits
