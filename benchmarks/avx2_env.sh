# Source this (`. benchmarks/avx2_env.sh`) to make an AVX-512 machine dispatch like an AVX2-only one,
# for the test suite or benchmarks/run.py: numpy's SIMD dispatch, OpenBLAS, torch (ATen, MKL, oneDNN)
# and numba's code generation all stop at AVX2 + FMA. onnxruntime's MLAS cannot be switched; its
# QuantizeLinear and Reduce{Min,Max} kernels are elementwise / order-free, so they agree anyway.
# numpy 2.x ignores the old per-feature names (AVX512F ...): it takes the x86-64-v4 group name.
export NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL AVX512_SPR"
export OPENBLAS_CORETYPE=Haswell
export ATEN_CPU_CAPABILITY=avx2
export MKL_ENABLE_INSTRUCTIONS=AVX2
export ONEDNN_MAX_CPU_ISA=AVX2
export DNNL_MAX_CPU_ISA=AVX2
export NUMBA_CPU_NAME=haswell
