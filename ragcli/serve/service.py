"""`rag serve`'s engine: one index and its models, loaded once, answering many clients.

Nothing here knows HTTP or MCP: the web app (``ragcli.serve.web``) and the MCP tools
(``ragcli.serve.tools``) are thin layers over ``Service``, so both give the same answers as the
CLI, which calls the same ``Searcher`` and ``Answerer``.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from ragcli.config import Settings
from ragcli.errors import RagError, UsageError
from ragcli.records import Answer, AskEvent, SearchResult
from ragcli.retrieval.scope import Scope

# More passages than any prompt holds or a person reads; a larger k is a mistake, not a wish.
MAX_K = 100
_QUESTION_CHARS = 4000
_GLOB_CHARS = 200
_GLOB_STARS = 3


def event_json(event: AskEvent) -> dict:
    """An ask's progress event as a line of a stream: what the CLI's live display shows."""
    line: dict[str, Any] = {"event": str(event.kind)}
    if event.stage is not None:
        line["stage"] = str(event.stage)
    if event.hits:
        line["hits"] = [hit.to_json() for hit in event.hits]
    if event.text or event.kind == "sentence":
        line["text"] = event.text
    if event.withheld:
        line["withheld"] = event.withheld
    return line


class Busy(RagError):
    """Too many asks are waiting for the model; the client should try again shortly."""


class NotIndexed(UsageError):
    """A document was asked for that the index does not hold."""


class Cancelled(Exception):
    """The client went away (or the server is stopping) before its answer was done."""


@dataclass(frozen=True, kw_only=True)
class Request:
    """A search or an ask, as a client sends it (the CLI's arguments: text, -k, --path, --type)."""

    text: str
    k: int | None = None
    paths: tuple[str, ...] = ()
    types: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, body: Any, text_field: str, extra: tuple[str, ...] = ()) -> "Request":
        """Validate a JSON body: ``text_field`` (the query or question), ``k``, ``path``, ``type``;
        ``extra`` names the other fields the caller reads itself. Anything else is refused."""
        if not isinstance(body, dict):
            raise UsageError("the request body must be a JSON object", hint=f'Send {{"{text_field}": "..."}}.')
        unknown = sorted(set(body) - {text_field, "k", "path", "type", *extra})
        if unknown:
            allowed = ", ".join([text_field, "k", "path", "type", *extra])
            raise UsageError(f"unknown field {', '.join(map(repr, unknown))}", hint=f"The fields are: {allowed}.")
        text = body.get(text_field)
        if not isinstance(text, str) or not text.strip():
            raise UsageError(f"{text_field!r} must be a non-empty string", hint=f'Send {{"{text_field}": "..."}}.')
        if len(text) > _QUESTION_CHARS:
            raise UsageError(f"{text_field!r} is {len(text)} characters; at most {_QUESTION_CHARS} are read", hint="Ask something shorter.")
        k = body.get("k")
        if k is not None and (isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K):
            raise UsageError(f"'k' must be a whole number from 1 to {MAX_K}, not {k!r}")
        paths = _strings(body, "path")
        for glob in paths:
            # A path glob becomes a regular expression matched against every document's path:
            # long or '**'-heavy ones backtrack for minutes, holding every other search up.
            if len(glob) > _GLOB_CHARS or glob.count("**") > _GLOB_STARS:
                raise UsageError(
                    f"path glob {glob[:60]!r} is too complex (at most {_GLOB_CHARS} characters and {_GLOB_STARS} '**')",
                    hint="Use a simpler glob, such as '**/manuals/*.pdf'.",
                )
        return cls(text=text, k=k, paths=paths, types=tuple(t.lower() for t in _strings(body, "type")))

    def scope(self, settings: Settings) -> Scope:
        from ragcli.parsing import DOCUMENT_TYPES

        unknown = sorted(set(self.types) - set(DOCUMENT_TYPES))
        if unknown:
            raise UsageError(f"unknown document type {', '.join(map(repr, unknown))}", hint=f"Types: {', '.join(DOCUMENT_TYPES)}.")
        configured = Scope.from_settings(settings.retrieval)
        scope = Scope(self.paths or configured.paths, self.types or configured.types)
        try:
            Scope(scope.paths).admits("", "")  # compiles the globs: one such as '[z-a]' is refused here, not mid-search
        except re.error as exc:
            raise UsageError(f"path glob not understood: {exc}", hint="Check the glob's brackets.") from None
        return scope


