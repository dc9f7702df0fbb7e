"""The Checkpoint page under AppTest: open a report file, run a report on an uploaded checkpoint, bad files."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from conftest import open_app

import quantlib as ql
from quantlib import checkpoint as ck


def _safetensors(tmp_path) -> bytes:
    from safetensors.numpy import save_file

    rng = np.random.default_rng(1)
    t = {f"model.layers.{i}.mlp.up_proj.weight": (rng.standard_normal((32, 64)) * 0.02).astype(np.float32)
         for i in range(3)}
    t["model.layers.1.mlp.up_proj.weight"][0, :4] = 0.5  # 25 sigma: the per-tensor grid loses the rest
    t["model.norm.weight"] = (1 + 0.01 * rng.standard_normal(64)).astype(np.float32)
    save_file(t, str(tmp_path / "m.safetensors"))
    return (tmp_path / "m.safetensors").read_bytes()


@pytest.fixture(scope="module")
def checkpoint_file(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("page")
    data = _safetensors(tmp)
    return tmp / "m.safetensors", data


def _chart(at) -> dict:
    return json.loads(next(c for c in at.get("plotly_chart") if "fig.checkpoint_heatmap" in c.proto.id).proto.spec)


def test_a_report_file_opens_with_its_heatmap_totals_and_table(checkpoint_file):
    path, _ = checkpoint_file
    report = ql.checkpoint_report(path, ["symmetric", "nf4"], bits=4, workers=0)
    at = open_app("checkpoint")
    assert any("Open a report" in i.value for i in at.info)
    at.file_uploader(key="checkpoint.report_file").set_value(("r.parquet", ck.report_parquet(report),
                                                              "application/octet-stream")).run()
    assert not at.exception
    table = next(d.value for d in at.dataframe if "excess_kurtosis" in d.value.columns)
    pd.testing.assert_frame_equal(table.reset_index(drop=True), report, check_exact=True)
    fig = _chart(at)
    heat = fig["data"][0]
    assert heat["x"] == ["0", "1", "2", "–"] and heat["y"] == ["mlp_up", "norm"]
    want = report[(report["scheme"] == report["scheme"].iloc[0]) & (report["kind"] == "mlp_up")]["sqnr_db"].tolist()
    assert heat["z"][0][:3] == pytest.approx(want, rel=1e-12)
    totals = next(d.value for d in at.dataframe if "vs_stored" in d.value.columns)
    assert totals["scheme"].tolist() == ["stored", *dict.fromkeys(report["scheme"])]
    assert [b.label for b in at.get("download_button")] == ["report .parquet", "report .html"]


def test_the_keep_list_names_the_layer_with_the_outlier(checkpoint_file):
    path, _ = checkpoint_file
    report = ql.checkpoint_report(path, ["symmetric"], bits=4, workers=0)
    at = open_app("checkpoint", {"checkpoint.margin": "3.0"})
    at.file_uploader(key="checkpoint.report_file").set_value(("r.parquet", ck.report_parquet(report),
                                                              "application/octet-stream")).run()
    keep = next(d.value for d in at.dataframe if "below_median_db" in d.value.columns)
    assert "model.layers.1.mlp.up_proj.weight" in keep["tensor"].tolist()


def test_a_bad_report_file_says_why_and_the_app_stays_alive():
    at = open_app("checkpoint")
    at.file_uploader(key="checkpoint.report_file").set_value(("r.parquet", b"PAR1 not really", "application/x")).run()
    assert not at.exception
    assert any("not a parquet file" in e.value for e in at.error)
    buf = io.BytesIO()
    pd.DataFrame({"a": [1]}).to_parquet(buf)
    at.file_uploader(key="checkpoint.report_file").set_value(("x.parquet", buf.getvalue(), "application/x")).run()
    assert any("not a checkpoint report; missing columns" in e.value for e in at.error)


def test_an_uploaded_checkpoint_is_reported_here(checkpoint_file):
    path, data = checkpoint_file
    at = open_app("checkpoint", {"checkpoint.source": "run on a checkpoint", "checkpoint.schemes": ["nf4", "q8_0"]})
    at.file_uploader(key="checkpoint.file").set_value(("m.safetensors", data, "application/octet-stream")).run()
    at.button(key="checkpoint.run").click().run()
    assert not at.exception
    table = next(d.value for d in at.dataframe if "excess_kurtosis" in d.value.columns).reset_index(drop=True)
    want = ql.checkpoint_report(path, ["nf4", "q8_0"], bits=4, workers=0)
    pd.testing.assert_frame_equal(table.drop(columns="file"), want.drop(columns="file"), check_exact=True)
    assert set(table["file"]) == {"upload.safetensors"}


def test_a_truncated_uploaded_checkpoint_is_refused_by_name(checkpoint_file):
    _, data = checkpoint_file
    at = open_app("checkpoint", {"checkpoint.source": "run on a checkpoint"})
    at.file_uploader(key="checkpoint.file").set_value(("cut.safetensors", data[:-50], "application/x")).run()
    at.button(key="checkpoint.run").click().run()
    assert not at.exception
    err = " ".join(e.value for e in at.error)
    assert "cut\\.safetensors" in err and "truncated or forged" in err and "/tmp" not in err
