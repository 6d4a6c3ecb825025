"""`rag serve`'s HTTP API on Starlette: the CLI's `--json` objects over HTTP, and MCP at /mcp.

Routes: GET / (a small search-and-ask page), GET /document?path= (an indexed file), GET /health, POST /search, POST /ask (JSON, or NDJSON events with "stream": true),
GET /status, GET /sources, and the MCP streamable-HTTP endpoint at /mcp. Every request passes
``Guard`` first (Host, Origin, bearer token); bodies are JSON, bounded in size and time.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.resources
import json
import threading
from typing import Any, AsyncIterator

import anyio
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request as HttpRequest
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from ragcli.errors import DocumentError, IndexStateError, RagError, UsageError, explain
from ragcli.serve.access import Access
from ragcli.serve.service import Busy, Cancelled, NotIndexed, Request, Service, event_json

_STATUS = {NotIndexed: 404, DocumentError: 410, UsageError: 400, Busy: 503, IndexStateError: 503}
# The page builds every element from text (no innerHTML), loads nothing from elsewhere, and may not be framed.
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@functools.cache
def _page() -> str:
    return importlib.resources.files("ragcli.serve").joinpath("page.html").read_text(encoding="utf-8")


class BodyError(RagError):
    def __init__(self, status: int, message: str, hint: str = "") -> None:
        super().__init__(message, hint)
        self.status = status


def error_body(exc: BaseException) -> dict:
    """The CLI's error, as JSON: what failed and what to do next."""
    if isinstance(exc, RagError):
        return {"error": str(exc), "hint": exc.hint}
    explained = explain(exc)
    if explained is not None:
        return {"error": str(explained), "hint": explained.hint}
    return {"error": f"unexpected {type(exc).__name__}: {exc}", "hint": "See the server's log; run it with --debug for the traceback."}


def error_response(exc: BaseException) -> JSONResponse:
    status = getattr(exc, "status", None) or next((code for kind, code in _STATUS.items() if isinstance(exc, kind)), 500)
    headers = {"Retry-After": "2"} if isinstance(exc, Busy) else None
    return JSONResponse(error_body(exc), status_code=status, headers=headers)


class Guard:
    """Pure ASGI middleware: the Host header must name this server (DNS rebinding), a browser's
    Origin must be allowed, and off loopback every request but /health carries the bearer token."""

    def __init__(self, app, access: Access) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        refusal = self.access.refusal(headers, scope["path"])
        if refusal is not None:
            status, message, hint = refusal
            extra = {"WWW-Authenticate": "Bearer"} if status == 401 else None
            return await JSONResponse({"error": message, "hint": hint}, status_code=status, headers=extra)(scope, receive, send)
        await self.app(scope, receive, send)


