"""Every fixed-width format's bits per element, from the layout its own specification gives.

The expected numbers are written here from each format's documents (block size, the bytes one block
stores), not computed by quantlib: a format that forgot a scale, a minimum or a block header fails
here, where the Shannon-bound check in test_rate.py only catches an error of a bit or more.
"""

from __future__ import annotations

import pytest

import quantlib as ql

N = 4096  # a multiple of every block size (32, 64, 128, 256): no partial block

# name: (elements per block, bits one block stores, bits stored once per tensor, where the layout is given)
LAYOUTS: dict[str, tuple[int, int, int, str]] = {
    # IEEE / OCP element types, no scale (scaling="none", the default)
    "fp16": (1, 16, 0, "IEEE 754 binary16"),
    "bf16": (1, 16, 0, "bfloat16: 1 + 8 + 7 bits"),
    "fp8_e4m3fn": (1, 8, 0, "OCP FP8: 1 + 4 + 3"),
    "fp8_e5m2": (1, 8, 0, "OCP FP8: 1 + 5 + 2"),
    "fp8_e4m3fnuz": (1, 8, 0, "Graphcore/AMD FP8, 8 bits"),
    "fp8_e5m2fnuz": (1, 8, 0, "Graphcore/AMD FP8, 8 bits"),
    "fp6_e3m2": (1, 6, 0, "OCP MX v1.0 FP6: 1 + 3 + 2"),
    "fp6_e2m3": (1, 6, 0, "OCP MX v1.0 FP6: 1 + 2 + 3"),
    "fp4_e2m1": (1, 4, 0, "OCP MX v1.0 FP4: 1 + 2 + 1"),
    # OCP Microscaling v1.0: k = 32 elements share one 8-bit E8M0 scale
    "mxfp8_e4m3": (32, 32 * 8 + 8, 0, "OCP MX v1.0, k=32, E8M0 scale"),
    "mxfp8_e5m2": (32, 32 * 8 + 8, 0, "OCP MX v1.0, k=32, E8M0 scale"),
    "mxfp6_e3m2": (32, 32 * 6 + 8, 0, "OCP MX v1.0, k=32, E8M0 scale"),
    "mxfp6_e2m3": (32, 32 * 6 + 8, 0, "OCP MX v1.0, k=32, E8M0 scale"),
    "mxfp4": (32, 32 * 4 + 8, 0, "OCP MX v1.0, k=32, E8M0 scale"),
    "mxint8": (32, 32 * 8 + 8, 0, "OCP MX v1.0 MXINT8, k=32, E8M0 scale"),
    # NVIDIA NVFP4: 16 E2M1 values share an FP8 E4M3 scale; one FP32 global scale per tensor
    "nvfp4": (16, 16 * 4 + 8, 32, "NVIDIA NVFP4: 16 x E2M1 + E4M3 block scale, FP32 tensor scale"),
    # bitsandbytes 4-bit: blocksize 64 (the default), one float32 absmax per block
    "nf4": (64, 64 * 4 + 32, 0, "bitsandbytes quantize_4bit, blocksize 64, float32 absmax"),
    "fp4_bnb": (64, 64 * 4 + 32, 0, "bitsandbytes quantize_4bit, blocksize 64, float32 absmax"),
    # ggml (ggml-common.h): the bytes of one block_* struct
    "q8_0": (32, 8 * (2 + 32), 0, "block_q8_0: fp16 d, int8 qs[32]"),
    "q4_0": (32, 8 * (2 + 16), 0, "block_q4_0: fp16 d, uint8 qs[16]"),
    "q4_1": (32, 8 * (2 + 2 + 16), 0, "block_q4_1: fp16 d, fp16 m, uint8 qs[16]"),
    "q5_0": (32, 8 * (2 + 4 + 16), 0, "block_q5_0: fp16 d, uint8 qh[4], uint8 qs[16]"),
    "q5_1": (32, 8 * (2 + 2 + 4 + 16), 0, "block_q5_1: fp16 d, fp16 m, uint8 qh[4], uint8 qs[16]"),
    "q2_k": (256, 8 * (16 + 64 + 2 + 2), 0, "block_q2_K: scales[16], qs[64], fp16 d, fp16 dmin"),
    "q3_k": (256, 8 * (32 + 64 + 12 + 2), 0, "block_q3_K: hmask[32], qs[64], scales[12], fp16 d"),
    "q4_k": (256, 8 * (2 + 2 + 12 + 128), 0, "block_q4_K: fp16 d, fp16 dmin, scales[12], qs[128]"),
    "q5_k": (256, 8 * (2 + 2 + 12 + 32 + 128), 0, "block_q5_K: fp16 d, dmin, scales[12], qh[32], qs[128]"),
    "q6_k": (256, 8 * (128 + 64 + 16 + 2), 0, "block_q6_K: ql[128], qh[64], int8 scales[16], fp16 d"),
    "iq4_nl": (32, 8 * (2 + 16), 0, "block_iq4_nl: fp16 d, uint8 qs[16]"),
    "iq4_xs": (256, 8 * (2 + 2 + 4 + 128), 0, "block_iq4_xs: fp16 d, uint16 scales_h, scales_l[4], qs[128]"),
    "tq1_0": (256, 8 * (48 + 4 + 2), 0, "block_tq1_0: qs[48], qh[4], fp16 d"),
    "tq2_0": (256, 8 * (64 + 2), 0, "block_tq2_0: qs[64], fp16 d"),
    # BitNet b1.58 ternary with 2-bit packing and binary sign codes: one float32 scale per tensor (the default)
    "ternary": (1, 2, 32, "2 bits per trit (I2_S / TQ2_0 packing), float32 absmean scale"),
    "binary": (1, 1, 32, "1 sign bit, float32 mean|x| scale"),
}


