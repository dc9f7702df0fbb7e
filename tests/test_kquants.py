"""The ggml-family API around the quantizers (their values are checked against ggml in
test_reference_ggml.py): importance-weight validation, to_ggml_bytes, the block view, partial blocks."""

from __future__ import annotations

import numpy as np
import pytest

import quantlib as ql
import quantlib.formats as fm
from conftest import make_tensor

X = make_tensor("normal", 2 * 512, 0).reshape(2, 512)


@pytest.mark.parametrize("bad, exc, message", [
    ("abc", TypeError, "imatrix must hold real numbers"),
    ([1, 2], ValueError, r"one weight per column of the last axis \(512 for shape \(2, 512\)\); got shape \(2,\)"),
    (np.full(512, np.nan), ValueError, "imatrix contains 512 non-finite"),
    (-np.ones(512), ValueError, "must be >= 0"),
    (np.ones((2, 256)), ValueError, r"got shape \(2, 256\)"),
    (3.0, ValueError, "0-d scalar"),
], ids=["text", "short", "nan", "negative", "2-d", "scalar"])
@pytest.mark.parametrize("name", ["q4_k", "q4_0", "iq4_xs", "q5_1"])
def test_bad_importance_weights_are_refused_by_name(name, bad, exc, message):
    with pytest.raises(exc, match=message):
        ql.Quantizer(name, imatrix=bad)(X)


def test_importance_weights_need_whole_blocks_per_row():
    with pytest.raises(ValueError, match=r"last axis \(100, shape \(3, 100\)\) must be a multiple of its block size 256"):
        ql.Quantizer("q4_k", imatrix=np.ones(100))(make_tensor("normal", 300, 0).reshape(3, 100))


def test_ternary_types_take_no_importance_weights():
    with pytest.raises(ValueError, match="has no setting"):
        ql.Quantizer("tq1_0", imatrix=np.ones(512))


def test_label_names_the_weights_without_printing_them():
    assert ql.Quantizer("q4_k", imatrix=np.ones(512)).label == "q4_k · imatrix=<512 values>"
    assert ql.Quantizer("q4_k").label == "q4_k"


def test_a_padded_last_block_quantizes_but_is_no_ggml_tensor():
    x = make_tensor("normal", 300, 1)
    r = ql.Quantizer("q4_k")(x)
    assert r.dequantized.shape == (300,) and r.bits_per_element == 2 * 144 * 8 / 300
    with pytest.raises(ValueError, match="300 elements, so its last block was padded"):
        ql.to_ggml_bytes(r)
    with pytest.raises(ValueError, match="multiple of its block size 256"):
        ql.Quantizer("q4_k", partial_block="error")(x)


def test_to_ggml_bytes_and_the_block_view_refuse_other_schemes():
    r = ql.Quantizer("nf4")(X)
    with pytest.raises(TypeError, match="ggml scheme"):
        ql.to_ggml_bytes(r)
    with pytest.raises(TypeError, match="ggml-family result"):
        fm.superblock_view(X, r)


def test_block_view_fields_rebuild_the_dequantized_block():
    r = ql.Quantizer("q5_k")(X)
    v = fm.superblock_view(X, r, 1)
    t = v["sub_blocks"]
    rebuilt = t["scale d·sc"].to_numpy(np.float32)[:, None] * v["codes"].astype(np.float32) + \
        t["offset"].to_numpy(np.float32)[:, None]
    np.testing.assert_array_equal(rebuilt.reshape(-1), r.dequantized.reshape(-1)[256:512])
    np.testing.assert_array_equal(v["error"], (r.dequantized.reshape(-1)[256:512] - X.reshape(-1)[256:512]).reshape(8, 32))
    assert v["bytes"] == ql.to_ggml_bytes(r)[176:352]
    with pytest.raises(ValueError, match=r"block index 4 is out of range; this tensor has 4 blocks \(0..3\)"):
        fm.superblock_view(X, r, 4)
