"""Golden vectors (quantlib/golden.py): exact round trip, and a changed file is caught."""

import io
import json

import numpy as np
import pytest

import quantlib as ql
from quantlib import golden

X = ql.synthetic("laplace", 1000, 7)  # not a multiple of any block: the short last block is in the file


def _npz(arrays: dict) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _open(data: bytes) -> dict:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        return {k: z[k].copy() for k in z.files}


@pytest.mark.parametrize("scheme", list(ql.SCHEMES))
def test_every_scheme_round_trips_exactly(scheme, tmp_path):
    data, manifest = ql.golden_vectors(X, scheme)
    r = ql.Quantizer(scheme)(X)
    stored = _open(data)
    assert np.array_equal(stored["input"], X) and stored["input"].dtype == np.float32
    assert stored["codes"].dtype == r.codes.dtype and np.array_equal(stored["codes"], r.codes)
    assert stored["dequantized"].tobytes() == r.dequantized.tobytes()
    assert json.loads(stored["manifest"].tobytes()) == manifest
    assert manifest["settings"] == ql.Quantizer(scheme).settings and manifest["scheme"] == scheme
    assert manifest["bits_per_element"] == r.bits_per_element
    path = tmp_path / "v.npz"
    path.write_bytes(data)
    assert ql.check_golden_vectors(path) is True
    assert ql.check_golden_vectors(data, manifest) is True
    with open(path, "rb") as f:
        assert ql.check_golden_vectors(f)


def test_block_formats_carry_their_stored_scales():
    data, m = ql.golden_vectors(X, "q4_1")
    z = _open(data)
    r = ql.Quantizer("q4_1")(X)
    assert {"block_scales", "block_offsets"} <= set(m["arrays"])
    assert np.array_equal(z["block_scales"], r.blocks.scales) and np.array_equal(z["block_offsets"], r.blocks.offsets)
    d, mn = z["block_scales"].astype(np.float32), z["block_offsets"].astype(np.float32)
    codes = np.concatenate([z["codes"], np.zeros(24, z["codes"].dtype)]).reshape(-1, 32)
    rebuilt = (d[:, None] * codes.astype(np.float32) + mn[:, None]).reshape(-1)[:1000]
    assert np.array_equal(rebuilt, z["dequantized"])  # x_hat = fp16(d) q + fp16(min), from the file alone
    assert m["arrays"]["codes"]["sha256"] == golden.sha256_of(r.codes)


def test_manifest_records_the_rule_the_convention_and_versions():
    _, m = ql.golden_vectors(X, "symmetric", bits=4, convention="pytorch", rounding="half_away")
    assert (m["convention"], m["rounding"], m["settings"]["bits"]) == ("pytorch", "half_away", 4)
    assert set(m["versions"]) >= {"python", "numpy", "ml_dtypes", "quantlib"} and m["formula"]
    assert {"scale", "zero_point", "levels"} <= set(m["arrays"])


def test_a_changed_array_fails_its_checksum():
    data, _ = ql.golden_vectors(X, "nf4")
    z = _open(data)
    z["codes"][17] ^= 1
    with pytest.raises(ValueError, match=r"codes: sha256 .* does not match the manifest"):
        ql.check_golden_vectors(_npz(z))
    assert ql.check_golden_vectors(_npz(z), raises=False) is False


def test_a_change_with_a_matching_checksum_fails_against_the_engine():
    data, _ = ql.golden_vectors(X, "mxfp4")
    z = _open(data)
    m = json.loads(z["manifest"].tobytes())
    z["dequantized"][3] = np.nextafter(z["dequantized"][3], np.float32(np.inf))
    m["arrays"]["dequantized"]["sha256"] = golden.sha256_of(z["dequantized"])
    z["manifest"] = np.frombuffer(json.dumps(m).encode(), np.uint8)
    with pytest.raises(ValueError, match=r"dequantized: 1 of 1000 value\(s\) differ, the first at flat index 3"):
        ql.check_golden_vectors(_npz(z))


def test_changed_settings_in_the_manifest_are_caught():
    data, _ = ql.golden_vectors(X, "symmetric", bits=8)
    z = _open(data)
    m = json.loads(z["manifest"].tobytes())
    m["settings"]["bits"] = 7
    z["manifest"] = np.frombuffer(json.dumps(m).encode(), np.uint8)
    with pytest.raises(ValueError, match="codes: .* differ"):
        ql.check_golden_vectors(_npz(z))


