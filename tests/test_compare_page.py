"""The Compare page as a person uses it (issue 13, item 16): the configurations stay open while
they are edited, the ranking is at equal bits per element with the Pareto view, small numbers
keep their significant digits, each panel has its own count axis, and labels say what they are."""

import json

import numpy as np
import pytest
from conftest import open_app
from hypothesis import given, settings
from hypothesis import strategies as st

import quantlib as ql
from quantlib.metrics import pareto_front, rank_at_cost

X = ql.synthetic("normal", 2**16, 0)
DEFAULT_LABELS = {"symmetric · bits=8 · minmax", "symmetric · bits=8 · entropy", "asymmetric · bits=4 · mse",
                  "histogram · num_bins=16"}


def compare(**query):
    return open_app("compare", query)


def add(at):
    next(b for b in at.button if b.label == "Add").click().run()


def test_the_configurations_stay_open_after_add_and_remove():
    at = compare()
    box = at.expander[0]
    assert box.label.startswith("Configurations") and not box.proto.expanded
    at.session_state["compare.configs_open"] = True  # what a click on the expander sends
    at.run()
    assert at.expander[0].proto.expanded
    add(at)
    assert len(at.dataframe[0].value) == 5 and at.expander[0].proto.expanded
    at.button(key="remove.0").click().run()
    assert len(at.dataframe[0].value) == 4 and at.expander[0].proto.expanded
    at.session_state["compare.configs_open"] = False
    at.run()
    add(at)
    assert not at.expander[0].proto.expanded  # closed stays closed too


@pytest.mark.parametrize("scheme, settings, label", [
    ("symmetric", {}, "symmetric · bits=8 · minmax"),
    ("asymmetric", {"bits": 4, "calibration": "mse", "granularity": "per_channel"},
     "asymmetric · bits=4 · mse · granularity=per_channel"),
    ("histogram", {"num_bins": 16}, "histogram · num_bins=16"),
    ("fixed_point", {"frac_bits": 6}, "fixed_point · int_bits=3 · frac_bits=6"),
    ("nf4", {}, "nf4"),
], ids=["defaults-name-bits-and-calibration", "changed-settings-follow", "histogram-bins", "fixed-point", "no-settings"])
def test_labels_name_the_bits_the_calibration_and_what_differs(scheme, settings, label):
    assert ql.Quantizer(scheme, **settings).label == label


def test_a_curve_over_bit_widths_is_not_named_by_one_of_them():
    assert ql.Quantizer("symmetric", calibration="mse").describe(omit=["bits"]) == "symmetric · mse"
    assert ql.Quantizer("histogram", num_bins=16).describe(omit=["num_bins"]) == "histogram"


def test_the_page_labels_every_configuration():
    at = compare()
    assert set(at.dataframe[0].value["configuration"]) == DEFAULT_LABELS
    assert {m.value.split("`")[1] for m in at.expander[0].markdown if m.value.count("`") == 2} == DEFAULT_LABELS


def test_ranking_is_at_equal_bits_per_element_with_the_pareto_front():
    at = compare()
    table = at.dataframe[0].value.set_index("configuration")
    m = {lab: ql.Quantizer(s, **c)(X).metrics(X) for lab, (s, c) in zip(
        ["symmetric · bits=8 · minmax", "symmetric · bits=8 · entropy", "asymmetric · bits=4 · mse",
         "histogram · num_bins=16"],
        [("symmetric", {}), ("symmetric", {"calibration": "entropy"}),
         ("asymmetric", {"bits": 4, "calibration": "mse"}), ("histogram", {"num_bins": 16})])}
    for lab, mm in m.items():
        assert table.loc[lab, "bits/element"] == mm.bits_per_element and table.loc[lab, "SQNR dB"] == mm.sqnr_db
    # the two 8-bit ones are ranked against each other, the two 4-bit ones against each other
    eight = sorted(["symmetric · bits=8 · minmax", "symmetric · bits=8 · entropy"], key=lambda k: -m[k].sqnr_db)
    four = sorted(["asymmetric · bits=4 · mse", "histogram · num_bins=16"], key=lambda k: -m[k].sqnr_db)
    assert [table.loc[k, "rank at these bits"] for k in eight + four] == [1, 2, 1, 2]
    assert list(table.index) == four + eight  # cheapest first, then by rank
    # Pareto-optimal: nothing else has at least its SQNR at no more bits (checked pair by pair here)
    for k in m:
        beaten = any(m[j].bits_per_element <= m[k].bits_per_element and m[j].sqnr_db >= m[k].sqnr_db
                     and (m[j].bits_per_element, m[j].sqnr_db) != (m[k].bits_per_element, m[k].sqnr_db) for j in m)
        assert table.loc[k, "Pareto-optimal"] == (not beaten), k
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert spec["layout"]["xaxis"]["title"]["text"] == "bits/element" and spec["layout"]["yaxis"]["title"]["text"] == "SQNR dB"
    points = {t["name"]: (t["x"][0], t["y"][0]) for t in spec["data"] if t["name"] in m}
    assert points == {k: (mm.bits_per_element, mm.sqnr_db) for k, mm in m.items()}


