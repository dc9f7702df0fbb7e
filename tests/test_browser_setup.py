"""The browser tests' set-up (tests/_serve.ensure_chromium): Debian's chromium is installed at most
once per run even when the suite's two processes need it at the same moment, and a failed install
is one clear failure for every process of that run, not a race for dpkg's lock."""

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# A worker process: the browser is missing, and "installing" it takes a while and fails (or succeeds)
# while recording each attempt, so the test sees how many installs ran and what each worker was told.
WORKER = """
import json, sys, time
from pathlib import Path
import _serve

attempts, outcome = Path(sys.argv[1]), sys.argv[2]
_serve._LOCK = Path(sys.argv[3])
installed = Path(sys.argv[4])
_serve._browser_ready = installed.exists

def install():
    with attempts.open("a") as f:
        f.write("x")
    time.sleep(1.0)  # long enough for the other worker to arrive while apt-get would run
    if outcome == "ok":
        installed.touch()
        return None
    return "apt-get install chromium failed: E: Could not get lock /var/lib/dpkg/lock-frontend"

_serve._apt_install = install
try:
    _serve.ensure_chromium()
    print(json.dumps("ready"))
except BaseException as exc:  # pytest.fail raises an OutcomeException, not an Exception
    print(json.dumps(f"{type(exc).__name__}: {exc}"))
"""


def _workers(tmp_path: Path, outcome: str, run_id: str, n: int = 2) -> list[str]:
    env = {**os.environ, "PYTEST_XDIST_TESTRUNUID": run_id, "PYTHONPATH": str(HERE)}
    args = [str(tmp_path / "attempts"), outcome, str(tmp_path / "lock"), str(tmp_path / "installed")]
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, *args], stdout=subprocess.PIPE, text=True, env=env)
             for _ in range(n)]
    return [json.loads(p.communicate(timeout=60)[0].strip().splitlines()[-1]) for p in procs]


def attempts(tmp_path: Path) -> int:
    path = tmp_path / "attempts"
    return len(path.read_text()) if path.exists() else 0


def test_two_workers_install_once_and_both_get_the_browser(tmp_path):
    assert _workers(tmp_path, "ok", "run-a") == ["ready", "ready"]
    assert attempts(tmp_path) == 1


def test_a_failed_install_is_one_failure_told_to_every_worker_of_the_run(tmp_path):
    told = _workers(tmp_path, "fail", "run-b", n=3)
    assert attempts(tmp_path) == 1
    assert len(set(told)) == 1 and "Could not get lock" in told[0] and told[0].startswith("Failed"), told


def test_a_new_run_tries_the_install_again(tmp_path):
    _workers(tmp_path, "fail", "run-c", n=1)
    assert _workers(tmp_path, "ok", "run-d", n=1) == ["ready"]
    assert attempts(tmp_path) == 2
