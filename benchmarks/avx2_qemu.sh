#!/usr/bin/env bash
# Run pytest (or any Python command) on an emulated AVX2-only CPU: qemu-user with `-cpu Haswell`
# reports a Haswell CPUID (AVX2 + FMA, no AVX-512) to everything in the process, so numpy, OpenBLAS,
# torch, onnxruntime's MLAS and numba/LLVM all pick their AVX2 code paths by themselves — unlike
# benchmarks/avx2_env.sh, which asks each library to stop at AVX2 and cannot reach MLAS. About 20-60x
# slower than native: use it for the numerical tests, not the browser or load tests.
#   apt-get install -y qemu-user        (Debian's package; once)
#   bash benchmarks/avx2_qemu.sh -m pytest tests/test_metrics.py -q -m "not slow"
# Check what dispatched:
#   bash benchmarks/avx2_qemu.sh -c "import numpy, torch; numpy.show_runtime(); print(torch.backends.cpu.get_cpu_capability())"
set -euo pipefail
command -v qemu-x86_64 >/dev/null || { echo "qemu-x86_64 missing: apt-get install -y qemu-user" >&2; exit 2; }
PY="$(python -c 'import sys; print(sys.executable)')"  # the real interpreter, not a pyenv shim script
# qemu warns once per CPUID feature it cannot emulate (pcid, x2apic, hle, rtm …): none matters here.
exec qemu-x86_64 -cpu Haswell "$PY" "$@" 2> >(grep -v "TCG doesn't support requested feature" >&2)
