import numpy as np
import pytest

import quantlib as ql


def test_valid_params_normalise_scale_to_float32():
    p = ql.QuantParams(scale=0.1, zero_point=3, qmin=0, qmax=255)
    assert p.scale == float(np.float32(0.1)) and p.zero_point == 3 and p.per_tensor and p.bits == 8


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(scale=0.0), "scale must be finite and > 0"),
        (dict(scale=-1.0), "scale must be finite and > 0"),
        (dict(scale=float("nan")), "scale must be finite and > 0"),
        (dict(scale=float("inf")), "scale must be finite and > 0"),
        (dict(scale=1e-50), "positive float32"),
        (dict(zero_point=300), r"zero_point must be within \[qmin, qmax\] = \[0, 255\]"),
        (dict(zero_point=-1), r"zero_point must be within"),
        (dict(zero_point=1.5), "zero_point must be integral"),
        (dict(qmin=10, qmax=10), "qmin must be < qmax"),
        (dict(convention="tflite"), "unknown convention 'tflite'"),
    ],
    ids=["zero-scale", "negative-scale", "nan-scale", "inf-scale", "underflow-scale", "zp-above", "zp-below",
         "fractional-zp", "empty-range", "unknown-convention"],
)
def test_invalid_params_raise_value_error_naming_the_field(kwargs, message):
    base = dict(scale=0.1, zero_point=0, qmin=0, qmax=255)
    with pytest.raises(ValueError, match=message):
        ql.QuantParams(**{**base, **kwargs})


def test_array_params_must_agree_in_shape():
    with pytest.raises(ValueError, match="does not match scale shape"):
        ql.QuantParams(scale=np.ones(3), zero_point=np.zeros(4, int), qmin=-128, qmax=127, axis=0)


def test_params_that_do_not_fit_the_tensor_are_refused():
    p = ql.QuantParams(scale=np.ones(3), zero_point=0, qmin=-128, qmax=127, axis=0)
    with pytest.raises(ValueError, match="do not fit"):
        ql.quantize(np.ones((4, 2), np.float32), p)


@pytest.mark.parametrize(
    "bits, signed, narrow, expected",
    [(8, True, False, (-128, 127)), (8, True, True, (-127, 127)), (8, False, False, (0, 255)), (4, True, False, (-8, 7)),
     (16, False, False, (0, 65535)), (2, True, False, (-2, 1))],
    ids=["int8", "int8-narrow", "uint8", "int4", "uint16", "int2"],
)
def test_qrange(bits, signed, narrow, expected):
    assert ql.qrange(bits, signed, narrow) == expected


def test_to_dict_is_json_serialisable():
    import json

    p = ql.choose_qparams(np.arange(12, dtype=np.float32).reshape(3, 4), axis=0)
    d = json.loads(json.dumps(p.to_dict()))
    assert d["axis"] == 0 and len(d["scale"]) == 3
