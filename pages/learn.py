"""Learn: the source blog's five questions answered live, a worked example, its bugs as lessons, challenges."""

import numpy as np
import pandas as pd
import streamlit as st

import quantlib as ql
from pages import _common as ui
from quantlib import figures, teaching, toolkits
from quantlib.sweeps import subsample

PARTS = {
    "why": "1 · What and why",
    "methods": "2 · Methods",
    "quality": "3 · Model quality",
    "problems": "4 · Problems and fixes",
    "use": "5 · In use",
    "worked": "Worked example",
    "bugs": "The blog's bugs",
    "challenge": "Challenge",
}
DEMO_SAMPLES = 2**18  # the heavier demos run on a strided subsample of bigger tensors
SIZES_B = [0.1, 0.5, 1.0, 3.0, 7.0, 13.0, 34.0, 70.0, 405.0]

ui.start_page()
st.title("Learn")
st.caption("The source blog's five questions about quantization, answered on your tensor (sidebar), "
           "a step-by-step worked example, the blog's bugs beside their fixes, and challenges for a classroom.")
source = ui.require_source()
x = ui.load_tensor(source)

part = st.radio("Part", list(PARTS), format_func=PARTS.get, index=0, key="learn.part", horizontal=True, **ui.KEEP,
                help="Each part has its own live controls; the link keeps the part you are on.")


@st.cache_resource(max_entries=16, ttl=3600, show_spinner=False)
def _demo(source: tuple, method: str, bits: int) -> teaching.MethodDemo:
    return teaching.method_demo(ui.load_tensor(source), method, bits)


@st.cache_data(max_entries=16, ttl=3600, show_spinner=False)
def _fixes(source: tuple, bits: int) -> pd.DataFrame:
    return teaching.precision_fixes(_sample(source), bits)


@st.cache_data(max_entries=16, ttl=3600, show_spinner=False)
def _overhead(source: tuple, bits: int) -> pd.DataFrame:
    return teaching.overhead_table(_sample(source), bits)


@st.cache_data(max_entries=16, ttl=3600, show_spinner=False)
def _toolkit_counts(source: tuple) -> pd.DataFrame:
    c = toolkits.compare_toolkits(ui.load_tensor(source), max_examples=0)
    return pd.DataFrame([{"toolkit": toolkits.LABELS[t], "codes that differ from quantlib's": c.pair(t, "quantlib").n_diff}
                         for t in c.runs if t != "quantlib"])


@st.cache_data(max_entries=16, ttl=3600, show_spinner=False)
def _quality(bits: int, scheme: str, per_channel: bool) -> dict:
    return teaching.model_quality(bits, scheme, per_channel=per_channel)


def _sample(source: tuple) -> np.ndarray:
    t = ui.load_tensor(source)
    return t if t.size <= DEMO_SAMPLES else subsample(t, DEMO_SAMPLES)


def sampled_note() -> None:
    if x.size > DEMO_SAMPLES:
        st.caption(f"On a strided subsample of {DEMO_SAMPLES:,} of the tensor's {x.size:,} values.")


