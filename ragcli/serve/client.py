"""The CLI's side of `rag serve`: find a server running for this index, and ask it.

`rag serve` leaves a small file per index in the state directory (its address, its pid, and a
digest of the settings that shape answers); `rag search` and `rag ask` use that server when it
is alive, serves the same index and would answer exactly as they would, and fall back to working
in process otherwise (`--no-server` always does). Standard library only, and urllib is imported
only once an announcement is found: a CLI that finds no server pays one stat for this.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ragcli.config import Settings
from ragcli.durable import atomic_write
from ragcli.errors import RagError, UsageError
from ragcli.records import Answer, AskEvent, AskEventKind, AskStage, Hit, SearchResult

# A server that does not answer its health check this fast is treated as absent.
_PROBE_S = 1.0
# Travels in each request; every other setting that shapes results must match the server's.
_PER_REQUEST = ("k",)


def settings_digest(settings: Settings) -> str:
    """What decides a search's or an answer's result besides the request: the same digest means the
    server answers as this process would."""
    shaping = {
        name: dataclasses.asdict(getattr(settings, name))
        for name in ("embedding", "reranking", "answer", "generation", "verification")
    }
    shaping["retrieval"] = {key: value for key, value in dataclasses.asdict(settings.retrieval).items() if key not in _PER_REQUEST}
    shaping["index"] = {"dir": str(settings.index_path), "vectors": settings.index.vectors}
    return hashlib.sha256(json.dumps(shaping, sort_keys=True, default=str).encode()).hexdigest()[:24]


def announcement_path(settings: Settings) -> Path:
    key = hashlib.sha256(str(settings.index_path).encode()).hexdigest()[:16]
    return settings.state_path / "servers" / f"{key}.json"


def announce(settings: Settings, url: str, token_file: str | None) -> Path:
    """Tell later CLI runs that this process serves the index at ``url``."""
    path = announcement_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    record = {"pid": os.getpid(), "url": url, "index": str(settings.index_path), "token_file": token_file, "settings": settings_digest(settings)}
    with atomic_write(path) as temporary:
        temporary.write_text(json.dumps(record), encoding="utf-8")
    return path


def withdraw(settings: Settings) -> None:
    path = announcement_path(settings)
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


@dataclass(frozen=True)
class Server:
    url: str
    token: str | None = None

    def _request(self, method: str, route: str, body: dict | None = None, timeout: float | None = None):
        import urllib.error
        import urllib.request

        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + route, data=data, method=method, headers=headers)
        try:
            return urllib.request.urlopen(request, timeout=timeout)
        except urllib.error.HTTPError as error:
            raise _server_error(error) from None

    def search(self, query: str, k: int | None, paths: tuple[str, ...], types: tuple[str, ...]) -> SearchResult:
        with self._request("POST", "/search", _body("query", query, k, paths, types), timeout=600) as reply:
            return SearchResult.from_json(json.load(reply))

    def ask(
        self, question: str, k: int | None, paths: tuple[str, ...], types: tuple[str, ...],
        on_text: Callable[[str], None] | None = None, on_event: Callable[[AskEvent], None] | None = None,
        opened: Callable[[Any], None] = lambda reply: None,
    ) -> Answer:
        """The streamed answer, its events passed on as the CLI's own; ``opened`` receives the
        response, which closing cancels the answer on the server (Ctrl-C)."""
        body = {**_body("question", question, k, paths, types), "stream": True}
        with self._request("POST", "/ask", body) as reply:
            opened(reply)
            for raw in reply:
                line = json.loads(raw)
                kind = line.get("event")
                if kind == "answer":
                    return Answer.from_json(line["answer"])
                if kind == "error":
                    raise RagError(f"the server at {self.url}: {line.get('error')}", hint=line.get("hint", ""))
                if kind == "text" and on_text:
                    on_text(line["text"])
                elif kind in ("stage", "passages", "draft", "sentence") and on_event:
                    on_event(_event(line))
        raise RagError(f"the server at {self.url} ended the answer early", hint="Ask again, or pass --no-server.")


def _body(field: str, text: str, k: int | None, paths: tuple[str, ...], types: tuple[str, ...]) -> dict:
    body: dict[str, Any] = {field: text}
    if k is not None:
        body["k"] = k
    if paths:
        body["path"] = list(paths)
    if types:
        body["type"] = list(types)
    return body


def _event(line: dict) -> AskEvent:
    return AskEvent(
        kind=AskEventKind(line["event"]), stage=AskStage(line["stage"]) if "stage" in line else None,
        hits=tuple(Hit.from_json(hit) for hit in line.get("hits", ())), text=line.get("text", ""), withheld=line.get("withheld", ""),
    )


def _server_error(error) -> RagError:
    try:
        body = json.loads(error.read())
        message, hint = body["error"], body.get("hint", "")
    except (ValueError, KeyError, TypeError, OSError):
        message, hint = f"HTTP {error.code}", "Pass --no-server to work without the server."
    return (UsageError if error.code == 400 else RagError)(message, hint=hint)


def find_server(settings: Settings) -> Server | None:
    """The server running for this index with these settings, or None (none, gone, or different)."""
    try:
        record = json.loads(announcement_path(settings).read_text())
        os.kill(int(record["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if record.get("index") != str(settings.index_path) or record.get("settings") != settings_digest(settings):
        return None
    token = None
    if record.get("token_file"):
        try:
            token = Path(record["token_file"]).read_text(encoding="utf-8").strip()
        except OSError:
            return None
    server = Server(str(record["url"]), token)
    try:
        with server._request("GET", "/health", timeout=_PROBE_S) as reply:
            health = json.load(reply)
    except (OSError, ValueError, RagError):
        return None
    return server if health.get("index") == str(settings.index_path) else None


def search(settings: Settings, query: str, k: int | None = None, *, use_server: bool = True) -> SearchResult:
    """`rag search`: through a running server for this index when there is one (and ``use_server``),
    else in this process, as ``retrieval.searcher.search``; the same result either way."""
    server = find_server(settings) if use_server else None
    if server is not None:
        try:
            return server.search(query, settings.retrieval.k, settings.retrieval.paths, settings.retrieval.types)
        except OSError:  # the server went away: work in process, as without one
            pass
    from ragcli.retrieval.searcher import search as run_search

    return run_search(settings, query, k)
