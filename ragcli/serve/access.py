"""Who may talk to `rag serve`: the Host and Origin a request may carry, and the bearer token.

A page on another site can make a browser send requests to a loopback server (DNS rebinding,
or a plain cross-site POST), so loopback alone is not trust: the Host header must name this
server and a browser's Origin must be one the user allowed. Off loopback (or with
serve.require_token), every request but /health also needs the token kept in a file only its
owner can read.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from ragcli.config import Settings
from ragcli.errors import ConfigError

_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
_OPEN_PATHS = ("/health",)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _host_name(value: str) -> str:
    """The name in a Host header or an origin's authority, without its port."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def token_path(settings: Settings) -> Path:
    return Path(settings.serve.token_file).expanduser() if settings.serve.token_file else settings.state_path / "serve-token"


def load_token(path: Path) -> str:
    """The bearer token in ``path``, made (owner-only) if there is none yet. A token file that
    others can read is refused: anyone who can read it can query the documents."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(32) + "\n")
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"serve token file {path} is not a regular file", hint="Point serve.token_file at a file.")
    if info.st_mode & 0o077:
        raise ConfigError(
            f"serve token file {path} can be read by other users (mode {stat.S_IMODE(info.st_mode):o})",
            hint=f"Run `chmod 600 {path}`, or delete it to have a new token made.",
        )
    token = path.read_text(encoding="utf-8").strip()
    if len(token) < 16:
        raise ConfigError(f"serve token file {path} holds no usable token (fewer than 16 characters)", hint="Delete it to have a new one made.")
    return token


@dataclass(frozen=True)
class Access:
    """The policy for one server bound to ``host``:``port``."""

    host: str
    port: int
    token: str | None
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()

    @classmethod
    def for_server(cls, settings: Settings, host: str, port: int) -> "Access":
        needed = settings.serve.require_token or not is_loopback(host)
        token = load_token(token_path(settings)) if needed else None
        return cls(host, port, token, tuple(h.lower() for h in settings.serve.allowed_hosts), tuple(settings.serve.allowed_origins))

    @property
    def wildcard(self) -> bool:
        return self.host in ("0.0.0.0", "::", "")

    def _host_allowed(self, header: str) -> bool:
        name = _host_name(header)
        if name in _LOOPBACK_NAMES or name in self.allowed_hosts:
            return True
        # Bound to every address, the names it is reached by are unknown; the token guards it.
        return self.wildcard or name == _host_name(self.host)

    def _origin_allowed(self, origin: str, host: str) -> bool:
        if origin in self.allowed_origins:
            return True
        scheme, _, authority = origin.partition("://")
        if scheme not in ("http", "https") or not authority:
            return False
        if host and authority.lower() == host.lower():
            return True  # the server's own page, by whatever name the Host check accepted
        # The server's own pages (on any name the Host check accepts) may call it.
        name, port = _host_name(authority), authority.rsplit(":", 1)[-1] if authority.rstrip("]").count(":") else ""
        own_port = str(self.port) if self.port else ""
        return port == own_port and (name in _LOOPBACK_NAMES or name == _host_name(self.host))

    def authorized(self, authorization: str) -> bool:
        """Whether an Authorization header carries the token (always, where none is needed)."""
        if self.token is None:
            return True
        scheme, _, given = authorization.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self.token.encode())

    def refusal(self, headers: dict[str, str], path: str) -> tuple[int, str, str] | None:
        """Why a request with these (lower-cased) headers is refused, as (status, message, hint); None to serve it."""
        host = headers.get("host", "")
        if not self._host_allowed(host):
            return 421 if host else 400, f"Host header {host!r} does not name this server", (
                "Reach the server by the address it listens on, or add the name to serve.allowed_hosts."
            )
        origin = headers.get("origin")
        if origin is not None and origin != "null" and not self._origin_allowed(origin, host):
            return 403, f"requests from the web page at {origin} are not allowed", "Add the origin to serve.allowed_origins to allow it."
        if origin == "null":
            return 403, "requests from an opaque origin (a file or sandboxed page) are not allowed", "Open the page from the server itself."
        if path not in _OPEN_PATHS and not self.authorized(headers.get("authorization", "")):
            return 401, "this server needs its bearer token", (
                "Send 'Authorization: Bearer TOKEN' with the token from the file `rag serve` named when it started."
            )
        return None