# ------------------------------------------------------------------------ 1. what & why
def part_why() -> None:
    st.header("What is quantization, and why do it?")
    st.markdown(
        "Quantization stores each number on a coarse grid: a float **x** becomes a small integer **code q**, and "
        "is read back as **x̂ = s · (q − z)** with a scale *s* and a zero-point *z*. Each code needs only *b* bits "
        "instead of 32, so a model takes less memory, moves fewer bytes per token (generating text is usually limited "
        "by memory bandwidth, not arithmetic) and can use the fast integer units of CPUs, GPUs and NPUs. The price is "
        "a rounding error — about 6 dB of signal-to-noise ratio per bit removed.")
    c = st.columns(4)
    size = c[0].select_slider("Model size (billion weights)", SIZES_B, value=7.0, key="learn.why.size",
                              **ui.KEEP,
                              help="Number of weights of the model, in billions.")
    bits = c[1].slider("Bits per weight", 2, 16, value=4, key="learn.why.bits", **ui.KEEP,
                       help="Code width of the quantized weights.")
    bw = c[2].number_input("Memory bandwidth (GB/s)", 1.0, 10000.0, value=100.0, key="learn.why.bandwidth",
                           format="%.6g", **ui.KEEP,
                           help="About 100 for a laptop (DDR5), 800 for Apple M-series Ultra, 3350 for an H100 (HBM3).")
    groups = ["none", "32", "64", "128"]
    g = c[3].selectbox("Scale per group of", groups, index=groups.index("128"), key="learn.why.group", **ui.KEEP,
                       help="A 32-bit scale for every group of this many weights (below 16 bits).")
    widths = list(dict.fromkeys([32, 16, 8, 4, bits]))
    df = teaching.footprint_table(size * 1e9, widths, bandwidth_gb_s=bw, group_size=None if g == "none" else int(g))
    mine = df.iloc[widths.index(bits)]
    m = st.columns(4)
    m[0].metric(f"Memory at {bits} bits", f"{mine['memory GB']:.3g} GB", help=f"{mine['bits per weight']:.3f} bits per weight")
    m[1].metric("Smaller than FP32", f"{mine['x smaller than FP32']:.2f}×")
    m[2].metric("Smaller than FP16", f"{mine['x smaller than FP16']:.2f}×")
    m[3].metric("Tokens/s, memory-bound", f"{mine['tokens/s (memory-bound)']:.3g}",
                help="Bandwidth / bytes of weights: every generated token reads every weight once. An upper bound.")
    st.plotly_chart(figures.footprint_figure(df), width="stretch", key="fig.footprint")
    ui.dataframe(df, hide_index=True, width="stretch")
    st.caption("A100 peak: dense tensor-core tera-ops/s from NVIDIA's datasheet (FP32 without tensor cores): "
                  "where arithmetic is the limit, each halving of the width doubles the peak.")
    r = ui.run_scheme(source, "symmetric", {"bits": bits})
    mm = ui.scheme_metrics(source, "symmetric", {"bits": bits})
    st.info(f"The price on your tensor: symmetric {bits}-bit codes give SQNR {mm['sqnr_db']:.2f} dB "
            f"(MSE {mm['mse']:.3g}, {mm['levels_used']:,} of {r.params.qmax - r.params.qmin + 1:,} levels used).")


# ------------------------------------------------------------------------ 2. methods
def part_methods() -> None:
    st.header("The common methods")
    st.markdown("The four the blog describes, each a scheme of this app's registry, run on your tensor.")
    c = st.columns([2, 1])
    methods = list(teaching.METHODS)
    method = c[0].radio("Method", methods, index=methods.index("symmetric"), key="learn.methods.method",
                        horizontal=True, **ui.KEEP,
                        help="symmetric and asymmetric: calibrated integer grids; histogram: bin indices; "
                             "fixed point: a fixed power-of-two step.")
    bits = c[1].slider("Bits", 2, 16, value=3, key="learn.methods.bits", **ui.KEEP,
                       help="Code width (histogram: 2^bits bins).")
    demo = _demo(source, method, bits)
    spec = ql.SCHEMES[method]
    st.markdown(f"**{method}** — {teaching.METHODS[method]}")
    st.latex(spec.formula)
    if spec.live_formula is not None:
        st.latex(spec.live_formula(demo.result))
    m = st.columns(4)
    m[0].metric("SQNR", f"{demo.metrics.sqnr_db:.2f} dB")
    m[1].metric("MSE", f"{demo.metrics.mse:.3g}")
    m[2].metric("levels used", f"{demo.metrics.levels_used:,}")
    m[3].metric("clipped", f"{demo.metrics.clip_ratio:.3%}")
    chosen = ", ".join(f"{k} = {v}" for k, v in demo.settings.items())
    st.caption(ui.plain(f"Settings: {chosen}; every other setting at its default. "
                        f"As the other pages label it: {ql.Quantizer(method, **demo.settings).label}"))
    left, right = st.columns([2, 3])
    left.markdown("**The first elements**")
    ui.dataframe(demo.table, hide_index=True, width="stretch", where=left)
    right.plotly_chart(figures.transfer_figure(x, demo.result), width="stretch", key="fig.method")
    notes = {
        "symmetric": "Good for weights, which are centred on zero. A one-sided tensor wastes the negative codes.",
        "asymmetric": "Good for activations after ReLU (all ≥ 0): the zero-point moves the grid onto the data.",
        "histogram": "Any range works, but the codes are bin indices: rebuilding needs the bin edges (or means).",
        "fixed_point": "No calibration and shift-only arithmetic, but values beyond the fixed range clip (or wrap).",
    }
    st.info(notes[method])