def test_a_separate_manifest_must_match_the_file():
    data, m = ql.golden_vectors(X, "q8_0")
    other = dict(m, scheme="q4_0")
    with pytest.raises(ValueError, match=r"manifest given differs .*\['scheme'\]"):
        ql.check_golden_vectors(data, other)


@pytest.mark.parametrize("data, message", [
    (b"not a zip file", "not a golden vector file"),
    (_npz({"input": np.zeros(3, np.float32)}), "has no manifest"),
    (_npz({"manifest": np.frombuffer(b"{bad json", np.uint8)}), "not valid JSON"),
], ids=["garbage", "no-manifest", "bad-json"])
def test_files_that_are_not_golden_vectors_are_refused(data, message):
    with pytest.raises(ValueError, match=message):
        ql.check_golden_vectors(data)


def test_a_pickled_array_is_never_loaded():
    buf = io.BytesIO()
    np.savez(buf, manifest=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="not a golden vector file"):
        ql.check_golden_vectors(buf.getvalue())


# ------------------------------------------------------------------ python -m quantlib vectors
def _cli(*args):
    import contextlib

    from quantlib.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def test_cli_writes_the_same_vectors_and_checks_them(tmp_path):
    src = tmp_path / "w.npy"
    np.save(src, X)
    out, man = tmp_path / "v.npz", tmp_path / "v.json"
    code, stdout, _ = _cli("vectors", src, "--scheme", "symmetric", "--set", "bits=4", "--set", "calibration=mse",
                           "--out", out, "--manifest", man)
    assert code == 0 and "symmetric · bits=4 · mse" in stdout
    data, manifest = ql.golden_vectors(X, "symmetric", bits=4, calibration="mse")
    assert _open(out.read_bytes()).keys() == _open(data).keys()
    assert all(np.array_equal(a, _open(data)[k]) for k, a in _open(out.read_bytes()).items() if k != "manifest")
    assert json.loads(man.read_text())["arrays"] == manifest["arrays"]
    assert _cli("vectors", "--check", out, "--manifest", man)[:2] == (0, f"OK: {out} is intact and the engine "
                                                                        "reproduces every array exactly\n")
    z = _open(out.read_bytes())
    z["dequantized"][0] += 1
    out.write_bytes(_npz(z))
    code, _, err = _cli("vectors", "--check", out)
    assert code == 1 and err.startswith("error: golden vectors") and "dequantized: sha256" in err


@pytest.mark.parametrize("args, message", [
    (["--scheme", "symmetric", "--set", "bitz=4"], "no setting 'bitz'"),
    (["--scheme", "symmetric", "--set", "bits=four"], "bits must be int"),
    (["--scheme", "symmetric", "--set", "bits=40"], "out of range"),
    (["--scheme", "nope"], "unknown scheme"),
    (["--scheme", "symmetric", "--set", "scale=none", "--set", "signed=maybe"], "signed must be bool"),
], ids=["unknown-setting", "not-an-int", "out-of-range", "unknown-scheme", "not-a-bool"])
def test_cli_bad_settings_are_one_line_errors(tmp_path, args, message):
    src = tmp_path / "w.npy"
    np.save(src, X)
    code, _, err = _cli("vectors", src, *args, "--out", tmp_path / "v.npz")
    assert code == 1 and message in err and err.count("\n") == 1


def test_cli_check_of_a_file_that_is_not_vectors(tmp_path):
    src = tmp_path / "w.npy"
    np.save(src, X)
    code, _, err = _cli("vectors", "--check", src)
    assert code == 1 and "not a golden vector file" in err


def test_packed_nf4_is_bitsandbytes_own_bytes():
    torch = pytest.importorskip("torch")
    bnbf = pytest.importorskip("bitsandbytes.functional")
    x = ql.synthetic("normal", 4096, 3)
    data, m = ql.golden_vectors(x, "nf4")
    q, _ = bnbf.quantize_4bit(torch.from_numpy(x), blocksize=64, quant_type="nf4")
    assert np.array_equal(_open(data)["packed"], q.numpy().reshape(-1)) and "bitsandbytes" in m["packed_layout"]


def test_packed_mxfp4_is_gguf_own_bytes():
    gguf = pytest.importorskip("gguf")
    x = ql.synthetic("normal", 32 * 40, 4)
    data, m = ql.golden_vectors(x, "mxfp4")
    ref = gguf.quants.quantize(x.reshape(1, -1), gguf.GGMLQuantizationType.MXFP4)
    assert np.array_equal(_open(data)["packed"], ref.reshape(-1)) and "gguf" in m["packed_layout"]
