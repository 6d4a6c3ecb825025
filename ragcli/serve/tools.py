"""The MCP tools (official `mcp` SDK): search, ask, status and sources over one ``Service``.

The same server runs over stdio (`rag mcp`, spawned by an editor or agent) and over streamable
HTTP at /mcp on `rag serve`. Each tool returns the CLI's `--json` object as structured content.
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from pydantic import Field

from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from ragcli import __version__
from ragcli.errors import RagError
from ragcli.serve.service import MAX_K, Cancelled, Request, Service

_INSTRUCTIONS = (
    "ragcli answers from the user's own indexed documents (PDF, HTML, Markdown, Office, e-books), offline. "
    "Use `search` to find passages (fast, no model); use `ask` for an answer whose every sentence is checked "
    "against the passage it cites: it either answers with citations [n] to the returned sources, or abstains "
    "(abstained: true) with the reason. Do not add facts to an ask answer that its sources do not hold."
)

Paths = Annotated[list[str] | None, Field(description="Only documents whose absolute path matches one of these globs ('*' within a folder, '**' across folders).")]
Types = Annotated[list[str] | None, Field(description="Only these document types: pdf, html, md, docx, pptx, odt, epub, rtf, txt.")]
K = Annotated[int | None, Field(ge=1, le=MAX_K, description="How many passages (default: the index's configured k, usually 5).")]


def _body(text_field: str, text: str, k: int | None, paths: list[str] | None, types: list[str] | None) -> Request:
    body: dict[str, Any] = {text_field: text}
    if k is not None:
        body["k"] = k
    if paths:
        body["path"] = paths
    if types:
        body["type"] = types
    return Request.from_json(body, text_field)


def _failed(exc: RagError) -> ToolError:
    # The SDK reports a ToolError's message as the tool's error result: say what to do next too.
    return ToolError(f"{exc}. {exc.hint}" if exc.hint else str(exc))


def build_mcp(service: Service, debug: bool = False) -> MCPServer:
    # The SDK logs every session and call at INFO on stderr; a quiet server says only what went wrong.
    server = MCPServer("ragcli", instructions=_INSTRUCTIONS, version=__version__, log_level="DEBUG" if debug else "WARNING")

    @server.tool()
    async def search(
        query: Annotated[str, Field(description="What to look for: words, a phrase, an option name, a question.")],
        k: K = None, paths: Paths = None, types: Types = None,
    ) -> dict[str, Any]:
        """Ranked passages from the indexed documents for a query (hybrid keyword and semantic
        search, no language model): each hit has path, page (PDF page or slide; null otherwise),
        headings and text. Same object as `rag search --json`."""
        try:
            request = _body("query", query, k, paths, types)
            return (await anyio.to_thread.run_sync(service.search, request)).to_json()
        except RagError as exc:
            raise _failed(exc) from None

    @server.tool()
    async def ask(
        question: Annotated[str, Field(description="A question the user's documents may answer.")],
        k: K = None, paths: Paths = None, types: Types = None,
    ) -> dict[str, Any]:
        """Answer a question from the indexed documents with a local model. Only sentences the
        cited passage backs are kept; `answer` cites sources as [n], `sources` lists them (path,
        page, the evidence sentences). When the documents do not answer it, `abstained` is true
        and `abstention_reason` says why: report that rather than guessing. Same object as
        `rag ask --json`. Takes seconds; one question at a time is answered, others wait in turn."""
        try:
            request = _body("question", question, k, paths, types)
            request.scope(service.settings)
            ticket = service.queue.join()
        except RagError as exc:
            raise _failed(exc) from None
        try:
            answer = await anyio.to_thread.run_sync(lambda: service.ask(request, ticket), abandon_on_cancel=True)
        except Cancelled:
            raise ToolError("the answer was cancelled (the server is stopping); ask again") from None
        except RagError as exc:
            raise _failed(exc) from None
        except BaseException:
            # The client cancelled the call (perhaps before the thread began): free its place, stop the model.
            service.cancel(ticket)
            raise
        return answer.to_json()

    @server.tool()
    async def status() -> dict[str, Any]:
        """What the index holds: documents by type, chunks, models, size, the folders it
        re-syncs, the last ingest and files that failed. Same object as `rag status --json`."""
        try:
            return await anyio.to_thread.run_sync(service.status)
        except RagError as exc:
            raise _failed(exc) from None

    @server.tool()
    async def sources() -> dict[str, Any]:
        """The folders the index re-syncs, with their documents, chunks and include/exclude
        patterns. Same object as `rag sources --json`."""
        try:
            return await anyio.to_thread.run_sync(service.sources)
        except RagError as exc:
            raise _failed(exc) from None

    return server