# ------------------------------------------------------------------------ 3. quality
def part_quality() -> None:
    st.header("What does it do to model quality?")
    st.markdown(
        "Each weight moves by at most half a step, and the errors of many weights add up in every dot product. "
        "Down to 8 bits most models keep their accuracy; at 4 bits and below the method matters (finer scales, "
        "better ranges, non-uniform levels), and below that accuracy falls off a cliff. Here is a real model — the "
        "shipped digits MLP — with its weights quantized, beside what the same setting does to your tensor.")
    c = st.columns(3)
    schemes = ["symmetric", "asymmetric", "lloyd_max", "int_group"]
    scheme = c[0].selectbox("Scheme", schemes, index=0, key="learn.quality.scheme", **ui.KEEP,
                            help="How the weights are quantized.")
    bits = c[1].slider("Bits", 2, 8, value=4, key="learn.quality.bits", **ui.KEEP, help="Code width of every weight.")
    per_channel = c[2].toggle("One scale per output neuron", value=False, key="learn.quality.per_channel", **ui.KEEP,
                              disabled=ql.SCHEMES[scheme].per_channel is None,
                              help="Per-channel scales (symmetric / asymmetric only).")
    r = _quality(bits, scheme, per_channel and ql.SCHEMES[scheme].per_channel is not None)
    spec = ql.SCHEMES[scheme]
    mt = ui.scheme_metrics(source, scheme, spec.at_bits(bits, spec.defaults()))
    m = st.columns(4)
    m[0].metric("digits accuracy", f"{r['accuracy']:.4f}", f"{r['accuracy'] - r['float_accuracy']:+.4f} vs float")
    m[1].metric("agreement with float", f"{r['agreement']:.4f}", help="Share of predictions unchanged.")
    m[2].metric("logit SQNR", f"{r['logit_sqnr_db']:.1f} dB")
    m[3].metric("your tensor's SQNR", f"{mt['sqnr_db']:.2f} dB", help=f"{scheme} at {bits} bits on the sidebar tensor")
    st.page_link("pages/model.py", label="Model impact: accuracy against bits, activations, per-layer sensitivity",
                 icon=":material/neurology:")


# ------------------------------------------------------------------------ 4. problems
def part_problems() -> None:
    st.header("Problems met in practice, and their fixes")
    bits = st.slider("Bits", 2, 16, value=4, key="learn.problems.bits", **ui.KEEP,
                     help="Code width for the demos below.")
    st.subheader("Precision loss")
    st.markdown("**Problem:** one scale for a whole tensor is set by its largest values; a few outliers stretch the "
                "step for everyone. **Fixes:** clip the range with a calibrator, give each channel or group its own "
                "scale, or put the levels where the values are. (Training with quantization in the loop, QAT, "
                "goes further.)")
    ui.dataframe(_fixes(source, bits), hide_index=True, width="stretch",
                 column_config={"clip_ratio": st.column_config.NumberColumn("clipped", format="percent")})
    sampled_note()
    st.subheader("Compute overhead")
    st.markdown("**Problem:** quantizing and dequantizing cost work, and finer scales cost memory: each group "
                "stores a 32-bit scale, and every output needs a rescale. **Fixes:** fuse dequantization into the "
                "matrix multiply, accumulate in int32 and rescale once per output, pick the coarsest groups that "
                "still hold the accuracy.")
    ui.dataframe(_overhead(source, bits), hide_index=True, width="stretch")
    sampled_note()
    st.subheader("Compatibility across platforms")
    st.markdown("**Problem:** toolkits compute the same scheme differently — the range rule, the scale formula, "
                "division or a reciprocal multiply — so the same tensor gets different codes. **Fixes:** export "
                "the scale and zero-point with the model (QDQ nodes in ONNX), re-calibrate per target, and test "
                "the deployed kernels against a reference, bit for bit.")
    ui.dataframe(_toolkit_counts(source), hide_index=True)
    st.caption("8-bit symmetric, min-max calibration, on your tensor.")
    st.page_link("pages/toolkits.py", label="Toolkits: where PyTorch, ONNX Runtime and TensorRT disagree, and why",
                 icon=":material/handyman:")


