"""quantlib.teaching and the Learn page: every number a step shows is quantlib's own."""


import numpy as np
import pytest
from conftest import open_app

import quantlib as ql
from quantlib import formats, teaching

X = ql.synthetic("normal", 2**16, 0)  # the default data source
W = X.reshape(256, 256)
PICKS = (0, 5, 4097, 65535, int(np.argmax(X)), int(np.argmin(X)))


def assert_same_as_quantlib(x, result, indices=PICKS):
    for i in indices:
        we = teaching.worked_example(x, i, result)
        assert (we.code, we.value) == (int(result.codes.flat[i]), float(result.dequantized.flat[i])), i
        assert we.error == float(x.flat[i]) - float(result.dequantized.flat[i])


# ------------------------------------------------------------------ worked example (engine)
CONVENTION_SCHEMES = [(c, s) for c in ql.CONVENTIONS for s in ("symmetric", "asymmetric")
                      if ql.CONVENTIONS[c].asymmetric or s == "symmetric"]  # tensorrt is symmetric only


@pytest.mark.parametrize("convention, scheme", CONVENTION_SCHEMES, ids=[f"{c}-{s}" for c, s in CONVENTION_SCHEMES])
@pytest.mark.parametrize("granularity", ["per_tensor", "per_channel", "per_group"])
@pytest.mark.parametrize("rounding", list(ql.ROUNDING_MODES))
def test_worked_steps_equal_quantize_and_dequantize(convention, scheme, granularity, rounding):
    x = X if granularity == "per_tensor" else W
    extra = {"per_tensor": {}, "per_channel": {"axis": 1}, "per_group": {"axis": 1, "group_size": 64}}[granularity]
    r = ql.Quantizer(scheme, bits=4, convention=convention, granularity=granularity, rounding=rounding, seed=3, **extra)(x)
    assert_same_as_quantlib(x, r)


@pytest.mark.parametrize("overflow", ["saturate", "wrap"])
def test_worked_steps_fixed_point_saturate_and_wrap(overflow):
    x = X * 5
    r = ql.Quantizer("fixed_point", int_bits=1, frac_bits=3, overflow=overflow)(x)
    assert_same_as_quantlib(x, r, range(0, x.size, 997))
    assert teaching.worked_example(x, int(np.argmax(x)), r).steps[3].name == ("wrap" if overflow == "wrap" else "clamp")


@pytest.mark.parametrize("symmetric", [True, False], ids=["symmetric", "asymmetric"])
def test_worked_steps_int_group(symmetric):
    r = ql.Quantizer("int_group", bits=4, group_size=32, symmetric=symmetric)(W)
    assert_same_as_quantlib(W, r)


def test_every_worked_scheme_is_explained():
    names = teaching.worked_schemes()
    assert {"symmetric", "asymmetric", "fixed_point", "int_group", "histogram", "fp8_e4m3fn", "bf16"} <= set(names)
    for name in names:
        r = ql.Quantizer(name)(W)
        assert_same_as_quantlib(W, r, (0, 12345))


@pytest.mark.parametrize("fmt", list(formats.FLOATS))
@pytest.mark.parametrize("scaling", ["none", "per_tensor", "per_channel"])
def test_float_steps_equal_the_float_scheme(fmt, scaling):
    x = W * 50 if scaling != "none" else W
    r = ql.Quantizer(fmt, scaling=scaling)(x)
    assert_same_as_quantlib(x, r, range(0, x.size, 1999))


def test_float_bits_are_sign_exponent_mantissa_of_the_nearest_value():
    x = np.array([0.3, -1.25, 500.0, 0.001], np.float32)
    r = ql.Quantizer("fp8_e4m3fn")(x)
    we = teaching.worked_example(x, 1, r)
    bits = next(s for s in we.steps if s.name == "bits")
    assert we.code == 0b1_0111_010 and we.value == -1.25
    assert r"\underbrace{1}_{\text{sign}}\ \underbrace{0111}_{\text{exponent}}\ \underbrace{010}_{\text{mantissa}}" in bits.latex
    assert "2^{7 - 7}" in bits.latex
    sat = teaching.worked_example(x, 2, r)  # 500 saturates to 448 = 0b0_1111_110
    assert sat.code == 0b0_1111_110 and sat.value == 448.0
    assert "beyond" in next(s for s in sat.steps if s.name == "saturate").text
    sub = teaching.worked_example(x, 3, r)  # 0.001 is subnormal: 2^-6 * m/8
    assert "subnormal" in next(s for s in sub.steps if s.name == "bits").text


