"""quantlib.toolkits and the Toolkits page against torch and onnxruntime, side by side.

The reference codes come from the libraries themselves: torch's MinMaxObserver and
quantize_per_tensor, onnxruntime's compute_scale_zp and its QuantizeLinear kernel. The
number of differing codes the page reports must equal the number those libraries produce.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnxruntime.quantization.quant_utils import compute_scale_zp, get_qmin_qmax_for_qType  # noqa: E402
from torch.ao.quantization import MinMaxObserver  # noqa: E402

import quantlib as ql  # noqa: E402
from conftest import make_tensor, open_app  # noqa: E402
from quantlib import toolkits  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:.*quantized tensor creation functions.*:UserWarning")
torch.set_num_threads(1)
X = ql.synthetic("normal", 2**16, 0)  # the default data source


# ------------------------------------------------------------------ the libraries themselves
def torch_codes(x: np.ndarray, lo: float, hi: float, symmetric: bool) -> np.ndarray:
    """torch's observer picks s, z from the range [lo, hi]; quantize_per_tensor makes the codes."""
    dtype = torch.qint8 if symmetric else torch.quint8
    obs = MinMaxObserver(dtype=dtype, qscheme=torch.per_tensor_symmetric if symmetric else torch.per_tensor_affine)
    obs(torch.tensor([lo, hi], dtype=torch.float32))
    s, z = obs.calculate_qparams()
    q = torch.quantize_per_tensor(torch.from_numpy(x), float(s), int(z), dtype)
    return q.int_repr().numpy().astype(np.int64)