# ------------------------------------------------------------------------ 5. in use
def part_use() -> None:
    st.header("How industry and research use it")
    table = pd.DataFrame(teaching.FORMATS_IN_USE)
    ui.dataframe(table, hide_index=True, width="stretch")
    names = [f["format"] for f in teaching.FORMATS_IN_USE]
    name = st.selectbox("Try one on your tensor", names, index=0, key="learn.use.format", **ui.KEEP,
                        help="Runs the registry scheme that reproduces the format.")
    scheme = next(f["scheme"] for f in teaching.FORMATS_IN_USE if f["format"] == name)
    try:
        m = ui.scheme_metrics(source, scheme, {})
    except (ValueError, TypeError) as exc:
        st.error(f"{scheme} cannot be applied to this tensor: {exc}")
        return
    c = st.columns(3)
    c[0].metric("scheme", scheme)
    c[1].metric("SQNR", f"{m['sqnr_db']:.2f} dB")
    c[2].metric("bits per element", f"{m['bits_per_element']:.3f}", help="Codes plus stored scales.")
    st.caption(ql.SCHEMES[scheme].description)


# ------------------------------------------------------------------------ worked example
def _set_index(i: int) -> None:
    st.session_state["learn.we.index"] = i


def part_worked() -> None:
    st.header("Worked example, step by step")
    data = st.radio("Values", ["tensor", "blog"], index=0, key="learn.we.data", horizontal=True, **ui.KEEP,
                    captions=["an element of the sidebar tensor", "the blog's [1, 2, 3, 4, 5] with scale 0.1"],
                    help="The blog's example uses a fixed scale 0.1 and zero-point 0.")
    schemes = teaching.worked_schemes()
    c = st.columns([1, 1, 2])
    scheme = c[0].selectbox("Scheme", schemes, index=schemes.index("symmetric"), key="learn.we.scheme", **ui.KEEP,
                            help="Integer, fixed-point, histogram and float schemes can be worked out by hand.")
    values = teaching.BLOG_VALUES if data == "blog" else x
    n = values.size
    if st.session_state.get("learn.we.index", 0) > n - 1:
        st.session_state["learn.we.index"] = n - 1
    index = int(c[1].number_input("Element (flat index)", 0, n - 1, value=0, key="learn.we.index", step=1, **ui.KEEP,
                                  help=f"0 … {n - 1:,}, in C order."))
    c[2].button("Jump to the largest |x|", on_click=_set_index, args=(int(np.argmax(np.abs(values))),),
                help="The element that sets a min-max range.")
    spec = ql.SCHEMES[scheme]
    settings = {}
    manual = data == "blog" and spec.manual_params
    with st.expander("Scheme settings", expanded=False):
        settings = ui.scheme_settings(scheme, np.ndim(values), prefix="learn.we.", columns=4)
    if manual:
        settings.update(scale=teaching.BLOG_SCALE, zero_point=0)
        st.caption("The blog's parameters: scale 0.1, zero-point 0 (no calibration).")
    elif data == "blog":
        st.caption(f"{scheme} has no scale to set: it quantizes the blog's values with its own parameters.")
    try:
        if data == "blog":
            result = ql.Quantizer(scheme, **settings)(values)
        else:
            result = ui.run_scheme(source, scheme, settings)
        we = teaching.worked_example(values, index, result)
    except (ValueError, TypeError) as exc:
        st.error(f"These settings cannot be applied: {exc}")
        return
    st.markdown(f"**x = {teaching.num(we.x)}** (element {index:,}) with **{scheme}**")
    for k, step in enumerate(we.steps, 1):
        st.markdown(f"**{k}. {step.name}** — {step.text}")
        st.latex(step.latex)
    m = st.columns(3)
    m[0].metric(we.code_label, we.code_text)
    m[1].metric("dequantized x̂", teaching.num(we.value))
    m[2].metric("error x − x̂", f"{we.error:.6g}")
    own_code, own_value = int(result.codes.flat[index]), float(result.dequantized.flat[index])
    if (own_code, own_value) == (we.code, we.value):
        st.success(f"Same as quantlib's own result for this element: code {own_code}, x̂ = {teaching.num(own_value)}.")
    else:  # pragma: no cover - the steps are quantlib's arithmetic; tests check they agree
        st.error(f"quantlib's own result differs: code {own_code}, x̂ = {teaching.num(own_value)}.")
    if data == "blog":
        st.markdown("**All five values**")
        ui.dataframe(pd.DataFrame({"x": values, "code": result.codes.astype(np.int64), "x̂": result.dequantized}),
                     hide_index=True)


