"""What works on any registered model: sensitivity scans, metric-vs-bits sweeps, the bit planner.

Bits per weight always count the scales (and zero-points, group metadata) a scheme stores:
they are the ``bits_per_element`` of the scheme's own :class:`~quantlib.QuantResult`. A plan's
average is weighted by each layer's number of weights.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np

from .._checks import shown
from .._lazy import pandas as pd
from ..schemes import SCHEMES, Quantizer
from ._base import Config, QuantModel, Score, as_quantizer, check_layers, quantize_weight

Progress = Callable[[float, str], None]


def _quiet(fraction: float, text: str) -> None:
    return None


def _quantized(model: QuantModel, q: Quantizer, name: str) -> tuple[np.ndarray, float]:
    w = model.weights[name]
    try:
        r = q(w)
    except ValueError as exc:
        raise ValueError(f"weights scheme {q.label} cannot quantize layer {name!r} {w.shape}: {exc}") from None
    return r.dequantized, float(r.bits_per_element)


def bits_per_weight(model: QuantModel, config: Config, layer: str) -> float:
    """Bits per weight of ``layer`` under ``config``, scales and zero-points included (the
    scheme's own ``bits_per_element`` of that weight)."""
    q = as_quantizer(config, "config")
    (name,) = check_layers(model, [layer])
    return _quantized(model, q, name)[1]


def layer_sensitivity(model: QuantModel, config: Config | None = None, activations: Config | None = None, *,
                      layers: Iterable[str] | None = None, progress: Progress | None = None) -> pd.DataFrame:
    """Quantize one linear layer at a time, the others float: one row per layer (forward order).

    ``config`` quantizes that layer's weights, ``activations`` its input (either may be None,
    not both). Columns: ``layer``, ``index`` and ``kind`` (its place on a heatmap, see
    ``model.layer_position``), ``params``, ``configuration``, ``bits_per_weight`` (scales
    included; 32 for float weights), every value of the model's :class:`Score`, and ``drop``:
    the float model's objective minus this one (``model.objective``; 0 = no damage).
    ``layers`` restricts the scan to some layers (None: all).
    """
    q, aq = as_quantizer(config, "config"), as_quantizer(activations, "activations")
    if q is None and aq is None:
        raise ValueError("layer_sensitivity needs a weights configuration, an activations configuration or both")
    chosen = check_layers(model, layers)
    progress = progress or _quiet
    base = model.evaluate().objective_value
    rows = []
    for i, name in enumerate(chosen):
        progress(i / len(chosen), f"{name} ({i + 1}/{len(chosen)})")
        if q is not None:
            deq, bpw = _quantized(model, q, name)
            weights: Mapping[str, np.ndarray] | None = {name: deq}
        else:
            weights, bpw = None, 32.0
        s = model.evaluate(weights, aq, layers=[name])
        idx, kind = model.layer_position(name)
        rows.append({"layer": name, "index": idx, "kind": kind, "params": int(model.weights[name].size),
                     "configuration": q.label if q is not None else "float", "bits_per_weight": bpw,
                     **dict(s), "drop": base - s.objective_value})
    progress(1.0, "done")
    return pd.DataFrame(rows)


def metric_vs_bits(model: QuantModel, configs: Sequence[tuple[str, Mapping[str, Any]]],
                   bit_widths: Iterable[int] = range(2, 9), *, target: str = "weights",
                   progress: Progress | None = None) -> pd.DataFrame:
    """The model's score at each bit width for each (scheme, settings); ``target`` is
    ``"weights"``, ``"activations"`` or ``"both"``. One row per (configuration, bits) with every
    score value; a scheme of fixed width (no bits setting) gives one row at its own width."""
    if target not in ("weights", "activations", "both"):
        raise ValueError(f"target must be 'weights', 'activations' or 'both', got {target!r}")
    bit_widths = list(bit_widths)
    progress = progress or _quiet
    rows, jobs = [], []
    for scheme, settings in configs:
        spec = SCHEMES[Quantizer(scheme).name]
        base = spec.validate(settings)
        if spec.at_bits(8, base) and spec.code_bits(base) is not None:
            jobs += [(scheme, settings, Quantizer(scheme, **{**settings, **spec.at_bits(b, base)}), b) for b in bit_widths]
        else:
            jobs.append((scheme, settings, Quantizer(scheme, **settings), spec.code_bits(base)))
    for i, (scheme, settings, q, b) in enumerate(jobs):
        progress(i / max(len(jobs), 1), f"{q.label}")
        r = model.evaluate(weights=q if target in ("weights", "both") else None,
                           activations=q if target in ("activations", "both") else None)
        swept = SCHEMES[Quantizer(scheme).name].at_bits(8, SCHEMES[Quantizer(scheme).name].validate(settings))
        # the settings each bit width sets are not in the curve's name (symmetric · minmax, not … bits=8 …)
        rows.append({"configuration": Quantizer(scheme, **settings).describe(omit=swept), "bits": b, **dict(r)})
    progress(1.0, "done")
    return pd.DataFrame(rows)


#: The digits page's original name for :func:`metric_vs_bits`.
accuracy_vs_bits = metric_vs_bits


@dataclass(frozen=True, eq=False)
class BitPlan:
    """A per-layer choice of weight configuration under a bits-per-weight budget.

    ``plan``: layer -> :class:`Quantizer`; ``bits``: layer -> its bits per weight (scales
    included); ``average_bits``: their mean weighted by layer size (<= ``budget``); ``score``:
    the plan measured on the model (with ``activations`` quantized everywhere, if given);
    ``uniform``: one row per candidate used on every layer (average bits, whether it fits the
    budget, its measured score); ``sensitivity``: the per-layer, per-candidate scan the search used;
    ``search``: how the plan was chosen.
    """

    plan: dict[str, Quantizer]
    bits: dict[str, float]
    average_bits: float
    budget: float
    score: Score
    uniform: pd.DataFrame
    sensitivity: pd.DataFrame
    search: str

    def table(self, model: QuantModel) -> pd.DataFrame:
        """One row per layer: layer, index, kind, params, configuration, bits_per_weight."""
        rows = []
        for name, q in self.plan.items():
            idx, kind = model.layer_position(name)
            rows.append({"layer": name, "index": idx, "kind": kind, "params": int(model.weights[name].size),
                         "configuration": q.label, "bits_per_weight": self.bits[name]})
        return pd.DataFrame(rows)


def measure_candidates(model: QuantModel, candidates: Sequence[Config], activations: Config | None = None, *,
                       layers: Iterable[str] | None = None, baseline: float | None = None,
                       progress: Progress | None = None) -> pd.DataFrame:
    """:func:`layer_sensitivity` of every candidate (weights), stacked, with a ``candidate`` column
    (its position in ``candidates``). With ``activations`` they are quantized at every layer in
    every measurement, and the drop is measured against the model with only those activations
    quantized (``baseline``: that objective value if already known, e.g. when measuring one layer
    at a time). ``layers``: only these (None: all; :func:`allocate_bits` needs all)."""
    qs = _candidates(candidates)
    chosen = check_layers(model, layers)
    progress = progress or _quiet
    aq = as_quantizer(activations, "activations")
    base = (baseline if baseline is not None else model.evaluate(None, aq).objective_value) if aq is not None else None
    frames = []
    for c, q in enumerate(qs):
        def step(f: float, text: str, c: int = c) -> None:
            progress((c + f) / len(qs), f"{q.label}: {text}")

        df = _sensitivity_with_activations(model, q, aq, base, chosen, step) if aq is not None else \
            layer_sensitivity(model, q, layers=chosen, progress=step)
        df.insert(0, "candidate", c)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def _sensitivity_with_activations(model: QuantModel, q: Quantizer, aq: Quantizer, base: float,
                                  layers: Sequence[str], progress: Progress) -> pd.DataFrame:
    rows = []
    for i, name in enumerate(layers):
        progress(i / len(layers), name)
        deq, bpw = _quantized(model, q, name)
        s = model.evaluate({name: deq}, aq)
        idx, kind = model.layer_position(name)
        rows.append({"layer": name, "index": idx, "kind": kind, "params": int(model.weights[name].size),
                     "configuration": q.label, "bits_per_weight": bpw, **dict(s), "drop": base - s.objective_value})
    return pd.DataFrame(rows)


def _candidates(candidates: Sequence[Config]) -> list[Quantizer]:
    if isinstance(candidates, (str, Quantizer)) or not isinstance(candidates, Sequence) or not candidates:
        raise ValueError(f"candidates must be a non-empty list of configurations, got {shown(candidates)}")
    return [as_quantizer(c, f"candidates[{i}]") for i, c in enumerate(candidates)]


def check_budget(model: QuantModel, budget: float, candidates: Sequence[Config]) -> np.ndarray:
    """The bits per weight of every (candidate, layer), after checking that ``budget`` admits at
    least the plan with every layer at its cheapest candidate (a ``ValueError`` saying how many
    bits that plan needs otherwise). Cheap: it quantizes each weight once per candidate and
    measures nothing."""
    if isinstance(budget, bool) or not isinstance(budget, Real) or not np.isfinite(budget):
        raise TypeError(f"budget must be a finite number of bits per weight, got {shown(budget)}")
    qs = _candidates(candidates)
    layers = list(model.linear_layers)
    sizes = np.array([model.weights[n].size for n in layers], dtype=np.float64)
    bits = np.array([[bits_per_weight(model, q, n) for n in layers] for q in qs])
    cheapest = float((bits.min(axis=0) * sizes).sum() / sizes.sum())
    if cheapest > budget + 1e-12:
        raise ValueError(f"budget {budget:g} bits per weight is below the cheapest plan of these candidates "
                         f"({cheapest:.4f} bits per weight, every layer at its cheapest candidate)")
    return bits


def allocate_bits(model: QuantModel, budget: float, candidates: Sequence[Config], *,
                  activations: Config | None = None, measured: pd.DataFrame | None = None,
                  progress: Progress | None = None) -> BitPlan:
    """A per-layer weight configuration whose average bits per weight is <= ``budget``.

    Search (greedy over measured sensitivities): 1. measure, for every layer and candidate,
    the drop of the model's objective when only that layer is quantized (``measured``: a
    :func:`measure_candidates` table of the same candidates, to reuse one); 2. start every
    layer at its cheapest candidate — if that average already exceeds ``budget`` the budget is
    refused; 3. repeatedly make the one upgrade (a layer to a costlier candidate with a smaller
    drop) with the largest drop reduction per added bit, ``(drop_old - drop_new) /
    ((bits_new - bits_old) * size)``, that still fits the budget, until none fits; 4. measure the
    plan with every layer quantized together. Drops are assumed additive across layers, which
    they are not exactly, so the plan is finally compared with every uniform candidate that fits
    the budget and the one with the higher measured objective is returned (``search`` says which).
    """
    if isinstance(budget, bool) or not isinstance(budget, Real) or not np.isfinite(budget):
        raise TypeError(f"budget must be a finite number of bits per weight, got {shown(budget)}")
    qs = _candidates(candidates)
    aq = as_quantizer(activations, "activations")
    layers = list(model.linear_layers)
    sizes = np.array([model.weights[n].size for n in layers], dtype=np.float64)
    total = sizes.sum()
    if measured is None:
        bits = check_budget(model, budget, qs)
    else:
        if set(measured["layer"]) != set(layers) or measured["candidate"].nunique() != len(qs) or \
                list(measured.drop_duplicates("candidate")["configuration"]) != [q.label for q in qs]:
            raise ValueError("measured does not match these candidates and this model's layers; "
                             "pass measure_candidates(model, candidates)")
        table = measured.set_index(["candidate", "layer"])
        bits = np.array([[table.loc[(c, n), "bits_per_weight"] for n in layers] for c in range(len(qs))])
    cols = np.arange(len(layers))
    current = bits.argmin(axis=0)  # (layers,) candidate per layer
    cheapest = float((bits[current, cols] * sizes).sum()) / total
    if cheapest > budget + 1e-12:
        raise ValueError(f"budget {budget:g} bits per weight is below the cheapest plan of these candidates "
                         f"({cheapest:.4f} bits per weight, every layer at its cheapest candidate)")
    if measured is None:
        measured = measure_candidates(model, qs, aq, progress=progress)
        table = measured.set_index(["candidate", "layer"])
    drop = np.array([[table.loc[(c, n), "drop"] for n in layers] for c in range(len(qs))])
    uniform_bits = (bits * sizes).sum(axis=1) / total
    spent = float((bits[current, cols] * sizes).sum())
    while True:
        extra = (bits - bits[current, cols]) * sizes  # (candidates, layers) bits added by each upgrade
        gain = drop[current, cols] - drop
        ok = (extra > 0) & (gain > 0) & (spent + extra <= budget * total + 1e-9)
        if not ok.any():
            break
        ratio = np.where(ok, gain / np.where(extra > 0, extra, 1.0), -np.inf)
        c, layer = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
        spent += float(extra[c, layer])
        current[layer] = c
    plan = {n: qs[int(current[j])] for j, n in enumerate(layers)}
    score = _measure_plan(model, plan, aq)
    rows, search = [], "greedy"
    best = score
    for c, q in enumerate(qs):
        fits = bool(uniform_bits[c] <= budget + 1e-12)
        s = model.evaluate(q, aq) if fits else None
        rows.append({"configuration": q.label, "average_bits": float(uniform_bits[c]), "fits_budget": fits,
                     **({k: v for k, v in s.items()} if s is not None else {})})
        if s is not None and s.objective_value > best.objective_value:
            best, search = s, f"uniform {q.label} (it measured better than the greedy plan)"
            plan = {n: q for n in layers}
            current = np.full(len(layers), c)
    per_layer = {n: float(bits[current[j], j]) for j, n in enumerate(layers)}
    average = float((bits[current, cols] * sizes).sum() / total)
    return BitPlan(plan, per_layer, average, float(budget), best, pd.DataFrame(rows), measured, search)


def uniform_at_budget(model: QuantModel, budget: float, config: Config,
                      activations: Config | None = None) -> tuple[Quantizer, float, Score] | None:
    """The widest uniform version of ``config`` that fits ``budget``: the same scheme and settings
    at the largest bit width (2 ... 16) whose average bits per weight, scales included, is <=
    ``budget``; with its average and its measured score. None when ``config``'s scheme has no bit
    width to vary or not even 2 bits fit. A plan is judged against this: same budget, one width."""
    q = as_quantizer(config, "config")
    spec = q.spec
    if not spec.at_bits(8, q.settings) or spec.code_bits(q.settings) is None:
        return None
    sizes = np.array([model.weights[n].size for n in model.linear_layers], dtype=np.float64)
    for b in range(min(16, int(np.floor(budget))), 1, -1):  # b bits per code cost at least b bits per weight
        cand = Quantizer(q.name, **{**q.settings, **spec.at_bits(b, q.settings)})
        bits = np.array([bits_per_weight(model, cand, n) for n in model.linear_layers])
        avg = float((bits * sizes).sum() / sizes.sum())
        if avg <= budget + 1e-12:
            return cand, avg, model.evaluate(cand, activations)
    return None


def _measure_plan(model: QuantModel, plan: Mapping[str, Quantizer], aq: Quantizer | None) -> Score:
    weights = {n: quantize_weight(q, model.weights[n], n) for n, q in plan.items()}
    return model.evaluate(weights, aq)