def test_small_numbers_keep_their_significant_digits():
    at = compare()
    cols = json.loads(at.dataframe[0].proto.columns)
    fmt = {c: cols[c]["type_config"].get("format") for c in ("MSE", "cosine", "max error")}
    table = at.dataframe[0].value
    eight = table[table["bits/element"].round() == 8]
    # with 4 decimals both 8-bit MSEs read 0.0001 and both cosines 1: the formats tell them apart
    for col in ("MSE", "cosine"):
        shown = {fmt[col] % v for v in eight[col]}
        assert len(shown) == 2 and shown != {"1"}, (col, shown)
        assert {f"{v:.4f}" for v in eight[col]} <= {"0.0001", "1.0000", "0.9999"}  # what 4 decimals showed


def test_each_panel_has_its_own_count_axis_unless_asked_and_a_log_toggle():
    cfg = json.dumps([["symmetric", {"bits": 3}], ["symmetric", {}], ["histogram", {"num_bins": 64}]])
    at = compare(configs=cfg)

    def axes(at):
        lay = json.loads(at.get("plotly_chart")[1].proto.spec)["layout"]
        return {k: v for k, v in lay.items() if k.startswith("yaxis")}

    own = axes(at)
    assert len(own) == 4 and not any("matches" in a for a in own.values())  # 3 panels in a 2 × 2 grid
    at.toggle(key="compare.shared_y").set_value(True).run()
    shared = axes(at)
    matched = [a["matches"] for a in shared.values() if "matches" in a]
    assert len(matched) == 3 and len(set(matched)) == 1  # all follow one axis
    at.toggle(key="compare.log_y").set_value(True).run()
    assert all(a.get("type") == "log" for a in axes(at).values())


# ------------------------------------------------------------- the ranking helpers
def test_pareto_front_and_rank_at_cost_on_a_small_table():
    bits = [8.0005, 8.001, 4.0005, 4.001, 5.0, 4.0005, np.nan]
    sqnr = [40.0, 39.0, 19.0, 25.0, 20.0, 19.0, 99.0]
    assert pareto_front(bits, sqnr).tolist() == [True, False, True, True, False, True, False]
    assert rank_at_cost(bits, sqnr).tolist() == [1, 2, 2, 1, 1, 2, 1]
    with pytest.raises(ValueError, match="same length"):
        pareto_front([1, 2], [1])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(2, 9), st.integers(0, 60)), min_size=1, max_size=12))
def test_every_point_off_the_front_is_beaten_by_one_on_it(points):
    c, q = np.array(points, dtype=float).T
    on = pareto_front(c, q)
    for i in range(c.size):
        beaten = (c <= c[i]) & (q >= q[i]) & ((c < c[i]) | (q > q[i]))
        assert on[i] == (not beaten.any())
        if not on[i]:
            assert (beaten & on).any()
    r = rank_at_cost(c, q)
    for i in range(c.size):
        assert r[i] == 1 + np.count_nonzero((np.round(c, 2) == np.round(c[i], 2)) & (q > q[i]))


def _spec(at, ending: str) -> dict:
    return next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
                if json.loads(c.proto.spec)["layout"]["title"]["text"].endswith(ending))


def test_pareto_front_and_axis_at_the_tables_precision_of_cost():
    """Per-tensor symmetric (4 + 32/N bits) and asymmetric (4 + 64/N) are one cost in the ranks; the front
    said otherwise, and the chart zoomed to 4.0000–4.0010 so that the overhead filled its width."""
    configs = [["symmetric", {"bits": 4}], ["asymmetric", {"bits": 4}], ["symmetric", {"bits": 4, "calibration": "mse"}]]
    at = compare(configs=json.dumps(configs))
    table = at.dataframe[0].value
    best = table["SQNR dB"].max()
    assert list(table["Pareto-optimal"]) == list(table["SQNR dB"] == best)  # one cost: only the best is on the front
    assert (table["rank at these bits"] == 1).tolist() == (table["SQNR dB"] == best).tolist()
    pareto = _spec(at, "(filled: Pareto-optimal)")
    lo, hi = pareto["layout"]["xaxis"]["range"]
    assert hi - lo >= 1.0


def test_configurations_on_one_point_share_one_ring():
    configs = [["symmetric", {"bits": 4}], ["symmetric", {"bits": 4, "calibration": "percentile"}], ["nf4", {}],
               ["nf4", {"block_size": 64}]]  # the two nf4 are one configuration: one point
    at = compare(configs=json.dumps(configs))
    spec = _spec(at, "vs bits per element")
    rings = [t for t in spec["data"] if t["name"].startswith("current")]
    at_points = [(t["x"][0], t["y"][0]) for t in rings]
    assert len(at_points) == len(set(at_points))


def test_the_add_form_shows_only_settings_that_act():
    """Percentile only under percentile calibration, group size only per group, no axis on a vector
    (the form showed them all, against Explore's rule)."""
    at = compare()
    keys = {w.key for w in at.main if getattr(w, "key", None) and str(w.key).startswith("add.")}
    assert "add.symmetric.bits" in keys
    assert not {"add.symmetric.percentile", "add.symmetric.group_size", "add.symmetric.axis"} & keys, keys
    at.selectbox(key="add.symmetric.calibration").set_value("percentile").run()
    keys = {w.key for w in at.main if getattr(w, "key", None) and str(w.key).startswith("add.")}
    assert "add.symmetric.percentile" in keys
