"""Plain data passed between the stages: parse -> chunk -> embed -> store -> retrieve -> answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True)
class Section:
    """A run of text that shares one page and one heading path."""

    text: str
    page: int | None = None
    headings: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParsedDocument:
    kind: str
    title: str
    sections: list[Section]
    # Non-fatal problems (e.g. a PDF page without a text layer).
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class Chunk:
    text: str
    page: int | None
    headings: tuple[str, ...]
    # Title and heading path, embedded with the text so a chunk keeps its topic.
    context: str
    ordinal: int

    @property
    def embedding_text(self) -> str:
        return embedding_text(self.context, self.text)


def embedding_text(context: str, text: str) -> str:
    """What the embedder reads for a chunk: its title/heading line, then its text."""
    return f"{context}\n{text}" if context else text


@dataclass(frozen=True, kw_only=True)
class Hit:
    rank: int
    score: float
    path: str
    page: int | None
    chunk_id: int
    text: str
    title: str = ""
    headings: tuple[str, ...] = ()
    # Cosine similarity to the query when the dense search found this chunk.
    similarity: float | None = None
    # Every chunk in the passage, in document order (more than one when adjacent hits or neighbours were merged).
    chunk_ids: tuple[int, ...] = ()

    def to_json(self) -> dict:
        return {
            "rank": self.rank,
            "score": round(self.score, 6),
            "path": self.path,
            "page": self.page,
            "chunk_id": self.chunk_id,
            "text": self.text,
            "title": self.title,
            "headings": list(self.headings),
            "similarity": None if self.similarity is None else round(self.similarity, 6),
            "chunk_ids": list(self.chunk_ids or (self.chunk_id,)),
        }

    @classmethod
    def from_json(cls, data: dict) -> "Hit":
        """The hit ``to_json`` wrote (a running server's answer, read by the CLI)."""
        return cls(
            rank=data["rank"], score=data["score"], path=data["path"], page=data["page"], chunk_id=data["chunk_id"],
            text=data["text"], title=data.get("title", ""), headings=tuple(data.get("headings", ())),
            similarity=data.get("similarity"), chunk_ids=tuple(data.get("chunk_ids", ())),
        )


@dataclass(frozen=True)
class SearchResult:
    query: str
    hits: list[Hit]
    # What a reader should know about these hits (an identifier of the query that no document holds).
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"query": self.query, "hits": [hit.to_json() for hit in self.hits], "notes": list(self.notes)}

    @classmethod
    def from_json(cls, data: dict) -> "SearchResult":
        return cls(query=data["query"], hits=[Hit.from_json(hit) for hit in data["hits"]], notes=list(data.get("notes", ())))


@dataclass(frozen=True, kw_only=True)
class Source:
    n: int
    hit: Hit
    # Whether the answer cites this source; uncited sources were context only.
    cited: bool = False
    # The clauses of the passage that back what the answer says, in passage order.
    evidence: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {
            "n": self.n,
            "path": self.hit.path,
            "page": self.hit.page,
            "chunk_id": self.hit.chunk_id,
            "score": round(self.hit.score, 6),
            "text": self.hit.text,
            "cited": self.cited,
            "evidence": list(self.evidence),
        }

    @classmethod
    def from_json(cls, data: dict) -> "Source":
        hit = Hit(rank=data["n"], score=data["score"], path=data["path"], page=data["page"], chunk_id=data["chunk_id"], text=data["text"])
        return cls(n=data["n"], hit=hit, cited=data.get("cited", False), evidence=tuple(data.get("evidence", ())))


@dataclass(frozen=True, kw_only=True)
class Answer:
    question: str
    text: str
    abstained: bool
    sources: list[Source]
    model: str = ""
    seconds_to_first_token: float | None = None
    seconds: float = 0.0
    completion_tokens: int = 0
    # The model's unfiltered output, and how much of it the passages support.
    draft: str = ""
    verification: dict | None = None
    # Why the answer is an abstention ("" when it is not).
    abstention_reason: str = ""
    # What a reader should know about the answer (it is not in the question's language).
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {
            "question": self.question,
            "answer": self.text,
            "abstained": self.abstained,
            "sources": [source.to_json() for source in self.sources],
            "model": self.model,
            "seconds_to_first_token": None if self.seconds_to_first_token is None else round(self.seconds_to_first_token, 3),
            "seconds": round(self.seconds, 3),
            "completion_tokens": self.completion_tokens,
            "draft": self.draft,
            "verification": self.verification,
            "abstention_reason": self.abstention_reason or None,
            "notes": list(self.notes),
        }

    @classmethod
    def from_json(cls, data: dict) -> "Answer":
        return cls(
            question=data["question"], text=data["answer"], abstained=data["abstained"],
            sources=[Source.from_json(source) for source in data["sources"]], model=data.get("model", ""),
            seconds_to_first_token=data.get("seconds_to_first_token"), seconds=data.get("seconds", 0.0),
            completion_tokens=data.get("completion_tokens", 0), draft=data.get("draft", ""), verification=data.get("verification"),
            abstention_reason=data.get("abstention_reason") or "", notes=tuple(data.get("notes", ())),
        )


