"""``hadamard``: an orthonormal Hadamard rotation of the input dimension before rounding
(QuaRot, Ashkboos et al. 2024; QuIP#, Tseng et al. 2024).

With ``R = D H / √n`` (``H`` an ``n × n`` Hadamard matrix, entries ±1 with ``HᵀH = n I``; ``D`` a
diagonal of seeded random signs when ``randomize``, else ``I``) the layer is unchanged in exact
arithmetic, ``x Wᵀ = (x R)(W R)ᵀ``, but an outlier channel of ``x`` or a large weight is spread over
all ``n`` channels, so ``max / std`` of both sides drops and rounding loses less. The weight
scheme quantizes ``W' = W R``; the activation scheme (if any) quantizes ``x' = x R`` per call.

Construction of ``H`` for ``n`` input channels (named in ``details["construction"]``):

- ``n = 2^k``: Sylvester's ``H_{2m} = [[H_m, H_m], [H_m, -H_m]]`` (the Walsh–Hadamard matrix).
- ``n = K · 2^k`` with ``K`` a Paley order (12, 20, 24, 28, 36, 44, …: ``q + 1`` for a prime
  ``q ≡ 3 (mod 4)``, Paley I; ``2(q + 1)`` for a prime ``q ≡ 1 (mod 4)``, Paley II): the Kronecker
  product ``H_K ⊗ H_{2^k}``, as QuaRot's ``get_hadK`` does with its stored matrices of order 12, 20,
  28, 36, 40, … (MiniLM: 384 = 12 · 32, 1536 = 12 · 128). The smallest such ``K`` is used; every
  Paley matrix is checked to satisfy ``HᵀH = K I`` exactly when built.
- otherwise: a block-diagonal rotation over the power-of-two blocks of ``n``'s binary expansion
  (e.g. 100 = 64 + 32 + 4), each block a Sylvester matrix; a block of 1 is left as it is. It mixes
  only channels within a block, so it spreads outliers less.

Applying ``R``: a dense float32 matmul ``x @ R``. A vectorised fast Walsh–Hadamard transform
(:func:`fwht`, O(n log n)) is provided and tested, but measured slower than the BLAS matmul at
these sizes (4,096 × 384: see the README's benchmark rows), so the forward uses the matmul.
The rotation adds no stored bits: it is regenerated from ``n``, ``randomize`` and ``seed``.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ..schemes import Quantizer, Setting
from ._base import LinearMethod, LinearResult, label, register_method, round_weight, transformed_result

#: Largest prime tried for a Paley construction (orders up to 2 · 254 = 508 non-power-of-two factors).
_PALEY_PRIME_LIMIT = 254


def _primes(limit: int) -> np.ndarray:
    sieve = np.ones(limit + 1, dtype=bool)
    sieve[:2] = False
    for p in range(2, int(limit ** 0.5) + 1):
        if sieve[p]:
            sieve[p * p::p] = False
    return np.flatnonzero(sieve)


def _jacobsthal(q: int) -> np.ndarray:
    """``Q[i, j] = χ(j − i)``: the quadratic character mod the prime ``q`` (0 on the diagonal)."""
    chi = -np.ones(q, dtype=np.int64)
    chi[(np.arange(1, q) ** 2) % q] = 1
    chi[0] = 0
    i = np.arange(q)
    return chi[(i[None, :] - i[:, None]) % q]


def paley(q: int) -> np.ndarray:
    """The Paley Hadamard matrix from the odd prime ``q``: order ``q + 1`` (Paley I, ``q ≡ 3 mod 4``)
    or ``2(q + 1)`` (Paley II, ``q ≡ 1 mod 4``), int64 entries ±1, checked ``HᵀH = n I``."""
    Q = _jacobsthal(q)
    ones = np.ones(q, dtype=np.int64)
    if q % 4 == 3:  # Paley I: H = I + S, S = [[0, 1ᵀ], [−1, Q]] (skew)
        S = np.block([[np.zeros((1, 1), np.int64), ones[None, :]], [-ones[:, None], Q]])
        H = np.eye(q + 1, dtype=np.int64) + S
    else:  # Paley II: C = [[0, 1ᵀ], [1, Q]] (symmetric); H = C ⊗ [[1, −1], [−1, −1]] + I ⊗ [[1, 1], [1, −1]]
        C = np.block([[np.zeros((1, 1), np.int64), ones[None, :]], [ones[:, None], Q]])
        H = np.kron(C, np.array([[1, -1], [-1, -1]])) + np.kron(np.eye(q + 1, dtype=np.int64),
                                                                  np.array([[1, 1], [1, -1]]))
    n = H.shape[0]
    if not np.array_equal(H.T @ H, n * np.eye(n, dtype=np.int64)):  # pragma: no cover - a construction bug
        raise AssertionError(f"Paley construction from q={q} is not a Hadamard matrix")
    return H


@functools.cache
def _paley_orders() -> dict[int, int]:
    """Non-power-of-two Paley order -> the prime that builds it (the first prime found for an order)."""
    out: dict[int, int] = {}
    for q in _primes(_PALEY_PRIME_LIMIT)[1:]:  # odd primes
        n = int(q) + 1 if q % 4 == 3 else 2 * (int(q) + 1)
        if n & (n - 1) and n not in out:
            out[n] = int(q)
    return dict(sorted(out.items()))


def sylvester(n: int) -> np.ndarray:
    """Sylvester's (Walsh–Hadamard, natural order) ±1 matrix of order ``n = 2^k``."""
    if n < 1 or n & (n - 1):
        raise ValueError(f"Sylvester's construction needs a power of two, got n={n}")
    H = np.ones((1, 1), dtype=np.int64)
    while H.shape[0] < n:
        H = np.block([[H, H], [H, -H]])
    return H


