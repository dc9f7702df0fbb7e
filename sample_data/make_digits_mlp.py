"""Train the small digits MLP shipped as sample_data/digits_mlp.npz.

Development-time script: it is not imported by the app or the tests, and scikit-learn is not a runtime or
test dependency of quantlib. The app only reads the .npz file this script writes.

Data: the UCI "Optical Recognition of Handwritten Digits" test set (E. Alpaydin, C. Kaynak, 1998; 1,797 8×8
images, pixels 0..16), in the copy scikit-learn ships (``sklearn.datasets.load_digits``; no download).

Recipe (deterministic): stratified train/test split, test 30 %, random_state 0; inputs pixel / 16 in [0, 1];
a 64→64→32→10 ReLU MLP (``MLPClassifier``, Adam, random_state 0). The script then re-runs the network in plain
numpy, asserts that it reproduces scikit-learn's predictions exactly on the test split (with the float64
weights and with the float32 weights it ships), and prints the test accuracy recorded in sample_data/README.md.

Usage (from the repository root)::

    python sample_data/make_digits_mlp.py
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import sklearn
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

OUT = Path(__file__).resolve().parent / "digits_mlp.npz"
SEED = 0
TEST_SIZE = 0.3
HIDDEN = (64, 32)
MIN_ACCURACY = 0.95


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0)


def forward(x: np.ndarray, layers: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, list[np.ndarray]]:
    """logits = relu(relu(x W1ᵀ + b1) W2ᵀ + b2) W3ᵀ + b3, W in (out, in) layout; also the hidden activations."""
    acts = []
    h = x
    for i, (w, b) in enumerate(layers):
        h = h @ w.T + b
        if i < len(layers) - 1:
            h = relu(h)
            acts.append(h)
    return h, acts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    digits = load_digits()
    x = digits.data.astype(np.float64) / 16.0  # pixels 0..16 -> [0, 1]
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=TEST_SIZE, stratify=y, random_state=SEED)

    clf = MLPClassifier(hidden_layer_sizes=HIDDEN, activation="relu", solver="adam", alpha=1e-4,
                        batch_size=64, learning_rate_init=1e-3, max_iter=300, tol=1e-6,
                        n_iter_no_change=20, shuffle=True, random_state=SEED)
    with warnings.catch_warnings():
        # A fixed epoch budget is the recipe; hitting it is not an error.
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x_train, y_train)

    pred_sklearn = clf.predict(x_test)
    accuracy = float(np.mean(pred_sklearn == y_test))

    # sklearn stores coefs_ as (in, out); PyTorch layout is (out, in).
    layers64 = [(w.T.copy(), b.copy()) for w, b in zip(clf.coefs_, clf.intercepts_)]
    logits64, _ = forward(x_test, layers64)
    assert np.array_equal(clf.classes_[logits64.argmax(1)], pred_sklearn), "numpy float64 forward != sklearn"
    assert np.array_equal(clf.classes_, np.arange(10))

    layers32 = [(w.astype(np.float32), b.astype(np.float32)) for w, b in layers64]
    test_x = x_test.astype(np.float32)
    assert np.array_equal(test_x.astype(np.float64), x_test)  # k/16 is exact in float32
    logits32, acts32 = forward(test_x, layers32)
    assert logits32.dtype == np.float32
    pred32 = logits32.argmax(1)
    assert np.array_equal(pred32, pred_sklearn), (
        f"float32 weights change {int(np.sum(pred32 != pred_sklearn))} test predictions")
    max_logit_diff = float(np.max(np.abs(logits32.astype(np.float64) - logits64)))

    arrays = {
        "fc1.weight": layers32[0][0], "fc1.bias": layers32[0][1],
        "fc2.weight": layers32[1][0], "fc2.bias": layers32[1][1],
        "fc3.weight": layers32[2][0], "fc3.bias": layers32[2][1],
        "test_x": test_x,
        "test_y": y_test.astype(np.int64),
        "act.fc1": acts32[0].astype(np.float32),
        "act.fc2": acts32[1].astype(np.float32),
    }
    expected = {"fc1.weight": (64, 64), "fc1.bias": (64,), "fc2.weight": (32, 64), "fc2.bias": (32,),
                "fc3.weight": (10, 32), "fc3.bias": (10,), "test_x": (len(y_test), 64), "test_y": (len(y_test),),
                "act.fc1": (len(y_test), 64), "act.fc2": (len(y_test), 32)}
    for name, arr in arrays.items():
        assert arr.shape == expected[name], (name, arr.shape)
        assert arr.dtype == (np.int64 if name == "test_y" else np.float32), (name, arr.dtype)
        arrays[name] = np.ascontiguousarray(arr)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, **arrays)

    # Re-load the way the app must (no pickle) and check the shipped model end to end.
    with np.load(args.out, allow_pickle=False) as z:
        back = {k: z[k] for k in z.files}
    assert list(back) == list(arrays), list(back)
    for name in arrays:
        assert back[name].dtype == arrays[name].dtype and np.array_equal(back[name], arrays[name]), name
    shipped = [(back[f"fc{i}.weight"], back[f"fc{i}.bias"]) for i in (1, 2, 3)]
    logits, acts = forward(back["test_x"], shipped)
    assert np.array_equal(logits.argmax(1), pred_sklearn)
    assert np.array_equal(acts[0], back["act.fc1"]) and np.array_equal(acts[1], back["act.fc2"])
    shipped_accuracy = float(np.mean(logits.argmax(1) == back["test_y"]))
    assert shipped_accuracy == accuracy

    print(f"scikit-learn {sklearn.__version__}, numpy {np.__version__}")
    print(f"train {len(y_train)} / test {len(y_test)} samples; {clf.n_iter_} epochs; final loss {clf.loss_:.6f}")
    print("numpy forward reproduces sklearn's predictions exactly: float64 weights yes, float32 weights yes")
    print(f"max |logit(float32) - logit(float64)| on the test split: {max_logit_diff:.3g}")
    print(f"test accuracy: {int(np.sum(pred_sklearn == y_test))}/{len(y_test)} = {accuracy:.6f}")
    for name in ("act.fc1", "act.fc2"):
        a = back[name]
        print(f"{name}: max {a.max():.4f}, p99.9 {np.percentile(a, 99.9):.4f}, "
              f"zeros {np.mean(a == 0):.1%}, dead units {int(np.sum(a.max(0) == 0))}/{a.shape[1]}")
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")
    if accuracy < MIN_ACCURACY:
        raise SystemExit(f"test accuracy {accuracy:.4f} is below {MIN_ACCURACY}")


if __name__ == "__main__":
    main()