def ort_codes(x: np.ndarray, lo: float, hi: float, symmetric: bool) -> np.ndarray:
    """onnxruntime's compute_scale_zp on [lo, hi], then its QuantizeLinear kernel."""
    qtype, np_dtype = (TensorProto.INT8, np.int8) if symmetric else (TensorProto.UINT8, np.uint8)
    qmin, qmax = get_qmin_qmax_for_qType(qtype, symmetric=symmetric)
    zp, scale = compute_scale_zp(np.float32(lo), np.float32(hi), qmin, qmax, symmetric)
    node = helper.make_node("QuantizeLinear", ["x", "scale", "zp"], ["y"])
    graph = helper.make_graph(
        [node], "q", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
        [helper.make_tensor_value_info("y", qtype, None)],
        initializer=[numpy_helper.from_array(np.asarray(scale, np.float32), "scale"),
                     numpy_helper.from_array(np.asarray(zp, np_dtype), "zp")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0].astype(np.int64)


def trt_codes(x: np.ndarray, amax: float) -> np.ndarray:
    """ModelOpt's CPU quantizer formula in torch float32: clamp(round(x * (127 / amax)), -127, 127)."""
    scale = torch.tensor(127.0) / torch.tensor(np.float32(amax))
    return torch.clamp((torch.from_numpy(x) * scale).round(), -127, 127).numpy().astype(np.int64)


def differing(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.count_nonzero(a != b))


# ------------------------------------------------------------------ engine vs the libraries
CASES = [("normal", 2**16, 0), ("laplace", 20_000, 1), ("outliers", 20_000, 2), ("relu", 20_000, 3),
         ("bimodal", 20_000, 4), ("ties", 20_000, 5)]


@pytest.mark.parametrize("symmetric", [True, False], ids=["symmetric", "asymmetric"])
@pytest.mark.parametrize("kind, n, seed", CASES, ids=[c[0] for c in CASES])
def test_minmax_differences_equal_torch_and_onnxruntime(symmetric, kind, n, seed):
    x = X if kind == "normal" else make_tensor(kind, n, seed)
    cmp = toolkits.compare_toolkits(x, symmetric=symmetric)
    lo, hi = float(x.min()), float(x.max())
    t, o = torch_codes(x, lo, hi, symmetric), ort_codes(x, lo, hi, symmetric)
    np.testing.assert_array_equal(cmp.runs["pytorch"].codes, t)
    np.testing.assert_array_equal(cmp.runs["onnxruntime"].codes, o)
    assert cmp.pair("pytorch", "onnxruntime").n_diff == differing(t, o)
    assert cmp.pair("pytorch", "quantlib").n_diff == differing(t, cmp.runs["quantlib"].codes)
    if symmetric:
        r = trt_codes(x, max(-lo, hi))
        assert cmp.pair("onnxruntime", "tensorrt").n_diff == differing(o, r)
        assert cmp.pair("pytorch", "tensorrt").n_diff == differing(t, r)


@pytest.mark.parametrize("calibration", ["percentile", "entropy", "mse"])
@pytest.mark.parametrize("symmetric", [True, False], ids=["symmetric", "asymmetric"])
def test_calibrated_differences_equal_torch_and_onnxruntime(calibration, symmetric):
    """Each toolkit's calibrated range through the libraries' own parameter rules and kernels."""
    cmp = toolkits.compare_toolkits(X, symmetric=symmetric, calibration=calibration)
    pt, on = cmp.runs["pytorch"], cmp.runs["onnxruntime"]
    t, o = torch_codes(X, pt.lo, pt.hi, symmetric), ort_codes(X, on.lo, on.hi, symmetric)
    p = cmp.pair("pytorch", "onnxruntime")
    assert p.n_diff == differing(t, o)
    assert p.n_diff == p.n_parameters + p.n_arithmetic


def test_one_element_differs_by_arithmetic_alone_and_torch_agrees():
    """Asymmetric percentile on the default tensor: pytorch and quantlib share s and z, yet one
    element differs — torch's fused x * fl32(1/s) + z lands exactly on 107.5 (a tie, to even
    108) where division gives 107.49999 (107)."""
    cmp = toolkits.compare_toolkits(X, symmetric=False, calibration="percentile")
    p = cmp.pair("pytorch", "quantlib")
    assert (p.n_diff, p.n_arithmetic, p.n_parameters) == (1, 1, 0)
    pt = cmp.runs["pytorch"]
    t = torch_codes(X, pt.lo, pt.hi, symmetric=False)
    assert differing(t, cmp.runs["quantlib"].codes) == 1
    ex = p.examples.iloc[0]
    i = int(ex["index"])
    assert (ex["PyTorch code"], ex["quantlib code"]) == (t[i], 107) == (108, 107)
    assert ex["cause"] == "arithmetic" and "exact tie" in ex["why"] and "107.5" in ex["why"]


def test_reasons_name_the_rule_that_differs():
    sym = toolkits.compare_toolkits(X)
    reasons = " ".join(sym.pair("pytorch", "onnxruntime").reasons)
    assert "Scale rule" in reasons and "127.5" in reasons and "Arithmetic" in reasons and "reciprocal" in reasons
    assert "Range rule" not in reasons  # min-max: every toolkit sees the same range
    assert sym.pair("onnxruntime", "quantlib").n_diff == 0
    pct = toolkits.compare_toolkits(X, calibration="percentile")
    assert "left edge" in " ".join(pct.pair("onnxruntime", "quantlib").reasons)  # the bin-edge rule
    asym = toolkits.compare_toolkits(X, symmetric=False)
    assert not asym.pair("tensorrt", "quantlib").comparable
    assert asym.matrix().loc["TensorRT", "quantlib"] is None


def test_table_lists_each_toolkit_with_its_own_calibrator():
    table = toolkits.compare_toolkits(X, calibration="entropy").table().set_index("toolkit")
    assert table.loc["ONNX Runtime", "calibrator"] == "EntropyCalibrater"
    assert table.loc["PyTorch", "calibrator"].startswith("none of its own")
    assert table.loc["TensorRT", "codes"] == "[-127, 127]" and table.loc["PyTorch", "codes"] == "[-128, 127]"


def test_grid_columns_show_what_each_toolkit_can_represent_under_minmax():
    """The calibrated range is [min, max] for every toolkit; the grid differs: TensorRT's is ±amax,
    PyTorch's symmetric qint8 grid is [-128, 127] · amax / 127.5 (toolkits.md), ORT's [-128, 127] · amax / 127."""
    table = toolkits.compare_toolkits(X, calibration="minmax").table().set_index("toolkit")
    amax = np.float32(np.abs(X).max())
    assert table.loc["TensorRT", "grid lo"] == -amax and table.loc["TensorRT", "grid hi"] == amax
    torch_scale = np.float32(amax / np.float32(127.5))
    assert table.loc["PyTorch", "grid lo"] == pytest.approx(-128 * float(torch_scale), rel=1e-6)
    assert table.loc["PyTorch", "grid hi"] == pytest.approx(127 * float(torch_scale), rel=1e-6)
    assert table.loc["ONNX Runtime", "grid hi"] == pytest.approx(float(amax), rel=1e-6)
    assert (table["range lo"] == float(X.min())).all() and (table["range hi"] == float(X.max())).all()


# ------------------------------------------------------------------ the Toolkits page
def toolkits_page(**query):
    return open_app("toolkits", query)


def shown(at, label: str) -> int | None:
    v = next(m.value for m in at.metric if m.label == label)
    return None if v == "—" else int(v.replace(",", ""))


def test_page_counts_equal_what_torch_and_onnxruntime_produce():
    at = toolkits_page()
    lo, hi = float(X.min()), float(X.max())
    t, o = torch_codes(X, lo, hi, True), ort_codes(X, lo, hi, True)
    assert shown(at, "PyTorch vs ONNX Runtime") == differing(t, o) > 0
    assert shown(at, "ONNX Runtime vs TensorRT") == differing(o, trt_codes(X, max(-lo, hi)))
    assert len(at.dataframe) >= 2 and len(at.get("plotly_chart")) == 1
    assert any("Scale rule" in md.value for md in at.markdown)


def test_page_controls_move_and_counts_follow():
    at = toolkits_page()
    at.radio(key="tk.mode").set_value("asymmetric").run()
    at.selectbox(key="tk.calibration").set_value("percentile").run()
    cmp = toolkits.compare_toolkits(X, symmetric=False, calibration="percentile")
    pt, on = cmp.runs["pytorch"], cmp.runs["onnxruntime"]
    assert shown(at, "PyTorch vs ONNX Runtime") == differing(torch_codes(X, pt.lo, pt.hi, False),
                                                             ort_codes(X, on.lo, on.hi, False))
    assert shown(at, "PyTorch vs quantlib") == 1 and shown(at, "TensorRT vs quantlib") is None
    at.slider(key="tk.bits").set_value(4).run()
    cmp4 = toolkits.compare_toolkits(X, bits=4, symmetric=False, calibration="percentile")
    assert shown(at, "PyTorch vs ONNX Runtime") == cmp4.pair("pytorch", "onnxruntime").n_diff
    assert not at.error
    again = toolkits_page(**{"tk.mode": "asymmetric", "tk.calibration": "percentile", "tk.bits": "4"})  # its link
    assert shown(again, "PyTorch vs ONNX Runtime") == cmp4.pair("pytorch", "onnxruntime").n_diff


def test_every_calibration_method_has_words_and_an_unknown_one_is_refused():
    from quantlib.conventions import RANGE_RULES

    assert set(RANGE_RULES) == set(ql.CALIBRATION_METHODS)
    run = toolkits.run_toolkit(make_tensor("normal", 256, 0), "tensorrt")
    with pytest.raises(ValueError, match=r"'nonsense'.*minmax"):
        toolkits.ToolkitRun(**{**run.__dict__, "calibration": "nonsense"}).range_rule
    with pytest.raises(ValueError, match=r"'nonsense'.*minmax"):
        toolkits.ToolkitRun(**{**run.__dict__, "calibration": "nonsense"}).calibrator


# ------------------------------------------------- the page reads right (issue 13, item 8)
def test_rules_show_powers_as_code_not_as_bold_text():
    at = toolkits_page()
    for mode, method, power in (("symmetric", "minmax", "`2**-23`"), ("asymmetric", "entropy", "`2**bits`")):
        at.radio(key="tk.mode").set_value(mode).run()
        at.selectbox(key="tk.calibration").set_value(method).run()
        texts = [md.value for md in at.markdown]
        assert any(power in t for t in texts), mode  # PyTorch's scale floor, the entropy search's bins
        for t in texts:
            outside = re.sub(r"`[^`]*`", "", t)
            assert not re.search(r"\d\*\*", outside), t  # a bare power would pair with the next ** into bold


def test_asymmetric_mode_says_tensorrt_is_symmetric_only():
    at = toolkits_page(**{"tk.mode": "asymmetric"})
    assert any("TensorRT is symmetric only" in i.value for i in at.info)
    table = at.dataframe[0].value.set_index("toolkit")
    assert table.loc["TensorRT", "mode"] == "symmetric only — no asymmetric mode"
    assert (table.drop("TensorRT")["mode"] == "asymmetric").all() and table.loc["TensorRT", "codes"] == "[-127, 127]"
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert any(t["name"].startswith("TensorRT (symmetric only)") for t in spec["data"])
    sym = toolkits_page()
    assert not any("symmetric only" in i.value for i in sym.info)
    assert (sym.dataframe[0].value["mode"] == "symmetric").all()


def test_coinciding_ranges_stay_visible_and_are_named():
    at = toolkits_page()  # min-max, symmetric: all four pick [min, max]
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    lines = [t for t in spec["data"] if t["type"] == "scatter"]
    assert len({(t["x"][0], t["x"][1]) for t in lines if t["showlegend"]}) == 1  # one position, four toolkits
    tops = [t["y"][1] for t in lines if t["showlegend"]]
    assert len(set(tops)) == 4 and tops == sorted(tops, reverse=True)  # each ends at its own height
    named = [t["name"] for t in lines if t["showlegend"]]
    assert named[0] == "PyTorch" and all(n.endswith("(same range as PyTorch)") for n in named[1:])
    assert any("PyTorch = ONNX Runtime = TensorRT = quantlib" in c.value for c in at.caption)
    assert spec["layout"]["yaxis"]["type"] == "log" and spec["layout"]["yaxis"]["dtick"] == 1  # decades only
    entropy = toolkits_page(**{"tk.calibration": "entropy"})  # PyTorch has no entropy calibrator: quantlib's rule
    names = [t["name"] for t in json.loads(entropy.get("plotly_chart")[0].proto.spec)["data"] if t.get("showlegend")]
    assert names == ["PyTorch", "ONNX Runtime", "TensorRT", "quantlib (same range as PyTorch)"]


def test_the_table_leaves_the_long_arithmetic_words_to_the_list():
    at = toolkits_page()
    df = at.dataframe[0]
    assert list(df.proto.column_order) == [c for c in df.value.columns if c != "quantize"]
    rules = [m.value for m in at.markdown if "— range:" in m.value]
    assert rules and all(r.count("quantize:") == 4 for r in rules)  # one line per toolkit
