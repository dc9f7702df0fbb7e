"""Every page, driven through streamlit.testing.v1.AppTest."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import quantlib as ql

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture
def app():
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception
    return at


def _metric(at, label):
    return next(m.value for m in at.metric if m.label == label)


def test_explore_shows_real_results(app):
    x = ql.synthetic("normal", 2**16, 0)
    expected = ql.Quantizer("symmetric")(x).metrics(x)
    assert _metric(app, "SQNR") == f"{expected.sqnr_db:.2f} dB"
    assert len(app.get("plotly_chart")) == 2


def test_bits_slider_changes_the_result(app):
    app.slider(key="symmetric.bits").set_value(4).run()
    x = ql.synthetic("normal", 2**16, 0)
    assert _metric(app, "SQNR") == f"{ql.Quantizer('symmetric', bits=4)(x).metrics(x).sqnr_db:.2f} dB"


@pytest.mark.parametrize("scheme", sorted(ql.SCHEMES))
def test_every_registry_scheme_renders(app, scheme):
    app.selectbox[0].set_value(scheme).run()
    assert not app.exception and not app.error
    assert len(app.get("plotly_chart")) == 2


def test_bad_settings_show_a_message_and_keep_the_app_alive(app):
    app.selectbox[0].set_value("symmetric").run()
    app.selectbox(key="symmetric.granularity").set_value("per_channel").run()  # 1-D data: refused
    assert not app.exception
    assert "at least 2 dimensions" in app.error[0].value
    app.selectbox(key="symmetric.granularity").set_value("per_tensor").run()
    assert not app.error and len(app.get("plotly_chart")) == 2