@pytest.mark.parametrize("reconstruction", ["center", "mean"])
def test_histogram_steps_clamp_the_maximum_into_the_last_bin(reconstruction):
    r = ql.Quantizer("histogram", num_bins=16, reconstruction=reconstruction)(X)
    assert_same_as_quantlib(X, r)
    we = teaching.worked_example(X, int(np.argmax(X)), r)
    raw = next(s for s in we.steps if s.name == "bin index").value
    assert raw == 16 and we.code == 15 and "the blog's bug" in we.steps[2].text


def test_blog_example_gives_codes_ten_to_fifty_step_by_step():
    x = teaching.BLOG_VALUES
    r = ql.Quantizer("symmetric", scale=teaching.BLOG_SCALE, zero_point=0)(x)
    steps = [teaching.worked_example(x, i, r) for i in range(5)]
    assert [s.code for s in steps] == [10, 20, 30, 40, 50] == r.codes.tolist()
    assert steps[2].steps[0].latex == r"\frac{x}{s} = \frac{3}{0.1} = 30"


def test_an_exact_tie_is_explained_and_goes_to_even():
    x = np.array([0.75, 1.25, -0.75], np.float32)
    p = ql.QuantParams(scale=0.5, zero_point=0, qmin=-128, qmax=127)
    we = teaching.integer_steps(x, 0, p)
    assert we.code == 2 and "exactly halfway between 1 and 2" in we.steps[1].text and "even" in we.steps[1].text
    assert teaching.integer_steps(x, 1, p).code == 2  # 2.5 -> 2
    assert teaching.integer_steps(x, 1, p, rounding="half_away").code == 3


def test_pytorch_steps_show_the_reciprocal_and_the_fused_zero_point():
    r = ql.Quantizer("asymmetric", convention="pytorch")(X)
    we = teaching.worked_example(X, 3, r)
    assert "fl}_{32}" in we.steps[0].latex and "reciprocal" in we.steps[0].text
    assert r.params.zero_point != 0 and "already added" in we.steps[2].text


# ------------------------------------------------------------------ the five questions
def test_footprint_table_numbers():
    df = teaching.footprint_table(7e9, (32, 16, 8, 4), bandwidth_gb_s=100.0)
    assert df["memory GB"].tolist() == pytest.approx([28.0, 14.0, 7.0, 3.5])
    assert df["x smaller than FP32"].tolist() == pytest.approx([1, 2, 4, 8])
    assert df["tokens/s (memory-bound)"].iloc[3] == pytest.approx(100 / 3.5)
    grouped = teaching.footprint_table(7e9, (4,), group_size=128)
    assert grouped["bits per weight"].iloc[0] == 4.25
    with pytest.raises(ValueError, match="n_params"):
        teaching.footprint_table(-1, (8,))


@pytest.mark.parametrize("method", list(teaching.METHODS))
def test_method_demos_run_the_registry_scheme(method):
    d = teaching.method_demo(X, method, 4)
    spec = ql.SCHEMES[method]
    expected = ql.Quantizer(method, **spec.at_bits(4, spec.defaults()))(X)
    np.testing.assert_array_equal(d.result.codes, expected.codes)
    assert d.table["code"].tolist() == expected.codes[:8].astype(np.int64).tolist()


def test_precision_fixes_beat_the_min_max_baseline_at_4_bits():
    df = teaching.precision_fixes(W, 4).set_index("fix")
    base = df.loc["min-max range (the baseline)", "SQNR dB"]
    assert (df["SQNR dB"].drop("min-max range (the baseline)") > base).all()
    assert "one scale per channel" in df.index and "one scale per group of 128" in df.index


def test_overhead_grows_as_groups_shrink():
    df = teaching.overhead_table(X, 4)
    assert df["bits per element"].iloc[0] < df["bits per element"].iloc[-1] < df["bits per element"].iloc[1]
    assert df.loc[df["granularity"] == "groups of 32", "bits per element"].item() == 5.0


def test_model_quality_is_the_digits_model_evaluated():
    r = teaching.model_quality(8)
    assert r["agreement"] > 0.97 and r["float_accuracy"] > 0.9


def test_formats_in_use_name_registry_schemes():
    assert all(f["scheme"] in ql.SCHEMES for f in teaching.FORMATS_IN_USE)


# ------------------------------------------------------------------ the blog's bugs
def test_wrap_lesson_shows_the_int8_cast_wrapping_and_the_fix_saturating():
    df = teaching.wrap_lesson([1.0, 12.7, 12.8, 30.0, -12.9])
    assert df["blog: code (wraps)"].tolist() == [10, 127, -128, 44, 127]
    assert df["fixed: code (saturates)"].tolist() == [10, 127, 127, 127, -128]
    curve = teaching.wrap_curve()
    assert curve["wrap"].min() == -128 and curve["saturate"].is_monotonic_increasing