@dataclass(frozen=True)
class FileFailure:
    path: str
    error: str


@dataclass(kw_only=True)
class IngestReport:
    indexed: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: list[FileFailure] = field(default_factory=list)
    chunks: int = 0
    seconds: float = 0.0
    # Indexed files with non-fatal problems (pages without a text layer, a page that failed).
    warnings: list[FileFailure] = field(default_factory=list)
    # Files passed over on purpose, with why (a link out of the folders being indexed).
    skipped: list[FileFailure] = field(default_factory=list)
    # Files and folders left out by include/exclude patterns or a .ragignore (counted, not listed).
    excluded: int = 0
    # Files read again with unchanged content (newer parsers); ``updated`` counts changed content only.
    reread: int = 0
    # Near-duplicates not indexed twice: (path, the indexed document whose text it repeats).
    duplicates: list[FileFailure] = field(default_factory=list)
    # `rag ingest --ray`: the cluster's address, the nodes that read files, tasks sent, and files
    # sent again alone after their task's worker died (None on a local ingest).
    cluster: dict | None = None

    def to_json(self) -> dict:
        return {
            "indexed": self.indexed,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "failed": [{"path": f.path, "error": f.error} for f in self.failed],
            "chunks": self.chunks,
            "seconds": round(self.seconds, 3),
            "warnings": [{"path": w.path, "warning": w.error} for w in self.warnings],
            "skipped": [{"path": f.path, "reason": f.error} for f in self.skipped],
            "excluded": self.excluded,
            "reread": self.reread,
            "duplicates": [{"path": f.path, "same_as": f.error} for f in self.duplicates],
            **({"cluster": self.cluster} if self.cluster is not None else {}),
        }


class EventKind(StrEnum):
    START = "start"  # the walk is done: ``total`` files to look at
    FILE = "file"  # one file reached a ``FileStatus``
    FINISH = "finish"  # everything is committed
    PHASE = "phase"  # a step that takes a while and is not a file: ``detail`` names it


class FileStatus(StrEnum):
    INDEXED = "indexed"
    UPDATED = "updated"
    REREAD = "reread"  # the same bytes read again (the parsers changed)
    UNCHANGED = "unchanged"
    FAILED = "failed"
    REMOVED = "removed"
    SKIPPED = "skipped"
    DUPLICATE = "duplicate"  # the same text as a document already indexed: kept out of the search


@dataclass(frozen=True, kw_only=True)
class IngestEvent:
    """What an ingest reports as it goes, for progress display."""

    kind: EventKind
    path: str = ""
    status: FileStatus | None = None
    # For START: why every file is read again, if it is; for FILE: chunks, warnings or the error.
    detail: str = ""
    total: int = 0
    # For START: the bytes of the files that will (probably) be parsed and embedded, the work that
    # dominates a run; for a FILE that was indexed: its bytes. A progress bar by these has an ETA that holds.
    total_bytes: int = 0
    size: int = 0


class AskStage(StrEnum):
    """What `ask` is doing, as a person would want to hear it."""

    SEARCHING = "searching"
    READING = "reading the passages"
    WRITING = "writing"
    CHECKING = "checking"
    REVISING = "asking for a quote"


class AskEventKind(StrEnum):
    STAGE = "stage"  # ``stage`` began
    PASSAGES = "passages"  # the passages the answer will come from (``hits``), before the model runs
    DRAFT = "draft"  # ``text``: a piece of the draft, not yet checked
    SENTENCE = "sentence"  # a draft sentence was checked: ``text`` as shown, or "" when withheld (``withheld``)


@dataclass(frozen=True, kw_only=True)
class AskEvent:
    """What `ask` reports as it goes, for a person watching (the answer itself is the return value)."""

    kind: AskEventKind
    stage: AskStage | None = None
    hits: tuple[Hit, ...] = ()
    text: str = ""
    withheld: str = ""
