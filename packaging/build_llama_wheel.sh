#!/usr/bin/env bash
# Build llama-cpp-python (the version pinned in pyproject.toml) as a wheel that runs on
# other machines, and install it into the build environment:
#
#   packaging/build_llama_wheel.sh           # CPU: portable x86-64-v3 (AVX2, FMA, F16C)
#   packaging/build_llama_wheel.sh --cuda    # CUDA: the above plus NVIDIA GPU offload
#
# A plain `pip install llama-cpp-python` compiles llama.cpp for the build machine's own
# CPU (-march=native): a package made from it can crash with "illegal instruction" on an
# older CPU. Release packages are built from the wheel this script makes.
#
# --cuda needs the CUDA toolkit (nvcc, CUDA 12.x) and compiles kernels for the GPU
# generations in CUDA_ARCHITECTURES (default "75;80;86;89;90": Turing such as T4 and
# RTX 20xx, A100, RTX 30xx/A-series, RTX 40xx/L4/L40, H100). Add 120 for RTX 50xx /
# Blackwell (CUDA 12.8 or newer). Each architecture adds build time and size.
# The CUDA build links the NVIDIA driver library (libcuda.so.1), so the package that uses
# it needs the NVIDIA driver on the target machine; the CUDA runtime (cudart, cuBLAS)
# is bundled by PyInstaller.
#
# Environment: PYTHON (default: the active virtualenv's python, else python3), JOBS
# (parallel compile jobs, default: all cores), WHEEL_DIR (default dist/wheels).
set -euo pipefail
cd "$(dirname "$0")/.."

cuda=0
case "${1:-}" in
    --cuda) cuda=1 ;;
    "") ;;
    *) echo "build_llama_wheel.sh: unknown option $1" >&2; exit 2 ;;
esac
py=${PYTHON:-${VIRTUAL_ENV:+$VIRTUAL_ENV/bin/python}}
py=${py:-python3}
pin=$(grep -o '"llama-cpp-python==[^"]*"' pyproject.toml | tr -d '"')
wheels=${WHEEL_DIR:-dist/wheels}

cmake_args="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
if [ "$cuda" = 1 ]; then
    command -v nvcc >/dev/null || { echo "build_llama_wheel.sh: nvcc not found" >&2; exit 1; }
    archs=${CUDA_ARCHITECTURES:-75;80;86;89;90}
    cmake_args="$cmake_args -DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=$archs"
    echo "== $pin with CUDA $(nvcc --version | grep -o 'release [0-9.]*'), architectures $archs"
else
    echo "== $pin for the CPU (x86-64-v3)"
fi
export CMAKE_ARGS=$cmake_args
export CMAKE_BUILD_PARALLEL_LEVEL=${JOBS:-$(nproc)}
mkdir -p "$wheels"
rm -f "$wheels"/llama_cpp_python-*.whl
"$py" -m pip wheel --no-deps --no-cache-dir --no-binary llama-cpp-python -w "$wheels" "$pin"
"$py" -m pip install --force-reinstall --no-deps "$wheels"/llama_cpp_python-*.whl
"$py" -c 'import llama_cpp; print("GPU offload:", bool(llama_cpp.llama_supports_gpu_offload()))'