# ------------------------------------------------------------------------ the blog's bugs
def part_bugs() -> None:
    st.header("The blog's bugs, beside the fixes")
    st.markdown("The source blog illustrates quantization with small Go programs. Three of them carry mistakes "
                "worth learning from.")

    st.subheader("1. Converting to int8 without clamping")
    st.markdown("In Go, `int8(int(math.Round(x / scale)))` keeps only the low 8 bits of the integer: 128 becomes "
                "−128 and 300 becomes 44 — a large positive value turns negative. Clamp to [−128, 127] first "
                "(saturate). quantlib shows both: `quantize(x, params, overflow=\"wrap\")` and the `fixed_point` "
                "scheme's `overflow` setting.")
    c = st.columns(2)
    value = c[0].number_input("Your value x", -1e6, 1e6, value=25.6, key="learn.bugs.value", format="%.6g", **ui.KEEP,
                              help="Quantized with the blog's scale 0.1 to int8.")
    scale = c[1].number_input("Scale", 1e-6, 1e6, value=teaching.BLOG_SCALE, key="learn.bugs.scale", format="%.6g",
                              **ui.KEEP, help="Step between codes.")
    p = ql.QuantParams(scale=scale, zero_point=0, qmin=-128, qmax=127)
    values = np.append(np.array([10, 127, 128, 300, -129]) * scale, value).astype(np.float32)
    left, right = st.columns([3, 2])
    ui.dataframe(teaching.wrap_lesson(values, p), hide_index=True, width="stretch", where=left)
    right.plotly_chart(figures.wrap_figure(teaching.wrap_curve(p)), width="stretch", key="fig.wrap")

    st.subheader("2. The histogram bin index runs out of range")
    st.markdown("The bin of x is computed as `int((x - min) / width)` with `width = (max - min) / numBins`. For "
                "x = max that is exactly `numBins`, one past the last bin: Go stops with *panic: runtime error: "
                "index out of range*, C writes past the array. The fix clamps the index to `numBins - 1`, as "
                "quantlib's `histogram` scheme does.")
    bins = st.slider("Bins", 2, 256, value=16, key="learn.bugs.bins", **ui.KEEP, help="numBins of the histogram.")
    lesson = teaching.histogram_bin_lesson(x, bins)
    ui.dataframe(lesson.table, hide_index=True, width="stretch")
    st.caption(f"min {lesson.lo:.6g}, max {lesson.hi:.6g}, width {lesson.width:.6g}: {lesson.out_of_range:,} element(s) "
               f"of your tensor get index {bins} or more from the blog's formula.")

    st.subheader("3. \"Asymmetric\" read as two different scales")
    st.markdown("The blog describes asymmetric quantization as weights and activations getting different scales. "
                "But every tensor gets its own scale in *both* schemes. Asymmetric means a **zero-point**: the grid "
                "is shifted so [min, max] maps onto all the codes. It matters for one-sided data such as post-ReLU "
                "activations, where a symmetric grid leaves the negative half of its codes unused. Real tensors from "
                "the shipped digits MLP:")
    abits = st.slider("Bits", 2, 16, value=8, key="learn.bugs.asym_bits", **ui.KEEP,
                      help="Code width for both tensors.")
    t = ql.sample_tensors()
    ui.dataframe(teaching.asymmetric_lesson(t["digits_mlp/fc1.weight"], t["digits_mlp/act.fc1"], abits),
                 hide_index=True, width="stretch")