def fwht(a: np.ndarray) -> np.ndarray:
    """``a @ sylvester(n)`` along the last axis (length ``n = 2^k``) by the fast Walsh–Hadamard
    transform: ``k`` vectorised butterfly stages, O(n log n) per row, unnormalised."""
    n = a.shape[-1]
    if n < 1 or n & (n - 1):
        raise ValueError(f"the fast Walsh–Hadamard transform needs a power-of-two length, got {n}")
    lead = a.shape[:-1]
    y = np.array(a, dtype=np.result_type(a, np.float32)).reshape(-1, n)
    h = 1
    while h < n:
        y = y.reshape(y.shape[0], n // (2 * h), 2, h)
        y = np.stack((y[:, :, 0] + y[:, :, 1], y[:, :, 0] - y[:, :, 1]), axis=2)
        h *= 2
    return y.reshape(*lead, n)


def hadamard_matrix(n: int) -> tuple[np.ndarray, str]:
    """``(H, construction)``: an ``n × n`` ±1 matrix with ``HᵀH = n I`` when a Hadamard matrix
    of order ``n`` is built (power of two, or a Paley order times a power of two), else the
    block-diagonal matrix of Sylvester blocks (each block orthogonal, ``HᵀH`` diagonal with the
    block sizes). See the module docstring."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"a Hadamard rotation needs a positive integer dimension, got {n!r}")
    n = int(n)
    if not n & (n - 1):
        return sylvester(n), f"Sylvester (Walsh–Hadamard) of order {n}"
    for k, q in _paley_orders().items():
        if k > n:
            break
        if n % k == 0 and not (n // k) & (n // k - 1):
            kind = "I" if q % 4 == 3 else "II"
            return (np.kron(paley(q), sylvester(n // k)),
                    f"Kronecker product of a Paley {kind} matrix of order {k} (q = {q}) "
                    f"and Sylvester of order {n // k}")
    sizes = [1 << b for b in range(n.bit_length() - 1, -1, -1) if n >> b & 1]
    H = np.zeros((n, n), dtype=np.int64)
    start = 0
    for m in sizes:
        H[start:start + m, start:start + m] = sylvester(m)
        start += m
    return H, ("block-diagonal over power-of-two blocks " + " + ".join(map(str, sizes))
               + f" (no Hadamard matrix of order {n} is built here)")


def rotation(n: int, randomize: bool = False, seed: int = 0) -> tuple[np.ndarray, str]:
    """``(R, construction)``: the orthonormal float64 ``R = D H S^{-1/2}`` (``S`` = the column
    norms², ``n`` for a true Hadamard matrix, the block size for the block-diagonal fallback;
    ``D`` = seeded random signs when ``randomize``)."""
    H, construction = hadamard_matrix(n)
    R = H / np.sqrt((H * H).sum(axis=0))[None, :]
    if randomize:
        d = np.random.default_rng(seed).integers(0, 2, n) * 2 - 1
        R = d[:, None] * R
        construction += f", with random signs (seed {seed})"
    return R, construction


def _stats(a: np.ndarray) -> dict[str, float]:
    std = float(np.std(a, dtype=np.float64))
    amax = float(np.abs(a).max()) if a.size else 0.0
    return {"max": amax, "std": std, "max_over_std": amax / std if std > 0 else float("inf")}


def _fit(w: np.ndarray, x: np.ndarray | None, s: dict[str, Any], wq: Quantizer | None,
         aq: Quantizer | None) -> LinearResult:
    R64, construction = rotation(w.shape[1], s["randomize"], s["seed"])
    R = R64.astype(np.float32)
    wr = (w.astype(np.float64) @ R64).astype(np.float32)
    deq, bits, r = round_weight(wq, wr)
    details: dict[str, Any] = {
        "construction": construction, "apply": "dense float32 matmul x @ R",
        "rotation": R, "rotated_weight": wr,
        "weight_before": _stats(w), "weight_after": _stats(wr),
        "weights": label(wq), "activations": None if aq is None else aq.label,
    }
    if x is not None:
        details["activations_before"] = _stats(x)
        details["activations_after"] = _stats(x @ R)
    for v in details.values():
        if isinstance(v, np.ndarray):
            v.setflags(write=False)
    return transformed_result("hadamard", {**s, "weights": label(wq)}, w, deq, bits, aq, rotation=R,
                              details=details, weight_result=r)


HADAMARD = register_method(LinearMethod(
    name="hadamard",
    title="Hadamard rotation",
    description="Rotate the input dimension of weight and inputs by an orthonormal Hadamard matrix (optionally "
                "with random signs) before rounding: outlier channels are spread over all channels, so both sides "
                "round with less error while the float layer is unchanged.",
    formula=r"R = \tfrac{1}{\sqrt n} D H,\ H^\top H = nI;\quad y = Q_a(xR)\,Q(WR)^\top",
    source="QuaRot (Ashkboos et al. 2024, hadamard_utils.get_hadK: Kronecker with a known order-K matrix); "
           "QuIP# (Tseng et al. 2024, randomized Hadamard); Paley (1933) constructions built and checked in code.",
    settings=(
        Setting("randomize", bool, False, "Multiply by a seeded random ±1 diagonal first (QuIP#/QuaRot's "
                "randomized Hadamard)."),
        Setting("seed", int, 0, "Seed of the random signs (with randomize).", min=0,
                when=lambda st, nd: bool(st.get("randomize"))),
    ),
    fit=_fit,
    needs_inputs=False,
    default_weights=("symmetric", {"bits": 4, "granularity": "per_channel", "axis": 0}),
))
