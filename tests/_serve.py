"""The real app served on loopback for browser tests: Debian's chromium and fonts (installed when
missing, once per run; CI runs as root) and ``streamlit run app.py`` on a free port."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


#: Debian packages of the browser tests: the browser, and fonts for Latin and CJK text (a page in 中文
#: would otherwise draw boxes in screenshots and measure differently).
PACKAGES = ("chromium", "fonts-liberation", "fonts-noto-cjk")
_LOCK = Path(tempfile.gettempdir()) / "quantization-explorer-chromium.lock"


def _browser_ready() -> bool:
    """The browser and every package of PACKAGES are installed (dpkg's word where there is dpkg)."""
    if not Path(CHROMIUM).exists():
        return False
    if not shutil.which("dpkg-query"):
        return True
    out = subprocess.run(["dpkg-query", "-W", "-f", "${db:Status-Status}\n", *PACKAGES], capture_output=True, text=True)
    return out.returncode == 0 and out.stdout.split() == ["installed"] * len(PACKAGES)


def _apt_install() -> str | None:
    """apt-get update + install of PACKAGES; None on success, else why not (apt's last words)."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return (f"Debian's chromium or its fonts are missing ({CHROMIUM}, {', '.join(PACKAGES)}) and cannot be installed "
                f"here: that needs root and apt-get. Install the packages {' '.join(PACKAGES)} and run again.")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", *PACKAGES]):
        out = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if out.returncode != 0:
            return f"`{' '.join(cmd)}` failed with exit {out.returncode}:\n{(out.stdout + out.stderr)[-2000:]}"
    return None if _browser_ready() else f"apt-get installed {' '.join(PACKAGES)} but {CHROMIUM} is still missing"


def ensure_chromium() -> None:
    """Debian's chromium and fonts, installed when missing, at most once per test run.

    The suite's worker processes (pytest-xdist) each call this before serving the app: they take
    a file lock around apt-get, so a second worker waits for the first one's install instead of
    racing it for dpkg's lock. An install that failed is written under the lock with the run's id
    (``PYTEST_XDIST_TESTRUNUID``, shared by the workers of one run), and every later caller in that
    run fails with the same message rather than trying again.
    """
    if _browser_ready():
        return
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", f"pid-{os.getpid()}")
    with open(_LOCK, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if _browser_ready():
                return
            lock.seek(0)
            earlier = lock.read()
            if earlier.startswith(run + "\n"):
                pytest.fail(earlier[len(run) + 1:], pytrace=False)
            error = _apt_install()
            if error is not None:
                lock.truncate(0)
                lock.write(f"{run}\n{error}")
                lock.flush()
                pytest.fail(error, pytrace=False)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve() -> Iterator[tuple[str, subprocess.Popen]]:
    """``streamlit run app.py`` on 127.0.0.1; yields (url, process) once /_stcore/health answers."""
    ensure_chromium()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.address",
         "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    pytest.fail("streamlit did not start within 60 s")
                time.sleep(0.3)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
