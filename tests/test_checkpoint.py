"""Whole-checkpoint reports (quantlib.checkpoint): a sharded safetensors checkpoint written by
safetensors' own torch writer (bf16 and float32) and a GGUF written by gguf-py's GGUFWriter, checked
against quantlib.Quantizer run directly on each tensor as torch / gguf-py read it; the same report
inline, on a LocalCluster of 1 and 2 worker processes and on a `dask scheduler` + `dask worker` pair;
bad checkpoints and an unreachable scheduler."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import sum_rtol

import quantlib as ql
from quantlib import checkpoint as ck
from quantlib.checkpoint_names import layer_index, tensor_kind

ROOT = Path(__file__).resolve().parents[1]
CHUNK = 8192  # float32 bytes per slice: the 96 x 128 matrices are read in 6 slices of 16 rows
SCHEMES = [
    ql.Quantizer("symmetric", bits=4),  # per tensor, min-max: pinned to the tensor's range, then sliced
    ql.Quantizer("asymmetric", bits=4),
    ql.Quantizer("symmetric", bits=4, granularity="per_channel", axis=0),  # one scale per row
    ql.Quantizer("nf4"),  # blocks of 64
    ql.Quantizer("q4_k"),  # super-blocks of 256: two rows of 128
    ql.Quantizer("fp8_e4m3fn"),  # element-wise cast
    ql.Quantizer("histogram", num_bins=16),  # needs the whole tensor: one task reads it whole
]


def _names(layers: int = 2) -> dict[str, tuple[tuple[int, ...], str]]:
    out = {"model.embed_tokens.weight": ((64, 128), "bf16"), "model.norm.weight": ((128,), "float32"),
           "lm_head.weight": ((64, 128), "float32")}
    for i in range(layers):
        p = f"model.layers.{i}."
        out |= {p + "self_attn.q_proj.weight": ((128, 128), "bf16"), p + "self_attn.k_proj.weight": ((32, 128), "bf16"),
                p + "self_attn.v_proj.weight": ((32, 128), "float32"), p + "self_attn.o_proj.weight": ((128, 128), "bf16"),
                p + "mlp.gate_proj.weight": ((96, 128), "float32"), p + "mlp.up_proj.weight": ((96, 128), "bf16"),
                p + "mlp.down_proj.weight": ((128, 96), "float32"), p + "input_layernorm.weight": ((128,), "bf16"),
                p + "post_attention_layernorm.weight": ((128,), "float32")}
    return out


def write_sharded(folder: Path, shards: int = 3, seed: int = 0) -> dict[str, np.ndarray]:
    """A Llama-style checkpoint in ``shards`` safetensors files + model.safetensors.index.json (as
    transformers writes them); returns every tensor as float32, read back by torch."""
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    tensors = {}
    for k, (name, (shape, dtype)) in enumerate(_names().items()):
        t = torch.randn(shape, generator=g) * 0.02
        if "norm" in name:
            t = 1 + 0.1 * t
        if k % 5 == 0:  # a few outliers, so clipping and kurtosis have something to show
            t.view(-1)[:: max(1, t.numel() // 3)] *= 40
        tensors[name] = t.to(torch.bfloat16 if dtype == "bf16" else torch.float32)
    names = sorted(tensors)
    wmap = {}
    for s in range(shards):
        part = names[s::shards]
        file = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        save_file({n: tensors[n].contiguous() for n in part}, str(folder / file), metadata={"format": "pt"})
        wmap |= dict.fromkeys(part, file)
    (folder / ck.INDEX).write_text(json.dumps({"metadata": {"total_size": 0}, "weight_map": wmap}))
    return {n: t.float().numpy() for n, t in tensors.items()}


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("llama")
    return folder, write_sharded(folder)


@pytest.fixture(scope="module")
def inline(sharded):
    return ql.checkpoint_report(sharded[0], SCHEMES, workers=0, chunk_bytes=CHUNK)


# ---------------------------------------------------------------- exact agreement with Quantizer
def test_every_tensor_and_scheme_matches_the_quantizer_on_the_whole_tensor(sharded, inline):
    _, tensors = sharded
    assert inline["tensor"].tolist() == [n for n in sorted(tensors) for _ in SCHEMES]
    assert inline["scheme"].tolist() == [q.label for q in SCHEMES] * len(tensors)
    for _, row in inline.iterrows():
        x = tensors[row["tensor"]]
        q = next(q for q in SCHEMES if q.label == row["scheme"])
        try:
            m = q(x).metrics(x)
        except ValueError as exc:  # a scheme the tensor cannot take: refused in the report too, with its reason
            assert math.isnan(row["mse"]) and str(exc) == row["note"]
            continue
        assert row["note"] == ""
        rtol = sum_rtol(x.size)
        assert row["mse"] == pytest.approx(m.mse, rel=rtol, abs=0)
        assert row["sqnr_db"] == pytest.approx(m.sqnr_db, abs=10 / math.log(10) * 2 * rtol)
        assert row["clip_ratio"] == m.clip_ratio  # a count: exact
        assert row["bits_per_element"] == pytest.approx(m.bits_per_element, rel=1e-12)


def test_large_tensors_were_really_sliced_and_whole_tensor_schemes_were_not(sharded, inline):
    q = inline[inline["tensor"] == "model.layers.0.mlp.gate_proj.weight"].set_index("scheme")["chunks"]
    # 96 rows: 6 slices of 16 rows (8 KiB), each quantized in 4 pieces of 4 rows (q4_k needs 2-row steps)
    assert q[SCHEMES[0].label] == 24 and q["nf4"] == 24 and q["q4_k"] == 24
    plan = ck._plan(next(r for r in ck.open_checkpoint(sharded[0]) if r.name.endswith("0.mlp.gate_proj.weight")),
                    ck.schemes_config(SCHEMES), CHUNK)
    assert plan.bounds == [(r, r + 16) for r in range(0, 96, 16)] and plan.piece == 4
    assert q[SCHEMES[-1].label] == 1
    norms = inline[inline["kind"] == "norm"]  # 1-D: never split (0 pieces: refused, e.g. per-channel on a vector)
    assert ((norms["chunks"] == 1) | ((norms["chunks"] == 0) & (norms["note"] != ""))).all()


def test_statistics_match_numpy_and_scipy(sharded, inline):
    from scipy.stats import kurtosis

    _, tensors = sharded
    per = inline.drop_duplicates("tensor").set_index("tensor")
    for name, x in tensors.items():
        d = x.astype(np.float64)
        std = d.std()
        row = per.loc[name]
        rtol = sum_rtol(x.size, condition=10)
        assert row["std"] == pytest.approx(std, rel=1e-9)
        assert row["max_abs_over_std"] == pytest.approx(np.abs(d).max() / std, rel=1e-9)
        assert row["excess_kurtosis"] == pytest.approx(kurtosis(d, axis=None, fisher=True, bias=True), rel=1e-6, abs=1e-6)
        assert row["beyond_6sigma"] == np.count_nonzero(np.abs(d - d.mean()) > 6 * std) / x.size
        assert row["elements"] == x.size and row["shape"] == "×".join(map(str, x.shape))
        assert rtol < 1e-9
    assert set(per["dtype"]) == {"BF16", "F32"}
    assert per.loc["model.layers.1.mlp.down_proj.weight", "layer"] == 1
    assert per.loc["model.layers.1.mlp.down_proj.weight", "kind"] == "mlp_down"
    assert pd.isna(per.loc["lm_head.weight", "layer"]) and per.loc["lm_head.weight", "kind"] == "lm_head"


def test_size_totals_and_keep_list_follow_the_quantizer(sharded, inline):
    _, tensors = sharded
    totals = ck.size_totals(inline).set_index("scheme")
    stored = sum(x.size * (2 if ds == "bf16" else 4) for (n, x), (_, ds) in
                 zip(sorted(tensors.items()), sorted((n, v[1]) for n, v in _names().items())))
    assert totals.loc["stored", "bytes"] == stored
    # 1-D tensors (the norms) are kept as stored, as llama-quantize and every toolkit keep them
    width = {n: (2 if ds == "bf16" else 4) for n, (_, ds) in _names().items()}
    nf4 = sum(ql.Quantizer("nf4")(x).bits_per_element * x.size / 8 if x.ndim >= 2 else x.size * width[n]
              for n, x in tensors.items())
    assert totals.loc["nf4", "bytes"] == pytest.approx(nf4, rel=1e-12)
    assert totals.loc["nf4", "kept"] == sum(x.ndim == 1 for x in tensors.values()) == 5
    keep = ck.keep_in_16bit(inline, margin_db=3.0)
    for scheme, g in keep.groupby("scheme"):
        s = inline[(inline["scheme"] == scheme) & np.isfinite(inline["sqnr_db"])]
        assert (g["sqnr_db"] < s["sqnr_db"].median() - 3.0).all()
        assert g["sqnr_db"].is_monotonic_increasing


# ---------------------------------------------------------------- the same report on Dask
@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    c = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    yield c
    c.close()


def test_two_local_worker_processes_give_the_identical_report(sharded, inline, cluster):
    seen = []
    df = ql.checkpoint_report(sharded[0], SCHEMES, scheduler=cluster.scheduler_address, chunk_bytes=CHUNK,
                              progress=seen.append)
    pd.testing.assert_frame_equal(df, inline, check_exact=True)
    assert [p.tensors_done for p in seen] == list(range(1, len(seen) + 1)) and seen[-1].bytes_done == seen[-1].bytes_total


@pytest.mark.slow
def test_one_worker_of_a_cluster_the_report_starts_itself_gives_the_identical_report(sharded, inline):
    df = ql.checkpoint_report(sharded[0], SCHEMES, workers=1, chunk_bytes=CHUNK)
    pd.testing.assert_frame_equal(df, inline, check_exact=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_a_dask_scheduler_and_worker_started_by_hand_give_the_identical_report(sharded, inline, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    address = f"tcp://127.0.0.1:{_free_port()}"
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    procs = [subprocess.Popen(dask + ["--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1], "--no-dashboard"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        procs.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
                                       "--no-dashboard", "--local-directory", str(tmp_path)],
                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        df = ql.checkpoint_report(sharded[0], SCHEMES, scheduler=address, chunk_bytes=CHUNK, timeout=60)
        pd.testing.assert_frame_equal(df, inline, check_exact=True)
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def test_an_unreachable_scheduler_is_named_and_no_report_is_made(sharded):
    address = f"tcp://127.0.0.1:{_free_port()}"
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=f"cannot reach the Dask scheduler at {address}"):
        ql.checkpoint_report(sharded[0], ["nf4"], scheduler=address, timeout=1)
    assert time.perf_counter() - t0 < 20


# ---------------------------------------------------------------- GGUF
def test_a_gguf_checkpoint_matches_the_quantizer_on_what_gguf_py_reads(tmp_path):
    from gguf import GGMLQuantizationType, GGUFReader, GGUFWriter
    from gguf.quants import dequantize, quantize

    rng = np.random.default_rng(3)
    path = tmp_path / "tiny.gguf"
    w = GGUFWriter(str(path), "llama")
    w.add_tensor("token_embd.weight", (rng.standard_normal((32, 64)) * 0.02).astype(np.float16))
    w.add_tensor("blk.0.attn_q.weight", (rng.standard_normal((64, 64)) * 0.02).astype(np.float32))
    q8 = quantize((rng.standard_normal((48, 64)) * 0.02).astype(np.float32), GGMLQuantizationType.Q8_0)
    w.add_tensor("blk.0.ffn_down.weight", q8, raw_dtype=GGMLQuantizationType.Q8_0)
    w.add_tensor("output_norm.weight", (1 + 0.1 * rng.standard_normal(64)).astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    ref = {}
    for t in GGUFReader(str(path)).tensors:
        shape = tuple(int(n) for n in reversed(t.shape))
        ref[t.name] = dequantize(np.asarray(t.data), t.tensor_type).reshape(shape).astype(np.float32)
    schemes = [ql.Quantizer("symmetric", bits=4), ql.Quantizer("q4_0")]
    df = ql.checkpoint_report(path, schemes, workers=0, chunk_bytes=4096)
    assert sorted(ref) == sorted(set(df["tensor"]))
    per = df.drop_duplicates("tensor").set_index("tensor")
    assert per.loc["blk.0.ffn_down.weight", "dtype"] == "Q8_0" and per.loc["token_embd.weight", "dtype"] == "F16"
    assert per.loc["blk.0.ffn_down.weight", "chunks"] > 1
    assert per.loc["blk.0.attn_q.weight", "kind"] == "attn_q" and per.loc["blk.0.attn_q.weight", "layer"] == 0
    for _, row in df.iterrows():
        x = ref[row["tensor"]]
        m = next(q for q in schemes if q.label == row["scheme"])(x).metrics(x)
        assert row["mse"] == pytest.approx(m.mse, rel=sum_rtol(x.size), abs=0)
        assert row["clip_ratio"] == m.clip_ratio


# ---------------------------------------------------------------- bad checkpoints
def _copy(sharded, tmp_path) -> Path:
    import shutil

    dst = tmp_path / "ckpt"
    shutil.copytree(sharded[0], dst)
    return dst


def test_a_missing_shard_is_named(sharded, tmp_path):
    d = _copy(sharded, tmp_path)
    (d / "model-00002-of-00003.safetensors").unlink()
    with pytest.raises(ValueError, match=r"shard 'model-00002-of-00003.safetensors' .* is missing"):
        ql.checkpoint_report(d, ["nf4"], workers=0)


def test_a_truncated_shard_is_named(sharded, tmp_path):
    d = _copy(sharded, tmp_path)
    f = d / "model-00003-of-00003.safetensors"
    f.write_bytes(f.read_bytes()[:-100])
    with pytest.raises(ValueError, match=r"model-00003-of-00003.safetensors: tensor .* \(truncated or forged\)"):
        ql.checkpoint_report(d, ["nf4"], workers=0)


@pytest.mark.parametrize("shard", ["../outside.safetensors", "/etc/passwd", "sub/../../outside.safetensors",
                                   "link.safetensors"], ids=["dotdot", "absolute", "nested-dotdot", "symlink-out"])
def test_an_index_pointing_outside_the_folder_is_refused(sharded, tmp_path, shard):
    d = _copy(sharded, tmp_path)
    (tmp_path / "outside.safetensors").write_bytes((d / "model-00001-of-00003.safetensors").read_bytes())
    (d / "link.safetensors").symlink_to(tmp_path / "outside.safetensors")
    index = json.loads((d / ck.INDEX).read_text())
    index["weight_map"][next(iter(index["weight_map"]))] = shard
    (d / ck.INDEX).write_text(json.dumps(index))
    with pytest.raises(ValueError, match="outside the checkpoint folder"):
        ql.checkpoint_report(d, ["nf4"], workers=0)


def test_a_shard_cut_short_after_the_check_fails_the_report_instead_of_skipping(sharded, tmp_path, monkeypatch):
    d = _copy(sharded, tmp_path)
    refs = ck.open_checkpoint(d)
    victim = refs[3]
    Path(victim.file).write_bytes(Path(victim.file).read_bytes()[:victim.offset])  # truncated between plan and read
    monkeypatch.setattr(ck, "open_checkpoint", lambda path: refs)
    with pytest.raises(ValueError, match=f"{Path(victim.file).name}: tensor {victim.name!r}: cannot map"):
        ql.checkpoint_report(d, ["nf4"], workers=0)


def test_the_cli_writes_the_report_and_no_report_on_error(sharded, tmp_path, capsys):
    from quantlib.cli import main

    out, page = tmp_path / "r.parquet", tmp_path / "r.html"
    assert main(["checkpoint", str(sharded[0]), "--schemes", "nf4,fp8_e4m3fn", "--workers", "0", "--out", str(out),
                 "--html", str(page), "--chunk-mb", str(CHUNK / 2**20)]) == 0
    got = ck.read_report(out.read_bytes())
    want = ql.checkpoint_report(sharded[0], ["nf4", "fp8_e4m3fn"], workers=0, chunk_bytes=CHUNK)
    pd.testing.assert_frame_equal(got, want, check_exact=True)  # the slices depend on the schemes' blocks: same set
    assert "SQNR per layer and kind: nf4" in page.read_text()
    assert "tensors ·" in capsys.readouterr().err
    bad = tmp_path / "bad"
    bad.mkdir()
    assert main(["checkpoint", str(bad), "--schemes", "nf4", "--workers", "0", "--out", str(tmp_path / "x.parquet")]) == 1
    assert ck.INDEX in capsys.readouterr().err and not (tmp_path / "x.parquet").exists()


# ---------------------------------------------------------------- names
@pytest.mark.parametrize("name, layer, kind", [
    ("model.layers.7.self_attn.q_proj.weight", 7, "attn_q"),  # Llama / Mistral / Qwen
    ("model.layers.0.self_attn.k_proj.bias", 0, "attn_k"),  # Qwen2 has q/k/v biases
    ("model.layers.31.mlp.gate_proj.weight", 31, "mlp_gate"),
    ("model.layers.2.mlp.down_proj.weight", 2, "mlp_down"),
    ("model.layers.2.post_attention_layernorm.weight", 2, "norm"),
    ("model.embed_tokens.weight", None, "embedding"),
    ("lm_head.weight", None, "lm_head"),
    ("encoder.layer.3.attention.self.value.weight", 3, "attn_v"),  # BERT
    ("encoder.layer.3.attention.output.dense.weight", 3, "attn_o"),
    ("encoder.layer.3.attention.output.LayerNorm.weight", 3, "norm"),
    ("encoder.layer.3.intermediate.dense.weight", 3, "mlp_up"),
    ("encoder.layer.3.output.dense.weight", 3, "mlp_down"),
    ("embeddings.word_embeddings.weight", None, "embedding"),
    ("transformer.h.11.attn.c_attn.weight", 11, "attn_qkv"),  # GPT-2
    ("transformer.h.11.attn.c_proj.weight", 11, "attn_o"),
    ("transformer.h.11.mlp.c_fc.weight", 11, "mlp_up"),
    ("transformer.h.11.mlp.c_proj.weight", 11, "mlp_down"),
    ("transformer.h.0.ln_1.weight", 0, "norm"),
    ("transformer.wte.weight", None, "embedding"),
    ("blk.5.ffn_up.weight", 5, "mlp_up"),  # GGUF
    ("output.weight", None, "lm_head"),
    ("rotary.inv_freq", None, "other"),
], ids=lambda v: str(v))
def test_layer_and_kind_from_common_naming_schemes(name, layer, kind):
    assert layer_index(name) == layer and tensor_kind(name) == kind


# ---------------------------------------------------------------- the specs' slicing rules
def _sliceable():
    out = []
    for name, spec in ql.SCHEMES.items():
        for extra in ({}, {"granularity": "per_channel"}, {"granularity": "per_group", "group_size": 64},
                      {"scaling": "per_channel"}, {"power_of_two": True, "bits": 4}, {"narrow_range": True, "bits": 3},
                      {"signed": False}, *({"convention": c, "bits": 4} for c in ql.CONVENTIONS)):
            try:
                q = ql.Quantizer(name, **extra)
                q(np.linspace(-1, 1, 48 * 256, dtype=np.float32).reshape(48, 256))
            except ValueError:  # a setting the scheme lacks, or a combination it refuses on any tensor
                continue
            if spec.chunking(q.settings, (48, 256)) is not None and q.label not in [p.id for p in out]:
                out.append(pytest.param(q, id=q.label))
    return out


@pytest.mark.parametrize("q", _sliceable())
def test_a_spec_that_says_it_slices_gives_the_whole_tensors_values_on_every_slice(q):
    """Chunking is knowledge on the spec: every scheme that claims it, run on row slices at its quantum (per-tensor
    ranges pinned from the whole tensor's min and max), rebuilds exactly the values it gives the whole tensor."""
    x = (np.random.default_rng(7).standard_normal((48, 256)) * np.linspace(0.5, 3, 48)[:, None]).astype(np.float32)
    x[5, 7] = 9.0  # an outlier: the per-tensor range is not any slice's range
    whole = q(x)
    rule = q.spec.chunking(q.settings, x.shape)
    settings, shared = rule.pin(dict(q.settings), float(x.min()), float(x.max())) if rule.pin else (q.settings, 0.0)
    rows = max(1, rule.quantum // 256) if rule.quantum > 256 else 1
    rows = rows * 3  # slices of several rows, a multiple of the quantum
    parts = [ql.Quantizer(q.name, **settings)(x[a:a + rows]) for a in range(0, 48, rows)]
    assert np.array_equal(np.concatenate([p.dequantized for p in parts]), whole.dequantized)
    bits = sum(p.bits_per_element * p.dequantized.size for p in parts) - (len(parts) - 1) * shared
    assert bits / x.size == pytest.approx(whole.bits_per_element, rel=1e-12)


# ---------------------------------------------------------------- any shape, any slice size
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as hs  # noqa: E402

HYPO_SCHEMES = [ql.Quantizer("symmetric", bits=4), ql.Quantizer("asymmetric", bits=3, granularity="per_channel"),
                ql.Quantizer("nf4"), ql.Quantizer("q4_0"), ql.Quantizer("fp8_e5m2")]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=hs.integers(1, 40), cols=hs.sampled_from([32, 64, 96, 256]), half=hs.booleans(),
       chunk=hs.integers(4, 3 * 2**14), seed=hs.integers(0, 2**16))
def test_any_shape_and_slice_size_gives_the_whole_tensors_metrics(tmp_path_factory, rows, cols, half, chunk, seed):
    from safetensors.numpy import save_file

    x = (np.random.default_rng(seed).standard_t(3, (rows, cols)) * 0.05).astype(np.float16 if half else np.float32)
    path = tmp_path_factory.mktemp("hypo") / "t.safetensors"
    save_file({"model.layers.0.mlp.up_proj.weight": x}, str(path))
    df = ql.checkpoint_report(path, HYPO_SCHEMES, workers=0, chunk_bytes=chunk)
    x32 = x.astype(np.float32)
    for q, (_, row) in zip(HYPO_SCHEMES, df.iterrows()):
        try:
            m = q(x32).metrics(x32)
        except ValueError as exc:
            assert row["note"] == str(exc)
            continue
        assert row["mse"] == pytest.approx(m.mse, rel=sum_rtol(x.size), abs=0)
        assert row["clip_ratio"] == m.clip_ratio
        assert row["bits_per_element"] == pytest.approx(m.bits_per_element, rel=1e-12)