def test_histogram_bin_lesson_finds_the_index_past_the_end():
    lesson = teaching.histogram_bin_lesson(X, 16)
    last = lesson.table.iloc[-1]
    assert last["x"] == X.max() and last["blog: bin index"] == 16 and not last["blog: inside the histogram?"]
    assert last["fixed: clamped index"] == 15 == last["quantlib histogram code"]
    assert lesson.out_of_range == 1


def test_asymmetric_lesson_zero_point_helps_one_sided_activations():
    t = ql.sample_tensors()
    df = teaching.asymmetric_lesson(t["digits_mlp/fc1.weight"], t["digits_mlp/act.fc1"], 8).set_index(["tensor", "scheme"])
    act_sym, act_asym = df.loc[("activations", "symmetric")], df.loc[("activations", "asymmetric")]
    assert act_asym["zero-point"] == 0 and act_asym["levels used"] > 1.5 * act_sym["levels used"]
    assert act_asym["SQNR dB"] > act_sym["SQNR dB"] + 5
    # every tensor has its own scale in both schemes: that is not what "asymmetric" means
    assert df.loc[("weights", "symmetric"), "scale"] != act_sym["scale"]


# ------------------------------------------------------------------ challenges
def check(key, scheme, **settings):
    ch = teaching.CHALLENGES[key]
    m = ql.Quantizer(scheme, **settings)(X).metrics(X).to_dict()
    ref = ql.Quantizer(ch.beat[0], **dict(ch.beat[1]))(X).metrics(X).to_dict() if ch.beat else None
    return teaching.check_challenge(ch, scheme, settings, m, ref).passed


@pytest.mark.parametrize("key, scheme, settings, passed", [
    ("int8_40db", "symmetric", {}, False),
    ("int8_40db", "symmetric", {"calibration": "mse"}, True),
    ("int8_40db", "symmetric", {"bits": 7, "calibration": "mse"}, False),
    ("four_bit_30db", "symmetric", {"bits": 4}, False),
    ("four_bit_30db", "asymmetric", {"bits": 4, "granularity": "per_group", "group_size": 2}, True),
    ("budget_20db", "symmetric", {"bits": 4, "calibration": "mse"}, False),
    ("budget_20db", "lloyd_max", {"bits": 4}, True),
    ("beat_fp8", "symmetric", {"bits": 6, "granularity": "per_group", "group_size": 64}, True),
    ("beat_fp8", "symmetric", {"bits": 6, "calibration": "mse"}, False),  # one uniform grid falls short
    ("beat_fp8", "lloyd_max", {"bits": 6}, True),  # 64 converged Lloyd-Max levels: 31.9 dB against FP8's 31.6
    ("beat_fp8", "symmetric", {"bits": 7, "calibration": "mse"}, False),
], ids=["int8-minmax", "int8-mse", "int7", "4bit-tensor", "4bit-groups-of-2", "budget-uniform", "budget-lloyd",
        "fp8-groups-of-64", "fp8-uniform6", "fp8-lloyd6", "fp8-over-budget"])
def test_challenges_are_checked(key, scheme, settings, passed):
    assert check(key, scheme, **settings) is passed


def test_code_bits_of_fixed_width_formats():
    assert teaching.code_bits("nf4", {}) == 4 and teaching.code_bits("q8_0", {}) == 8
    assert teaching.code_bits("fp8_e4m3fn", {}) == 8 and teaching.code_bits("mxfp4", {}) == 4
    assert teaching.code_bits("fixed_point", {"int_bits": 3, "frac_bits": 4}) == 8
    assert teaching.code_bits("histogram", {"num_bins": 16}) == 4


# ------------------------------------------------------------------ the Learn page
def learn(**query):
    return open_app("learn", query)


def metric(at, label) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_learn_every_part_renders_without_errors():
    at = learn()
    parts = ["why", "methods", "quality", "problems", "use", "worked", "bugs", "challenge"]
    assert len(at.radio(key="learn.part").options) == len(parts)
    for part in parts:
        at.radio(key="learn.part").set_value(part).run()
        assert not at.exception and not at.error, part
        assert at.header[0].value
    # the link names a part by the label the radio shows
    assert learn(**{"learn.part": "Worked example"}).header[0].value == "Worked example, step by step"


