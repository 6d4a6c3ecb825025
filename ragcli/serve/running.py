"""Start `rag serve` (uvicorn over the Starlette app, MCP at /mcp) and `rag mcp` (MCP over stdio)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Callable

from ragcli.config import Settings
from ragcli.errors import RagError
from ragcli.serve.service import Service

# Seconds a connection may take to send its first request's headers (a client that trickles them
# would hold a connection for good otherwise); keep-alive requests are bounded by uvicorn itself.
HEADER_TIMEOUT_S = 10.0
# Seconds running requests get to finish after Ctrl-C or SIGTERM before they are cancelled.
DRAIN_S = 10
# Open connections at once; beyond this uvicorn answers 503.
MAX_CONNECTIONS = 64


def _protocol():
    """uvicorn's h11 protocol with a deadline for the first request's headers: uvicorn has none."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class Protocol(H11Protocol):
        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._headers_due = self.loop.call_later(HEADER_TIMEOUT_S, self._headers_late)

        def _headers_late(self) -> None:
            if self.cycle is None and not self.transport.is_closing():
                self.transport.close()

        def handle_events(self) -> None:
            super().handle_events()
            if self.cycle is not None and self._headers_due is not None:
                self._headers_due.cancel()
                self._headers_due = None

        def connection_lost(self, exc) -> None:
            if self._headers_due is not None:
                self._headers_due.cancel()
            super().connection_lost(exc)

    return Protocol


def _quiet_exit(server_class):
    """uvicorn raises Ctrl-C or SIGTERM again once it has drained; `rag serve`, like `rag watch`,
    treats either as the normal way to stop and exits 0."""

    class Server(server_class):
        def handle_exit(self, sig, frame) -> None:
            super().handle_exit(sig, frame)
            self._captured_signals.clear()

    return Server


def _bind(host: str, port: int) -> socket.socket:
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        return socket.create_server((host, port), family=family, backlog=128)
    except socket.gaierror as exc:
        raise RagError(f"cannot listen on {host}: {exc.strerror}", hint="Give --host an address of this machine, such as 127.0.0.1.") from None
    except OSError as exc:
        raise RagError(
            f"cannot listen on {host}:{port}: {exc.strerror}",
            hint="Another program (another `rag serve`?) holds the port: stop it, or pick another with --port (0: any free port).",
        ) from None


def serve(
    settings: Settings, on_ready: Callable[[str, str | None], None], on_stopped: Callable[[], None] = lambda: None, *, debug: bool = False
) -> None:
    """Load the index and models, listen, and serve until Ctrl-C or SIGTERM (running requests get
    DRAIN_S seconds to finish). ``on_ready`` hears the URL and the token file (None on loopback)."""
    import uvicorn
    from mcp.server.transport_security import TransportSecuritySettings

    from ragcli.serve.access import Access, token_path
    from ragcli.serve.client import announce, withdraw
    from ragcli.serve.tools import build_mcp
    from ragcli.serve.web import create_app

    options = settings.serve
    service = Service(settings)
    service.load()
    try:
        listening = _bind(options.host, options.port)
        port = listening.getsockname()[1]
        access = Access.for_server(settings, options.host, port)
        mcp = build_mcp(service, debug)
        # The Host, Origin and token checks are Guard's, for every route alike: the SDK's own copy is off.
        mcp_app = mcp.streamable_http_app(
            streamable_http_path="/mcp", transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
            max_request_body_size=options.max_body_kb * 1024,
        )

        @contextlib.asynccontextmanager
        async def lifespan(app):
            async with mcp.session_manager.run():
                yield

        app = create_app(service, access, mcp_route=mcp_app.routes[0], lifespan=lifespan)
        config = uvicorn.Config(
            app, http=_protocol(), log_level="debug" if debug else "warning", access_log=debug, lifespan="on",
            timeout_graceful_shutdown=DRAIN_S, limit_concurrency=MAX_CONNECTIONS, timeout_keep_alive=5,
            h11_max_incomplete_event_size=16 * 1024,
        )
        server = _quiet_exit(uvicorn.Server)(config)
        shown = f"[{options.host}]" if ":" in options.host else options.host
        url = f"http://{shown}:{port}"

        async def main() -> None:
            running = asyncio.ensure_future(server.serve(sockets=[listening]))
            while not server.started and not running.done():
                await asyncio.sleep(0.05)
            if server.started:
                token_file = None if access.token is None else str(token_path(settings))
                # `rag search` and `rag ask` on this machine find it here (a server on every address by loopback).
                announce(settings, f"http://127.0.0.1:{port}" if access.wildcard else url, token_file)
                on_ready(url, token_file)
            await running

        try:
            asyncio.run(main())
        finally:
            withdraw(settings)
        on_stopped()
    finally:
        service.close()


def serve_stdio(settings: Settings, *, debug: bool = False) -> None:
    """MCP over stdin/stdout for a client that spawned this process; returns when it closes stdin."""
    from ragcli.serve.tools import build_mcp

    service = Service(settings)
    service.load()
    try:
        build_mcp(service, debug).run("stdio")
    finally:
        service.close()