def _strings(body: dict, name: str) -> tuple[str, ...]:
    value = body.get(name)
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value) or len(value) > 64:
        raise UsageError(f"{name!r} must be a string or a list of at most 64 non-empty strings")
    return tuple(value)


@dataclass(eq=False)
class Ticket:
    """One ask's place in the queue for the model."""

    cancelled: threading.Event = field(default_factory=threading.Event)
    running: bool = False
    # A worker has taken the ticket on (``AskQueue.claim``); until then nobody else will release it.
    claimed: bool = False


class AskQueue:
    """First come, first served: one ask holds the model; the others wait in order and can learn
    their place. ``limit`` bounds waiting plus running asks."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._tickets: deque[Ticket] = deque()
        self._changed = threading.Condition()

    def join(self) -> Ticket:
        with self._changed:
            if len(self._tickets) >= self._limit:
                raise Busy(
                    f"{len(self._tickets)} questions are already waiting for the model (serve.max_streams)",
                    hint="Try again in a moment.",
                )
            ticket = Ticket()
            self._tickets.append(ticket)
            return ticket

    def claim(self, ticket: Ticket) -> bool:
        """A worker takes ``ticket`` on; False (and the ticket released) when it was abandoned first."""
        with self._changed:
            if ticket.cancelled.is_set():
                self._drop(ticket)
                return False
            ticket.claimed = True
            return True

    def abandon(self, ticket: Ticket, stop: Callable[[], None]) -> None:
        """The client is gone: cancel ``ticket``, and release it here if no worker ever took it on
        (a client that left before its answer's stream began, an MCP call cancelled at its start)."""
        with self._changed:
            ticket.cancelled.set()
            if ticket.running:
                stop()
            if not ticket.claimed:
                self._drop(ticket)
            self._changed.notify_all()

    def _drop(self, ticket: Ticket) -> None:
        if ticket in self._tickets:
            self._tickets.remove(ticket)
        self._changed.notify_all()

    def cancel_all(self, stop: Callable[[], None]) -> None:
        """Stopping: every waiting ask is cancelled, the running one stopped."""
        with self._changed:  # a re-entrant lock: abandon takes it again
            for ticket in list(self._tickets):
                self.abandon(ticket, stop)

    def position(self, ticket: Ticket) -> int:
        """How many asks are ahead of ``ticket`` (0: it holds the model or is next)."""
        with self._changed:
            return self._tickets.index(ticket) if ticket in self._tickets else 0

    def wait_turn(self, ticket: Ticket, on_position: Callable[[int], None]) -> None:
        """Block until ``ticket`` is first; ``on_position`` hears each new place in the queue."""
        last = None
        with self._changed:
            while True:
                if ticket.cancelled.is_set():
                    raise Cancelled
                place = self._tickets.index(ticket)
                if place == 0:
                    ticket.running = True
                    return
                if place != last:
                    last = place
                    self._changed.release()
                    try:
                        on_position(place)
                    finally:
                        self._changed.acquire()
                    continue
                self._changed.wait(0.5)

    def leave(self, ticket: Ticket, forget: Callable[[], None]) -> None:
        """``ticket`` is done; ``forget`` drops a cancel that reached the model for it. Under the
        queue's lock, as ``abandon`` is: a cancel meant for one ask never stops the next."""
        with self._changed:
            if ticket.running and ticket.cancelled.is_set():
                forget()
            ticket.running = False
            self._drop(ticket)

    @property
    def waiting(self) -> int:
        with self._changed:
            return len(self._tickets)


class Service:
    """An open index with its embedder, vectors and generator, shared by every client."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.queue = AskQueue(settings.serve.max_streams)
        self._answerer = None
        self._generator_lock = threading.Lock()

    def load(self, *, generator: bool = True) -> None:
        """Open the index and load the models (the generator unless ``generator`` is False: it is
        then loaded by the first ask). Errors are the CLI's: no index, a damaged one, no model."""
        from ragcli.retrieval.searcher import Searcher

        self.searcher = Searcher.open(self.settings)
        if generator:
            self._load_answerer()

    def _load_answerer(self):
        with self._generator_lock:
            if self._answerer is None:
                from ragcli.answer.answerer import Answerer, warm_generator
                from ragcli.generation import load_generator

                model = load_generator(self.settings)
                warm_generator(model, self.settings)
                self._answerer = Answerer(self.settings, self.searcher, model)
            return self._answerer

    @property
    def generator_id(self) -> str | None:
        return self._answerer.generator.id if self._answerer is not None else None

    def search(self, request: Request) -> SearchResult:
        return self.searcher.search(request.text, request.k, request.scope(self.settings))

    def ask(
        self,
        request: Request,
        ticket: Ticket,
        on_event: Callable[[AskEvent], None] | None = None,
        on_text: Callable[[str], None] | None = None,
        on_position: Callable[[int], None] = lambda place: None,
    ) -> Answer:
        """Answer in turn: wait for the model (``on_position`` hears the place in the queue), then
        ask. Raises Cancelled when ``ticket`` is cancelled before or during the answer."""
        scope = request.scope(self.settings)

        def checked(sink: Callable[[Any], None] | None) -> Callable[[Any], None]:
            # Every stage, draft piece and verdict passes here: a cancel stops the verification too.
            def forward(item: Any) -> None:
                if ticket.cancelled.is_set():
                    raise Cancelled
                if sink is not None:
                    sink(item)
            return forward

        if not self.queue.claim(ticket):
            raise Cancelled
        try:
            self.queue.wait_turn(ticket, on_position)
            answerer = self._load_answerer()
            if ticket.cancelled.is_set():
                raise Cancelled
            try:
                return answerer.ask(request.text, request.k, on_text=checked(on_text), on_event=checked(on_event), scope=scope)
            except KeyboardInterrupt:  # the generator's way of saying it was stopped
                raise Cancelled from None
        finally:
            # A cancel that came after the last generation ended must not stop the next ask.
            self.queue.leave(ticket, forget=lambda: self._answerer and self._answerer.generator.forget_cancel())

    def _stop_model(self) -> None:
        if self._answerer is not None:
            self._answerer.generator.cancel()

    def cancel(self, ticket: Ticket) -> None:
        """Stop ``ticket``'s ask (its client went away): released from the queue whether or not a
        worker took it on, its generation stopped at the next token if it holds the model."""
        self.queue.abandon(ticket, stop=self._stop_model)

    def document(self, path: str) -> tuple[str, str]:
        """An indexed document's file and media type, for the page's source links. Only a path the
        index holds is served: the server is no window onto the rest of the disk."""
        import mimetypes
        import os
        import stat

        from ragcli.errors import DocumentError
        from ragcli.store.index import Index

        if not path:
            raise UsageError("missing ?path=", hint="Give the path of an indexed document, as search and ask return it.")
        with Index.open_for_reading(self.settings) as index:
            stored = index.catalog.documents.get(path)
        if stored is None:
            raise NotIndexed(f"{path} is not a document in this index", hint="Use a path that search or ask returned.")
        try:
            info = os.stat(path) if self.settings.ingest.follow_links else os.lstat(path)
        except OSError:
            raise DocumentError(f"{path} is indexed but no longer on disk", hint="Run `rag ingest` to re-sync the index.") from None
        # Only the file that was read: not a link planted in its place, nor other bytes since.
        if not stat.S_ISREG(info.st_mode) or (info.st_size, info.st_mtime_ns) != (stored.size, stored.mtime_ns):
            raise DocumentError(f"{path} has changed since it was indexed", hint="Run `rag ingest` to re-sync the index.")
        return path, mimetypes.guess_type(path)[0] or "text/plain"

    def status(self) -> dict:
        from ragcli.status import index_status

        return index_status(self.settings)

    def sources(self) -> dict:
        from ragcli.sources import list_sources

        return {"sources": [root.to_json() for root in list_sources(self.settings)]}

    def close(self) -> None:
        """Cancel what still waits or runs, then close the index (under the searcher's lock, so
        never beneath a search)."""
        self.queue.cancel_all(stop=self._stop_model)
        searcher = getattr(self, "searcher", None)
        if searcher is not None:
            searcher.close()