async def read_json(request: HttpRequest, limit: int, timeout: float) -> Any:
    """The request's JSON body: refused when larger than ``limit`` bytes (413), slower than
    ``timeout`` seconds (408), or not JSON (400)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise BodyError(413, f"the request body is larger than {limit // 1024} KiB (serve.max_body_kb)")
    body = bytearray()
    try:
        with anyio.fail_after(timeout):
            async for piece in request.stream():
                body += piece
                if len(body) > limit:
                    raise BodyError(413, f"the request body is larger than {limit // 1024} KiB (serve.max_body_kb)")
    except TimeoutError:
        raise BodyError(408, f"the request body took longer than {timeout:g} s to arrive (serve.body_timeout_s)") from None
    try:
        return json.loads(bytes(body).decode("utf-8")) if body else {}
    except (UnicodeDecodeError, ValueError) as exc:
        raise BodyError(400, f"the request body is not JSON: {exc}", hint='Send a JSON object such as {"query": "..."}.') from None


def _answer_stream(service: Service, request: Request, ticket) -> AsyncIterator[tuple[str, Any]]:
    """The ask's events as they happen, from the thread that runs it: ("queued", place), ("event",
    AskEvent), ("text", verified text), then ("answer", Answer), ("cancelled", None) or ("error", exc).
    Leaving the iteration early (the client went away) cancels the ask."""
    loop = asyncio.get_running_loop()
    events: asyncio.Queue = asyncio.Queue()

    def put(kind: str, value: Any) -> None:
        loop.call_soon_threadsafe(events.put_nowait, (kind, value))

    def work() -> None:
        try:
            answer = service.ask(
                request, ticket, on_event=lambda event: put("event", event), on_text=lambda text: put("text", text),
                on_position=lambda place: put("queued", place),
            )
            put("answer", answer)
        except Cancelled:
            put("cancelled", None)
        except BaseException as exc:  # reported to the client; the server goes on
            put("error", exc)

    async def iterate() -> AsyncIterator[tuple[str, Any]]:
        finished = False
        threading.Thread(target=work, name="rag-ask", daemon=True).start()
        try:
            while True:
                kind, value = await events.get()
                finished = kind in ("answer", "cancelled", "error")
                yield kind, value
                if finished:
                    return
        finally:
            if not finished:
                service.cancel(ticket)

    return iterate()


def create_app(service: Service, access: Access, mcp_route: Route | None = None, lifespan=None) -> Starlette:
    """The ASGI app for ``service``; ``mcp_route`` (the MCP SDK's endpoint) is served at /mcp."""
    limits = service.settings.serve
    body_limit = limits.max_body_kb * 1024

    async def body_of(request: HttpRequest) -> Any:
        return await read_json(request, body_limit, limits.body_timeout_s)

    async def health(request: HttpRequest) -> Response:
        if not access.authorized(request.headers.get("authorization", "")):
            return JSONResponse({"ok": True})  # a probe without the token learns nothing of the index
        return JSONResponse({
            "ok": True, "index": str(service.settings.index_path), "generator": service.generator_id,
            "asks_waiting": service.queue.waiting,
        })

    async def search(request: HttpRequest) -> Response:
        try:
            query = Request.from_json(await body_of(request), "query")
            result = await run_in_threadpool(service.search, query)
            return JSONResponse(result.to_json())
        except Exception as exc:
            return error_response(exc)

    async def ask(request: HttpRequest) -> Response:
        try:
            body = await body_of(request)
            streamed = body.get("stream", False) if isinstance(body, dict) else False
            if not isinstance(streamed, bool):
                raise UsageError(f"'stream' must be true or false, not {streamed!r}")
            question = Request.from_json(body, "question", extra=("stream",))
            question.scope(service.settings)  # a bad type is refused before anything streams
            ticket = service.queue.join()
        except Exception as exc:
            return error_response(exc)
        stream = _answer_stream(service, question, ticket)
        if streamed:
            return _ReleasingStream(_ndjson(stream), media_type="application/x-ndjson", release=lambda: service.cancel(ticket))
        try:
            return await _whole_answer(request, stream, service, ticket)
        except BaseException:
            service.cancel(ticket)  # the client went away before its answer began: its place is freed
            raise

    async def page(request: HttpRequest) -> Response:
        return HTMLResponse(_page(), headers=_PAGE_HEADERS)

    async def document(request: HttpRequest) -> Response:
        try:
            path, media_type = await run_in_threadpool(service.document, request.query_params.get("path", ""))
        except Exception as exc:
            return error_response(exc)
        # Shown inline but never run as this server's page: an indexed HTML file is sandboxed (no
        # script, its own origin). PDFs are left to the browser's viewer, which a sandbox blocks.
        headers = {"X-Content-Type-Options": "nosniff", "Content-Disposition": "inline"}
        if media_type != "application/pdf":
            headers["Content-Security-Policy"] = "sandbox"
        return FileResponse(path, media_type=media_type, headers=headers)

    async def status(request: HttpRequest) -> Response:
        try:
            return JSONResponse(await run_in_threadpool(service.status))
        except Exception as exc:
            return error_response(exc)

    async def sources(request: HttpRequest) -> Response:
        try:
            return JSONResponse(await run_in_threadpool(service.sources))
        except Exception as exc:
            return error_response(exc)

    async def not_found(request: HttpRequest, exc: HTTPException) -> Response:
        return JSONResponse(
            {"error": f"{request.method} {request.url.path}: {exc.detail}", "hint": "The API: GET /health, /status, /sources, /document?path=; POST /search, /ask; MCP at /mcp; the page at /."},
            status_code=exc.status_code,
        )

    routes = [
        Route("/", page, methods=["GET"]),
        Route("/document", document, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/search", search, methods=["POST"]),
        Route("/ask", ask, methods=["POST"]),
        Route("/status", status, methods=["GET"]),
        Route("/sources", sources, methods=["GET"]),
    ]
    if mcp_route is not None:
        routes.append(mcp_route)
    middleware = []
    if limits.allowed_origins:
        # Only origins the user listed get CORS headers; none by default. Outside Guard: a browser's
        # preflight carries no token, and is answered here without reaching anything else.
        middleware.append(Middleware(CORSMiddleware, allow_origins=list(limits.allowed_origins), allow_methods=["GET", "POST"],
                                     allow_headers=["Authorization", "Content-Type", "Mcp-Session-Id", "Mcp-Protocol-Version"]))
    middleware.append(Middleware(Guard, access=access))
    return Starlette(routes=routes, middleware=middleware, exception_handlers={HTTPException: not_found}, lifespan=lifespan)


class _ReleasingStream(StreamingResponse):
    """A stream whose ask is cancelled (and its place in the queue freed) however the response
    ends: a client that leaves before the first line would otherwise hold its place for good."""

    def __init__(self, content, *, media_type: str, release) -> None:
        super().__init__(content, media_type=media_type)
        self._release = release

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()


async def _ndjson(stream: AsyncIterator[tuple[str, Any]]) -> AsyncIterator[bytes]:
    """One JSON object a line: queued, stage, passages, draft, sentence, text, then answer or error."""
    async with contextlib.aclosing(stream):
        async for kind, value in stream:
            if kind == "queued":
                line = {"event": "queued", "position": value}
            elif kind == "event":
                line = event_json(value)
            elif kind == "text":
                line = {"event": "text", "text": value}
            elif kind == "answer":
                line = {"event": "answer", "answer": value.to_json()}
            elif kind == "error":
                line = {"event": "error", **error_body(value)}
            else:
                line = {"event": "error", "error": "the answer was cancelled", "hint": "The server is stopping; ask again."}
            yield (json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8")


async def _whole_answer(request: HttpRequest, stream, service: Service, ticket) -> Response:
    """The answer as one JSON object, cancelled if the client disconnects while it waits."""
    async with anyio.create_task_group() as group:

        async def watch() -> None:
            while not await request.is_disconnected():
                await anyio.sleep(0.25)
            service.cancel(ticket)

        group.start_soon(watch)
        async with contextlib.aclosing(stream):
            async for kind, value in stream:
                if kind == "answer":
                    response: Response = JSONResponse(value.to_json())
                elif kind == "error":
                    response = error_response(value)
                elif kind == "cancelled":
                    response = JSONResponse({"error": "the answer was cancelled", "hint": "Ask again."}, status_code=503)
                else:
                    continue
                break
        group.cancel_scope.cancel()
    return response
