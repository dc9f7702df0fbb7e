"""The README's commands and example stay true."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_opens_with_the_two_commands_and_ci_runs_the_test_one():
    first_block = re.search(r"```bash\n(.*?)```", README, re.S).group(1).strip().splitlines()
    assert len(first_block) == 2
    app_cmd, test_cmd = (line.split("#")[0].strip() for line in first_block)
    assert app_cmd.endswith("streamlit run app.py") and "pip install" in app_cmd
    # .ci/run reads both lines from the README itself (its readme_cmd), so the two cannot drift apart
    ci = (ROOT / ".ci" / "run").read_text()
    (helper,) = [line for line in ci.splitlines() if line.startswith("readme_cmd()")]
    read = [subprocess.run(["bash", "-c", f"{helper}\nreadme_cmd {n}"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.strip() for n in (1, 2)]
    assert read == [app_cmd, test_cmd]
    assert 'bash -c "$app_cmd"' in ci and 'bash -c "$test_cmd"' in ci and "python3 -m venv" in ci


def test_readme_example_runs(capsys):
    code = re.search(r"```python\n(.*?)```", README, re.S).group(1)
    exec(compile(code, "README.md", "exec"), {})
    assert "[10 20 30 40 50]" in capsys.readouterr().out