# ------------------------------------------------------------------------ challenge
def part_challenge() -> None:
    st.header("Challenge")
    keys = list(teaching.CHALLENGES) + ["custom"]
    key = st.selectbox("Goal", keys, index=0, key="learn.ch.key", **ui.KEEP,
                       format_func=lambda k: teaching.CHALLENGES[k].title if k in teaching.CHALLENGES else "Your own goal",
                       help="Each goal is checked live on the sidebar tensor; change the tensor to raise the stakes.")
    if key == "custom":
        c = st.columns(3)
        sq = c[0].number_input("SQNR at least (dB)", -100.0, 200.0, value=30.0, key="learn.ch.sqnr", format="%.4g",
                               **ui.KEEP)
        cb = c[1].number_input("Bits per code (0: any)", 0, 16, value=4, key="learn.ch.code_bits", step=1, **ui.KEEP)
        budget = c[2].number_input("Bits per element at most (0: no limit)", 0.0, 64.0, value=0.0,
                                   key="learn.ch.budget", format="%.4g", **ui.KEEP)
        ch = teaching.Challenge("custom", "Your own goal",
                                f"Reach SQNR >= {sq:g} dB" + (f" at {cb} bits" if cb else "")
                                + (f" storing at most {budget:g} bits per element" if budget else "") + ".",
                                "Try finer scales, better calibration or non-uniform levels.",
                                min_sqnr_db=float(sq), code_bits=int(cb) or None, max_bits_per_element=float(budget) or None)
    else:
        ch = teaching.CHALLENGES[key]
    st.markdown(f":material/flag: **{ch.goal}**")
    options = list(ch.schemes) if ch.schemes else list(ql.SCHEMES)
    if st.session_state.get("learn.ch.scheme", options[0]) not in options:
        st.session_state["learn.ch.scheme"] = options[0]
    scheme = st.selectbox("Your scheme", options, index=0, key="learn.ch.scheme", **ui.KEEP,
                          help="Pick a scheme, then tune it.")
    spec = ql.SCHEMES[scheme]
    settings = ui.scheme_settings(scheme, ui.load_tensor(source).ndim, prefix="learn.ch.", columns=4)
    try:
        m = ui.scheme_metrics(source, scheme, settings)
        ref = ui.scheme_metrics(source, ch.beat[0], dict(ch.beat[1])) if ch.beat else None
        check = teaching.check_challenge(ch, scheme, settings, m, ref)
    except (ValueError, TypeError) as exc:
        st.error(f"These settings cannot be applied: {exc}")
        return
    ui.dataframe(check.rows, hide_index=True)
    solved = st.session_state.setdefault("learn.ch.solved", {})
    attempt = (key, scheme, ui.settings_json(settings))
    if st.session_state.get("learn.ch.last") != attempt:
        st.session_state["learn.ch.last"] = attempt
        st.session_state["learn.ch.attempts"] = st.session_state.get("learn.ch.attempts", 0) + 1
    if check.passed:
        changed = {k: v for k, v in settings.items() if v != spec.setting(k).default}
        solved.setdefault(ch.title, f"{scheme}({', '.join(f'{k}={v}' for k, v in changed.items())})")
        st.success(f"Goal reached: SQNR {m['sqnr_db']:.2f} dB with {m['bits_per_element']:.3f} bits per element.")
    else:
        st.warning("Not yet.")
        with st.expander("Hint"):
            st.write(ch.hint)
    st.caption(f"Configurations tried this session: {st.session_state.get('learn.ch.attempts', 0)}"
               + (" · solved: " + "; ".join(f"{t} with {c}" for t, c in solved.items()) if solved else ""))


{
    "why": part_why, "methods": part_methods, "quality": part_quality, "problems": part_problems, "use": part_use,
    "worked": part_worked, "bugs": part_bugs, "challenge": part_challenge,
}[part]()
