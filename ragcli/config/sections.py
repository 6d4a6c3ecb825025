"""The settings: one frozen, typed object with a section per stage.

Loaded at the edge by ``ragcli.config.load_settings`` and passed down; nothing below reads the
environment. Every field is documented, with its default, in ``configs/default.toml``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, kw_only=True)
class IndexSettings:
    # Empty means "the per-user data directory"; resolved in load_settings.
    dir: str = ""
    # Vector backend: "faiss" (exact inner product), or "numpy" (the reference fake).
    vectors: str = "faiss"
    # FAISS only: from this many chunks on, an approximate IVF index with 8-bit scalar
    # quantization replaces exact search (a quarter of the memory, a fraction of the time).
    ann_threshold: int = 200_000
    # IVF cells; 0 picks about 2 * sqrt(chunks).
    ann_lists: int = 0
    # IVF cells visited per query: more is slower and closer to exact search.
    nprobe: int = 48
    # Memory-map the saved approximate index instead of reading it into memory.
    mmap: bool = True


@dataclass(frozen=True)
class IngestSettings:
    # Index files that symbolic links inside the folders point to elsewhere (/etc, another user's home).
    follow_links: bool = False
    # Patterns in .gitignore's syntax, relative to each folder ingested: only files matching an
    # include pattern (when any is set), none matching an exclude pattern. For one folder only, use
    # `rag ingest FOLDER --exclude ...` (remembered) or a .ragignore file in it.
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    # `rag ingest --log FILE` (what `rag schedule` runs): past this size the log is moved to FILE.1
    # (replacing an older one) and a new one started, so a nightly log never fills the disk.
    log_max_kb: int = 4096
    # A new document is a copy, kept out of the search, when this share of its text (five-word
    # sequences, sampled) is in one indexed document already; 0 indexes every copy.
    near_duplicates: float = 0.8
    # A Ray cluster that parses, chunks and embeds (`rag ingest --ray ADDRESS`; "auto" finds a
    # running one; "local" starts one in this process); "" ingests on this machine.
    ray: str = ""
    # Files sent to one Ray task, and how often a task whose worker died is run again.
    ray_files_per_task: int = 16
    ray_retries: int = 2


@dataclass(frozen=True)
class ChunkingSettings:
    # Measured in the embedder's own tokens; clamped to the embedder's window.
    tokens: int = 200
    overlap: int = 32


@dataclass(frozen=True, kw_only=True)
class EmbeddingSettings:
    model: str = "all-minilm-l6-v2"
    batch_size: int = 32
    device: str = "cpu"
    # "onnx" (ONNX Runtime, no torch on the query path; exported once into cache_dir) or "torch".
    backend: str = "onnx"
    # ONNX only: "fp32" (same vectors as torch) or "int8" (dynamic quantization; needs its own index).
    precision: str = "fp32"
    # ONNX Runtime threads; 0 lets it use every core.
    threads: int = 0
    # Tokens of each text the embedder reads (0: the whole chunk); the lexical index keeps every
    # token. The "fast" profile's lever (benchmarks/RESULTS.md, "Ingest profiles"); needs its own index.
    read_tokens: int = 0


@dataclass(frozen=True, kw_only=True)
class RetrievalSettings:
    k: int = 5
    # Candidates pulled from each of the dense and lexical lists before fusion.
    candidates: int = 50
    lexical: bool = True
    dense_weight: float = 1.0
    # Keyword evidence (exact option names, error codes) counts more than the dense match
    # (benchmarks/RESULTS.md, "Retrieval pipelines").
    lexical_weight: float = 1.5
    # BM25 weight of a chunk's title/heading line against its text (1.0): headings name what a
    # section is about (benchmarks/RESULTS.md, "Retrieval pipelines").
    heading_weight: float = 1.5
    rrf_k: int = 60
    max_per_page: int = 2
    # Adjacent chunks of one document that are both hit come back as one passage.
    merge_adjacent: bool = True
    # Chunks added on each side of a hit for context (0: none).
    neighbours: int = 0
    # A shorter passage (a title or synopsis line) continues with the chunks after it on its page.
    min_passage_chars: int = 200
    # Search only documents whose path matches one of these globs / of these kinds (empty: all).
    paths: tuple[str, ...] = ()
    types: tuple[str, ...] = ()


@dataclass(frozen=True)
class AnswerSettings:
    """The evidence gate: when `ask` abstains without calling the model."""

    # No passage is at least this similar to the question (cosine; 0: off).
    min_similarity: float = 0.0
    # The question names something (GitLab, WebP) that no indexed chunk mentions.
    unknown_names: bool = True


@dataclass(frozen=True, kw_only=True)
class RerankingSettings:
    # "off"; "on" (fails when the model is missing); "auto" (on when the model is installed and
    # `device` is a GPU: on CPU the second stage costs seconds per query, benchmarks/RESULTS.md).
    mode: str = "auto"
    # "all-mpnet-base-v2" (bundled, re-scores as a bi-encoder), "overlap" (a test fake),
    # or the path of a local CrossEncoder or sentence-transformers folder.
    model: str = "all-mpnet-base-v2"
    # Fused candidates re-scored by the second stage.
    candidates: int = 20
    # Weight of the second stage's ranking against the first stage's fused ranking.
    weight: float = 1.0
    batch_size: int = 16
    device: str = "cpu"
    # Keep second-stage passage vectors in the cache (SQLite, keyed by text hash) across queries.
    cache: bool = True


# Tokens of the context window kept for the chat template, the instruction and the question.
TEMPLATE_TOKENS = 256


@dataclass(frozen=True, kw_only=True)
class GenerationSettings:
    # The best bundled generator on the dev set (benchmarks/RESULTS.md, "Answers, fourth pass").
    model: str = "qwen2.5-coder-1.5b"
    n_ctx: int = 4096
    # About three 200-token passages: prompt tokens are most of the time to first token
    # (benchmarks/RESULTS.md, "Answers, second pass").
    context_tokens: int = 800
    max_answer_tokens: int = 384
    temperature: float = 0.1
    # 0 uses every available core, up to 8 (see generation.llama.default_threads).
    threads: int = 0
    gpu_layers: int = 0
    seed: int = 0
    # A LoRA adapter (GGUF) applied on top of the model; empty for none.
    lora: str = ""
    # Show a reasoning model's <think>...</think> text instead of hiding it.
    show_reasoning: bool = False
    # An OpenAI-compatible server to generate with instead of the in-process model; empty for none.
    endpoint: str = ""
    # The model name sent to it; empty takes the first it lists.
    endpoint_model: str = ""
    # Its bearer token, from the environment (RAG_GENERATION_ENDPOINT_TOKEN); never shown.
    endpoint_token: str = field(default="", repr=False)
    # A file holding that token, read at start.
    endpoint_token_file: str = ""
    # Seconds the server may stay silent (reading the prompt, or between tokens).
    endpoint_timeout_s: float = 120.0
    # Send prompts to an endpoint on another machine.
    allow_remote_endpoint: bool = False


@dataclass(frozen=True, kw_only=True)
class VerificationSettings:
    # How answer sentences are checked against the passages: "lexical", "embedding" or "llm".
    method: str = "lexical"
    # Share of a sentence's new terms that one passage must contain for the sentence to count as supported.
    min_support: float = 0.6
    # Unsupported sentences: "drop" them, or "mark" them and keep them.
    unsupported: str = "drop"
    # The embedding verifier's cosine threshold between a sentence and a passage's sentences.
    min_similarity: float = 0.6
    # Ask once more, for a verbatim quote of the sources, when less than correct_below of the
    # sentences hold (or the draft only restates the question); the quote must hold in full.
    self_correct: bool = True
    correct_below: float = 0.5
    # The judge for method "llm": a bundled name or GGUF path; empty uses the answering model.
    judge_model: str = ""


@dataclass(frozen=True)
class ChatSettings:
    # Earlier turns kept for rewriting follow-up questions.
    history_turns: int = 4
    # Rewrite follow-ups with the generator ("llm") or only by carrying the topic over ("simple").
    rewrite: str = "llm"


@dataclass(frozen=True, kw_only=True)
class ParsingSettings:
    max_file_mb: float = 200.0
    # Each file is parsed in a worker subprocess under these limits; one that overruns is killed and reported.
    timeout_s: float = 120.0
    max_memory_mb: int = 2048
    # Worker subprocesses; 0 picks one per core, up to 4. isolate = false parses in-process (no limits).
    workers: int = 0
    isolate: bool = True
    # OCR pages without a text layer when the tesseract binary is on PATH.
    ocr: bool = True


@dataclass(frozen=True, kw_only=True)
class WatchSettings:
    # `rag watch`: a burst of changes is synced once the folders have been quiet this long...
    quiet_ms: int = 300
    # ... or, while changes keep coming, at least this often.
    max_delay_ms: int = 5000
    # Seconds a re-sync waits for another writer (a cron run, `rag ingest`) before trying later.
    wait_s: float = 3600.0


@dataclass(frozen=True, kw_only=True)
class ServeSettings:
    # `rag serve` listens here. Loopback by default; any other address requires the bearer token.
    host: str = "127.0.0.1"
    port: int = 8765
    # The bearer token a client must send (Authorization: Bearer ...) when the server is not on
    # loopback; made on first use, readable by the owner only. Empty: <state_dir>/serve-token.
    token_file: str = ""
    # Ask for the token on loopback too: on a machine other people log in to, they can reach a
    # loopback port as well.
    require_token: bool = False
    # Host header values accepted besides loopback and the bound address (a name the server is
    # reached by), and browser origins allowed to call it (and sent CORS headers); none by default.
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    # A request body larger than this is refused (413); one that takes longer than this to arrive, too (408).
    max_body_kb: int = 64
    body_timeout_s: float = 10.0
    # Asks waiting for or holding the model at once; more are refused (503) until one ends.
    max_streams: int = 8


@dataclass(frozen=True, kw_only=True)
class Settings:
    index: IndexSettings = field(default_factory=IndexSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    chunking: ChunkingSettings = field(default_factory=ChunkingSettings)
    embedding: EmbeddingSettings = field(default_factory=EmbeddingSettings)
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    reranking: RerankingSettings = field(default_factory=RerankingSettings)
    answer: AnswerSettings = field(default_factory=AnswerSettings)
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    verification: VerificationSettings = field(default_factory=VerificationSettings)
    chat: ChatSettings = field(default_factory=ChatSettings)
    parsing: ParsingSettings = field(default_factory=ParsingSettings)
    watch: WatchSettings = field(default_factory=WatchSettings)
    serve: ServeSettings = field(default_factory=ServeSettings)
    cache_dir: str = ""
    # Where ragcli keeps state between runs (the chat history). Empty: $XDG_STATE_HOME/ragcli.
    state_dir: str = ""
    # What loading noticed for the user (deprecated setting names); not a setting.
    notes: tuple[str, ...] = field(default=(), compare=False)

    @property
    def index_path(self) -> Path:
        return Path(self.index.dir).expanduser().resolve()

    @property
    def cache_path(self) -> Path:
        return Path(self.cache_dir).expanduser()

    @property
    def state_path(self) -> Path:
        return Path(self.state_dir).expanduser()


SECTIONS = {
    "index": IndexSettings, "ingest": IngestSettings, "chunking": ChunkingSettings, "embedding": EmbeddingSettings, "retrieval": RetrievalSettings,
    "reranking": RerankingSettings, "answer": AnswerSettings, "generation": GenerationSettings,
    "verification": VerificationSettings, "chat": ChatSettings, "parsing": ParsingSettings, "watch": WatchSettings,
    "serve": ServeSettings,
}