def test_every_fixed_width_format_has_its_layout_here():
    fixed = {n for n, s in ql.SCHEMES.items() if s.fixed_width}
    assert fixed == set(LAYOUTS), "a fixed-width format without a layout in this table (or one removed)"


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_bits_per_element_is_the_layout_of_the_format(name):
    block, block_bits, tensor_bits, _ = LAYOUTS[name]
    x = ql.synthetic("normal", N, 0)
    expected = ((N // block) * block_bits + tensor_bits) / N
    assert ql.Quantizer(name)(x).bits_per_element == expected


@pytest.mark.parametrize("name, settings, expected", [
    ("nf4", {"block_size": 128}, 4 + 32 / 128),
    ("fp8_e4m3fn", {"scaling": "per_tensor"}, 8 + 32 / N),  # one float32 scale
    ("fp8_e4m3fn", {"scaling": "per_channel", "axis": 0}, 8 + 32 / 128),  # one per row of 128 values
    ("ternary", {"packing": "base3"}, 8 / 5 + 32 / N),  # five trits per byte (3**5 = 243 <= 256)
    ("ternary", {"granularity": "per_group", "group_size": 128}, 2 + 32 / 128),
    ("binary", {"granularity": "per_group", "group_size": 64}, 1 + 32 / 64),
], ids=["nf4-128", "fp8-per-tensor", "fp8-per-channel", "ternary-base3", "ternary-groups", "binary-groups"])
def test_bits_per_element_under_other_settings(name, settings, expected):
    x = ql.synthetic("normal", N, 0).reshape(32, 128)
    assert ql.Quantizer(name, **settings)(x).bits_per_element == pytest.approx(expected, rel=1e-15)


def test_the_issue_examples():
    """Issue 17: "NF4 with a float32 absmax per 64 values costs 4.5 bits, MXFP4 4.25, NVFP4 4.5, Q4_K 4.5"."""
    x = ql.synthetic("normal", N, 0)
    got = {n: ql.Quantizer(n)(x).bits_per_element for n in ("nf4", "mxfp4", "nvfp4", "q4_k")}
    assert got == {"nf4": 4.5, "mxfp4": 4.25, "nvfp4": 4.5 + 32 / N, "q4_k": 4.5}