def test_learn_why_computes_memory_for_the_chosen_model_and_bits():
    at = learn()
    assert metric(at, "Memory at 4 bits") == "3.72 GB"  # 7e9 x (4 + 32/128) bits
    at.slider(key="learn.why.bits").set_value(8).run()
    at.selectbox(key="learn.why.group").set_value("none").run()
    assert metric(at, "Memory at 8 bits") == "7 GB" and metric(at, "Smaller than FP32") == "4.00×"
    at.select_slider(key="learn.why.size").set_value(70.0).run()
    assert metric(at, "Memory at 8 bits") == "70 GB"


def test_learn_worked_example_numbers_equal_quantlib():
    at = learn(**{"learn.part": "Worked example"})
    r = ql.Quantizer("symmetric")(X)
    assert metric(at, "code q") == str(int(r.codes[0]))
    assert metric(at, "dequantized x̂") == teaching.num(r.dequantized[0])
    at.number_input(key="learn.we.index").set_value(1234).run()
    at.selectbox(key="learn.we.symmetric.convention").set_value("pytorch").run()
    at.slider(key="learn.we.symmetric.bits").set_value(3).run()
    r = ql.Quantizer("symmetric", convention="pytorch", bits=3)(X)
    we = teaching.worked_example(X, 1234, r)
    assert metric(at, "code q") == str(int(r.codes[1234])) and metric(at, "dequantized x̂") == teaching.num(r.dequantized[1234])
    assert [lx.value.strip("$\n") for lx in at.latex] == [s.latex for s in we.steps]
    assert any("Same as quantlib's own result" in s.value for s in at.success)
    next(b for b in at.button if b.label == "Jump to the largest |x|").click().run()
    assert at.number_input(key="learn.we.index").value == int(np.argmax(np.abs(X)))


def test_learn_worked_example_blog_gives_codes_ten_to_fifty():
    at = learn(**{"learn.part": "Worked example", "learn.we.data": "blog"})
    assert at.dataframe[0].value["code"].tolist() == [10, 20, 30, 40, 50]
    assert metric(at, "code q") == "10"
    at.number_input(key="learn.we.index").set_value(4).run()
    assert metric(at, "code q") == "50" and metric(at, "dequantized x̂") == "5"
    assert at.latex[0].value.strip("$\n") == r"\frac{x}{s} = \frac{5}{0.1} = 50"


def test_learn_worked_example_float_format_shows_the_bit_pattern():
    at = learn(**{"learn.part": "Worked example", "learn.we.scheme": "fp8_e4m3fn", "learn.we.index": "7"})
    r = ql.Quantizer("fp8_e4m3fn")(X)
    assert metric(at, "bit pattern") == f"{int(r.codes[7]):#x}"
    assert metric(at, "dequantized x̂") == teaching.num(r.dequantized[7])
    assert any(r"\text{exponent}" in lx.value for lx in at.latex)


def test_learn_blog_bugs_lessons_follow_their_controls():
    at = learn(**{"learn.part": "The blog's bugs"})
    at.number_input(key="learn.bugs.value").set_value(12.8).run()
    table = at.dataframe[0].value
    assert table["blog: code (wraps)"].iloc[-1] == -128 and table["fixed: code (saturates)"].iloc[-1] == 127
    at.slider(key="learn.bugs.bins").set_value(8).run()
    assert at.dataframe[1].value["blog: bin index"].iloc[-1] == 8
    assert any("1 element(s)" in c.value and "index 8" in c.value for c in at.caption)


def test_learn_challenge_is_checked_live_and_remembered():
    at = learn(**{"learn.part": "Challenge"})
    assert any("Not yet" in w.value for w in at.warning)
    at.selectbox(key="learn.ch.symmetric.calibration").set_value("mse").run()
    assert any("Goal reached" in s.value for s in at.success)
    assert "Eight bits, 40 dB" in at.session_state["learn.ch.solved"]
    at.selectbox(key="learn.ch.key").set_value("budget_20db").run()
    assert any("Not yet" in w.value for w in at.warning)
    at.selectbox(key="learn.ch.scheme").set_value("lloyd_max").run()
    at.slider(key="learn.ch.lloyd_max.bits").set_value(4).run()
    assert any("Goal reached" in s.value for s in at.success)
    assert any("solved:" in c.value and "20 dB in 4.1 bits" in c.value for c in at.caption)


def test_learn_shows_only_settings_that_act():
    """The Challenge and the worked example offered a percentile under min-max and an axis on a vector."""
    at = learn()
    at.radio(key="learn.part").set_value("challenge").run()
    scheme = at.selectbox(key="learn.ch.scheme").value
    keys = {w.key for w in at.main if str(getattr(w, "key", "")).startswith("learn.ch.")}
    assert f"learn.ch.{scheme}.bits" in keys or ql.SCHEMES[scheme].fixed_width
    assert not any(k.endswith((".percentile", ".axis", ".group_size")) for k in keys), keys
