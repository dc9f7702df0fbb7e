"""all-MiniLM-L6-v2 in numpy: a 6-layer BERT sentence encoder, tokenized by ``tokenizers``.

The files in ``sample_data/minilm_l6/`` are the published model, byte for byte (see
sample_data/README.md): ``model.safetensors`` (float32), ``tokenizer.json``, ``config.json``.
The forward pass is what sentence-transformers runs for this model::

    h0   = LayerNorm(word[ids] + position[0..T-1] + token_type[0])
    per encoder layer (12 heads of 32):
      q, k, v = h Wq^T + bq, h Wk^T + bk, h Wv^T + bv
      a    = softmax(q k^T / sqrt(32), keys of padding masked out) v      (per head)
      h    = LayerNorm(h + a Wo^T + bo)
      h    = LayerNorm(h + GELU(h Wup^T + bup) Wdown^T + bdown)           (GELU with the exact erf)
    e    = mean of h over the real tokens of each sentence;  e / max(||e||, 1e-12)

All arithmetic is float32 (numpy's BLAS matmuls), as in the PyTorch model. Only the real
tokens of a batch travel through the linear layers (as one ``(tokens, features)`` matrix);
padding exists only inside attention, where the batch is a padded ``(sentences, heads, T, T)``
array with the padded keys masked. Quantized activations are therefore quantized on the real
tokens of the batch only ("dynamic, per batch": a batch is up to ``batch_size`` sentences in the
order given), so padding never moves a dynamic range.

Evaluation (:meth:`MiniLM.evaluate`) embeds the shipped paraphrase set — pairs of sentences that
say the same thing, written for this project — and reports paraphrase retrieval top-1
accuracy (is each sentence's nearest neighbour, by cosine, among the other sentences its
paraphrase), the mean and minimum cosine between each float and quantized embedding, and the
share of sentences whose nearest neighbour is unchanged from the float model (agreement).
Float embeddings and the float hidden states at each encoder layer's input are computed once;
a configuration that changes only layers from encoder layer ``l`` on restarts from layer ``l``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._checks import shown
from ..data import SAMPLE_DIR
from ..loaders import load_tensors
from ._base import Config, Linear, Score, activation_quantizer, call_linear, check_layers, check_linears, resolve_weights

MINILM_DIR = SAMPLE_DIR / "minilm_l6"
EVAL_FILE = "paraphrase_pairs.tsv"
CALIBRATION_FILE = "calibration.txt"
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model

#: The six linear layers of an encoder layer, in forward order: (checkpoint name part, short kind).
PROJECTIONS: tuple[tuple[str, str], ...] = (
    ("attention.self.query", "q"),
    ("attention.self.key", "k"),
    ("attention.self.value", "v"),
    ("attention.output.dense", "o"),
    ("intermediate.dense", "ffn-up"),
    ("output.dense", "ffn-down"),
)
KINDS: tuple[str, ...] = tuple(kind for _, kind in PROJECTIONS)


@dataclass(frozen=True)
class _Batch:
    """Token ids ``(B, T)`` padded with 0, the real-token mask, and where the real tokens sit
    in the flattened ``(B * T)`` grid (sentence by sentence, so each sentence's tokens are one run)."""

    ids: np.ndarray
    mask: np.ndarray
    index: np.ndarray
    lengths: np.ndarray


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    c = x - mean
    var = np.mean(c * c, axis=-1, keepdims=True)
    return (c / np.sqrt(var + np.float32(eps))) * w + b


def _check_texts(texts: object) -> list[str]:
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise TypeError(f"texts must be a list of strings, got {shown(texts)}")
    out = list(texts)
    if not out:
        raise ValueError("texts is empty; pass at least one sentence")
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise TypeError(f"texts[{i}] must be a string, got {shown(t)}")
        if not t.strip():
            raise ValueError(f"texts[{i}] is blank; every text needs at least one word")
    return out


class MiniLM:
    """all-MiniLM-L6-v2: ``linear_layers`` are its 36 projection weights by checkpoint name
    (``encoder.layer.{0..5}.{attention.self.query|key|value, attention.output.dense,
    intermediate.dense, output.dense}.weight``); ``weights`` maps them to float32 ``(out, in)``.

    The embedding tables, LayerNorms and biases stay float (they are not linear layers).
    Task metric: paraphrase retrieval top-1; objective of sensitivity scans and the bit
    planner: ``mean_cosine`` (the retrieval accuracy moves in steps of 1/n and hides small
    damage; the cosine to the float embedding does not).
    """

    name = "minilm_l6"
    objective = "mean_cosine"

    def __init__(self, directory: str | Path = MINILM_DIR, *, pairs: int | None = None, batch_size: int = 256) -> None:
        """Read the model in ``directory``. ``pairs``: evaluate on the first ``pairs`` paraphrase
        pairs only (None: all; a quick scan), ``batch_size``: sentences per batch."""
        directory = Path(directory)
        self.directory = directory
        self.batch_size = int(batch_size)
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        if config.get("hidden_act") != "gelu" or config.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"{directory / 'config.json'}: not a BERT encoder with exact GELU and absolute positions")
        self.hidden = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.blocks = int(config["num_hidden_layers"])
        self.eps = float(config["layer_norm_eps"])
        params = load_tensors(directory / "model.safetensors")  # safe reader; float32 as published
        for a in params.values():
            a.setflags(write=False)
        self.params = params
        self.linear_layers: tuple[str, ...] = tuple(
            f"encoder.layer.{i}.{part}.weight" for i in range(self.blocks) for part, _ in PROJECTIONS)
        missing = [n for n in self.linear_layers if n not in params]
        if missing:
            raise ValueError(f"{directory / 'model.safetensors'}: missing {missing[:3]}")
        self.weights: dict[str, np.ndarray] = {n: params[n] for n in self.linear_layers}
        self._tokenizer_path = directory / "tokenizer.json"
        all_pairs = self._read_pairs(directory / EVAL_FILE)
        if pairs is not None and not (isinstance(pairs, int) and 2 <= pairs <= len(all_pairs)):
            raise ValueError(f"pairs must be an integer in [2, {len(all_pairs)}] or None, got {shown(pairs)}")
        pairs = all_pairs[:pairs] if pairs is not None else all_pairs
        self.eval_pairs: tuple[tuple[str, str], ...] = pairs
        self.eval_sentences: tuple[str, ...] = tuple(s for p in pairs for s in p)
        paragraphs = (directory / CALIBRATION_FILE).read_text(encoding="utf-8").split("\n\n")
        self.calibration_texts: tuple[str, ...] = tuple(" ".join(p.split()) for p in paragraphs if p.strip())
        self._calibration_cache: dict[str, np.ndarray] = {}

    # ------------------------------------------------------------------ data
    @staticmethod
    def _read_pairs(path: Path) -> tuple[tuple[str, str], ...]:
        pairs = []
        for no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) != 2 or not all(p.strip() for p in parts):
                raise ValueError(f"{path.name} line {no}: expected two tab-separated sentences")
            pairs.append((parts[0].strip(), parts[1].strip()))
        return tuple(pairs)

    @functools.cached_property
    def tokenizer(self) -> Any:
        """The model's own ``tokenizers.Tokenizer`` (tokenizer.json), without padding, truncating
        at 256 tokens as sentence-transformers does for this model."""
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(self._tokenizer_path))
        tok.no_padding()
        tok.enable_truncation(max_length=MAX_TOKENS)
        return tok

    def tokenize(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Token ids ``(n, T)`` (int64, padded with 0 = [PAD]) and the attention mask (int64)."""
        b = self._batch(_check_texts(texts))
        return b.ids, b.mask.astype(np.int64)

    def _batch(self, texts: list[str]) -> _Batch:
        encs = self.tokenizer.encode_batch(texts)
        lengths = np.array([len(e.ids) for e in encs], dtype=np.int64)
        t = int(lengths.max())
        ids = np.zeros((len(encs), t), dtype=np.int64)
        mask = np.arange(t)[None, :] < lengths[:, None]
        ids[mask] = np.concatenate([np.asarray(e.ids, dtype=np.int64) for e in encs])
        return _Batch(ids, mask, np.flatnonzero(mask.ravel()), lengths)

    def _batches(self, texts: list[str]) -> list[_Batch]:
        return [self._batch(texts[i:i + self.batch_size]) for i in range(0, len(texts), self.batch_size)]

    # ------------------------------------------------------------------ forward
    def layer_position(self, layer: str) -> tuple[int, str]:
        """(encoder layer index, projection kind q/k/v/o/ffn-up/ffn-down) of ``layer``."""
        (name,) = check_layers(self, [layer])
        i = self.linear_layers.index(name)
        return i // len(PROJECTIONS), KINDS[i % len(PROJECTIONS)]

    def _embed(self, b: _Batch) -> np.ndarray:
        p = self.params
        t = b.ids.shape[1]
        h = p["embeddings.word_embeddings.weight"][b.ids] + p["embeddings.position_embeddings.weight"][:t]
        h = h + p["embeddings.token_type_embeddings.weight"][0]
        h = h.reshape(-1, self.hidden)[b.index]
        return _layer_norm(h, p["embeddings.LayerNorm.weight"], p["embeddings.LayerNorm.bias"], self.eps)

    def _block(self, i: int, h: np.ndarray, b: _Batch, w: Mapping[str, np.ndarray], aq: Any,
               act_layers: frozenset[str], capture: str | None, linears: Mapping[str, Linear] | None = None,
               record: dict[str, np.ndarray] | None = None) -> np.ndarray | tuple[str, np.ndarray]:
        """Encoder layer ``i`` on the packed real tokens ``h`` (N, hidden); with ``capture`` set
        to one of its linear layers, raises ``_Captured`` with that layer's float input instead.
        ``linears``: layers whose product ``x W^T`` a callable computes (see :meth:`encode`);
        ``record``: a dict that receives each linear layer's input by name."""
        p = self.params
        pre = f"encoder.layer.{i}."

        def linear(x: np.ndarray, part: str) -> np.ndarray:
            name = f"{pre}{part}.weight"
            if name == capture:
                raise _Captured(x)
            if record is not None:
                record[name] = x
            if linears is not None and name in linears:
                return call_linear(linears[name], x, name, w[name].shape[0]) + p[f"{pre}{part}.bias"]
            if aq is not None and name in act_layers:
                try:
                    x = aq(x).dequantized
                except ValueError as exc:
                    raise ValueError(f"activation scheme {aq.label} cannot quantize the input of {name} "
                                     f"{x.shape}: {exc}") from None
            return x @ w[name].T + p[f"{pre}{part}.bias"]

        n_b, t = b.ids.shape
        dh = self.hidden // self.heads

        def heads(x: np.ndarray) -> np.ndarray:  # packed (N, hidden) -> (B, heads, T, dh)
            grid = np.zeros((n_b * t, self.hidden), dtype=np.float32)
            grid[b.index] = x
            return grid.reshape(n_b, t, self.heads, dh).transpose(0, 2, 1, 3)

        q, k, v = (heads(linear(h, part)) for part, _ in PROJECTIONS[:3])
        scores = (q @ k.transpose(0, 1, 3, 2)) / np.float32(np.sqrt(dh))
        scores = np.where(b.mask[:, None, None, :], scores, np.float32(-np.inf))
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        probs = scores / scores.sum(axis=-1, keepdims=True)
        ctx = (probs @ v).transpose(0, 2, 1, 3).reshape(n_b * t, self.hidden)[b.index]
        h = _layer_norm(h + linear(ctx, "attention.output.dense"), p[f"{pre}attention.output.LayerNorm.weight"],
                        p[f"{pre}attention.output.LayerNorm.bias"], self.eps)
        from ._gelu import gelu

        up = gelu(linear(h, "intermediate.dense"))
        return _layer_norm(h + linear(up, "output.dense"), p[f"{pre}output.LayerNorm.weight"],
                           p[f"{pre}output.LayerNorm.bias"], self.eps)

    def _pool(self, h: np.ndarray, b: _Batch) -> np.ndarray:
        starts = np.concatenate([[0], np.cumsum(b.lengths)[:-1]])
        e = np.add.reduceat(h, starts, axis=0) / b.lengths[:, None].astype(np.float32)
        norm = np.sqrt(np.sum(e * e, axis=1, keepdims=True))
        return (e / np.maximum(norm, np.float32(1e-12))).astype(np.float32)

    def _run(self, b: _Batch, w: Mapping[str, np.ndarray], aq: Any, act_layers: frozenset[str], *,
             start: int = 0, state: np.ndarray | None = None, states: list | None = None,
             linears: Mapping[str, Linear] | None = None) -> np.ndarray:
        h = self._embed(b) if state is None else state
        for i in range(start, self.blocks):
            if states is not None:
                states.append(h)
            h = self._block(i, h, b, w, aq, act_layers, None, linears)
        return self._pool(h, b)

    def _setup(self, weights: Any, activations: Config | None, layers: Iterable[str] | None,
               linears: Mapping[str, Linear] | None = None):
        chosen = check_layers(self, layers)
        w = resolve_weights(self, weights, layers)
        aq = activation_quantizer(activations, {self.weights[n].shape[1] for n in chosen})
        act_layers = frozenset(chosen) if aq is not None else frozenset()
        fns = check_linears(self, linears)
        changed = [n for n in self.linear_layers if w[n] is not self.weights[n]] + list(act_layers) + list(fns)
        first = min((self.linear_layers.index(n) // len(PROJECTIONS) for n in changed), default=self.blocks)
        return w, aq, act_layers, first, fns or None

    def encode(self, texts: Sequence[str], weights: Any = None, activations: Config | None = None, *,
               layers: Iterable[str] | None = None, linears: Mapping[str, Linear] | None = None) -> np.ndarray:
        """``(n, 384)`` float32 unit-norm sentence embeddings.

        ``weights``: None (float), a mapping replacing any subset of linear weights (e.g. their
        dequantized versions), or a configuration that quantizes the weights of ``layers``
        (None: all 36). ``activations``: a configuration applied to the input of each of
        ``layers`` on the real tokens of each batch (dynamic); a scheme that cannot run on a
        ``(tokens, in_features)`` batch is refused with a ValueError before anything runs.
        ``linears``: layer name -> callable computing that layer's ``x W^T`` from its float32
        input ``(tokens, in)`` (a quantized layer's forward, e.g. ``LinearResult.forward``); the
        bias is added after it, and ``weights`` / ``activations`` do not apply to that layer.
        """
        texts = _check_texts(texts)
        w, aq, act_layers, _, fns = self._setup(weights, activations, layers, linears)
        return np.concatenate([self._run(b, w, aq, act_layers, linears=fns) for b in self._batches(texts)])

    # ------------------------------------------------------------------ evaluation
    @functools.cached_property
    def _eval_float(self) -> tuple[list[_Batch], list[list[np.ndarray]], np.ndarray]:
        """The eval batches, the float hidden state at each encoder layer's input, the float embeddings."""
        batches = self._batches(list(self.eval_sentences))
        states: list[list[np.ndarray]] = []
        embs = []
        for b in batches:
            s: list[np.ndarray] = []
            embs.append(self._run(b, self.weights, None, frozenset(), states=s))
            states.append(s)
        emb = np.concatenate(embs)
        emb.setflags(write=False)
        return batches, states, emb

    @property
    def float_embeddings(self) -> np.ndarray:
        """Float embeddings of :attr:`eval_sentences` (computed once)."""
        return self._eval_float[2]

    def eval_embeddings(self, weights: Any = None, activations: Config | None = None, *,
                        layers: Iterable[str] | None = None, linears: Mapping[str, Linear] | None = None
                        ) -> np.ndarray:
        """:meth:`encode` of :attr:`eval_sentences`, restarting from the cached float hidden state
        of the first encoder layer the configuration (or ``linears``) changes."""
        w, aq, act_layers, first, fns = self._setup(weights, activations, layers, linears)
        batches, states, emb = self._eval_float
        if first >= self.blocks:
            return emb
        return np.concatenate([self._run(b, w, aq, act_layers, start=first, state=s[first], linears=fns)
                               for b, s in zip(batches, states)])

    def evaluate(self, weights: Any = None, activations: Config | None = None, *,
                 layers: Iterable[str] | None = None, linears: Mapping[str, Linear] | None = None) -> Score:
        """Score on the shipped paraphrase pairs (see the module docstring). Values:
        retrieval_top1, float_retrieval_top1, agreement, mean_cosine, min_cosine.
        ``linears``: as in :meth:`encode`."""
        ref = self.float_embeddings
        emb = self.eval_embeddings(weights, activations, layers=layers, linears=linears)
        n = len(emb)
        partner = np.arange(n) ^ 1
        ref_nn, nn = _nearest(ref), _nearest(emb)
        cos = np.sum(emb.astype(np.float64) * ref.astype(np.float64), axis=1)
        values = {
            "retrieval_top1": float(np.mean(nn == partner)),
            "float_retrieval_top1": float(np.mean(ref_nn == partner)),
            "agreement": float(np.mean(nn == ref_nn)),
            "mean_cosine": float(np.mean(cos)),
            "min_cosine": float(np.min(cos)),
        }
        return Score("retrieval_top1", values, self.objective,
                     {"retrieval_top1": "paraphrase top-1", "agreement": "same neighbour",
                      "mean_cosine": "mean cosine to float", "min_cosine": "min cosine to float"})

    def calibration_inputs(self, layer: str) -> np.ndarray:
        """The float32 ``(tokens, in_features)`` inputs ``layer`` sees when the float model reads
        the shipped calibration text (every real token of every paragraph; the last few are cached)."""
        (name,) = check_layers(self, [layer])
        if name not in self._calibration_cache:
            block = self.linear_layers.index(name) // len(PROJECTIONS)
            parts = []
            for b in self._batches(list(self.calibration_texts)):
                h = self._embed(b)
                for i in range(block):
                    h = self._block(i, h, b, self.weights, None, frozenset(), None)
                try:
                    self._block(block, h, b, self.weights, None, frozenset(), name)
                except _Captured as c:
                    parts.append(c.x)
            x = np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)
            x.setflags(write=False)
            if len(self._calibration_cache) >= 6:
                self._calibration_cache.pop(next(iter(self._calibration_cache)))
            self._calibration_cache[name] = x
        return self._calibration_cache[name]


    def iter_calibration_inputs(self, layers: Iterable[str] | None = None) -> Iterator[tuple[str, np.ndarray]]:
        """``(name, calibration_inputs(name))`` for ``layers`` (None: all 36) in forward order, from
        one float pass over the calibration text (an encoder layer's six inputs at a time, so at
        most one layer's worth is held; :meth:`calibration_inputs` alone reruns the layers before)."""
        chosen = check_layers(self, layers)
        if not chosen:
            return
        last = self.linear_layers.index(chosen[-1]) // len(PROJECTIONS)
        batches = self._batches(list(self.calibration_texts))
        hs = [self._embed(b) for b in batches]
        for i in range(last + 1):
            records: list[dict[str, np.ndarray]] = [{} for _ in batches]
            hs = [self._block(i, h, b, self.weights, None, frozenset(), None, record=r)
                  for h, b, r in zip(hs, batches, records)]
            for name in chosen:
                if self.linear_layers.index(name) // len(PROJECTIONS) == i:
                    x = np.ascontiguousarray(np.concatenate([r[name] for r in records]), dtype=np.float32)
                    x.setflags(write=False)
                    yield name, x


class _Captured(Exception):
    """Carries a layer's input out of the forward pass (ends it early)."""

    def __init__(self, x: np.ndarray) -> None:
        super().__init__("captured")
        self.x = x


def _nearest(emb: np.ndarray) -> np.ndarray:
    """Index of each row's nearest other row by cosine (rows are unit-norm), in float64."""
    e = emb.astype(np.float64)
    sim = e @ e.T
    np.fill_diagonal(sim, -np.inf)
    return sim.argmax(axis=1)


@functools.cache
def minilm_model() -> MiniLM:
    """The shipped all-MiniLM-L6-v2 (read once)."""
    return MiniLM()
