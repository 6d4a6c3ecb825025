"""An OpenAI-compatible server as the generator: llama.cpp's llama-server, llama-cpp-python's
server, Ollama, vLLM, or anything else speaking ``/v1/chat/completions`` with ``stream: true``.

The prompt, the verification and the citations are ragcli's own, as with the in-process model;
only the tokens come from elsewhere. Written on the standard library's ``http.client`` rather
than an HTTP client package: a cancel must reach a request still waiting for its first byte
(the server reading a long prompt), and with http.client the socket is ours to shut down from
another thread, which wakes the blocked read at once and tells the server to stop.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import math
import socket
import ssl
import threading
from pathlib import Path
from typing import Iterator, Sequence
from urllib.parse import urlsplit

from ragcli.config import GenerationSettings
from ragcli.errors import ConfigError, ModelError

# A server line longer than this is not an event stream: stop reading instead of buffering it.
_MAX_LINE = 1 << 20
_MAX_BODY = 1 << 20
# Characters one streamed token may bring, past which a server ignoring max_tokens is cut off.
_CHARS_PER_TOKEN_CAP = 64
_CONNECT_TIMEOUT_S = 5.0


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class EndpointGenerator:
    """Generator over HTTP. ``n_ctx`` is the configured ``generation.n_ctx`` (the server's window
    is its own business; a prompt that does not fit comes back as the server's error)."""

    def __init__(self, settings: GenerationSettings) -> None:
        self._settings = settings
        self._url = settings.endpoint.strip()
        parts = urlsplit(self._url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"generation.endpoint {self._url!r} is not an http:// or https:// URL",
                hint='Set it to the server\'s base URL, e.g. "http://127.0.0.1:8080/v1", or to "" for the in-process model.',
            )
        if not is_loopback(parts.hostname) and not settings.allow_remote_endpoint:
            raise ConfigError(
                f"generation.endpoint {self._url} is not on this machine: every question and the text of its passages would be sent to {parts.hostname}",
                hint="If that server is yours, set generation.allow_remote_endpoint = true (and give it a token: generation.endpoint_token_file).",
            )
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        path = parts.path.rstrip("/")
        self._base = path if path.endswith("/v1") else path + "/v1"
        self._root = self._base[: -len("/v1")]
        self._timeout = settings.endpoint_timeout_s
        self._headers = {"Content-Type": "application/json", "Accept": "text/event-stream, application/json"}
        token = _read_token(settings)
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._cancelled = threading.Event()
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self.n_ctx = settings.n_ctx
        self.model = self._choose_model(settings.endpoint_model)
        self.id = f"{self.model}@{self._host}:{self._port}"
        self._tokenizer = self._find_tokenizer()
        self._counted: dict[str, int] = {}

    # -- the Generator protocol ------------------------------------------------------------

    def warm(self, system: str, user_start: str, cache_dir: Path) -> int:
        return 0  # the server keeps its own prompt cache

    def cancel(self) -> None:
        """Stop the request in progress (or the next to start): its socket is shut down, which the
        server sees as the client leaving, and the reading thread raises KeyboardInterrupt."""
        self._cancelled.set()
        with self._lock:
            if self._socket is not None:
                try:
                    self._socket.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def forget_cancel(self) -> None:
        self._cancelled.clear()

    def count_tokens(self, text: str) -> int:
        if text not in self._counted:
            if len(self._counted) > 4096:
                self._counted.clear()
            self._counted[text] = self._count(text)
        return self._counted[text]

    def stream_chat(self, messages: Sequence[dict], max_tokens: int, temperature: float) -> Iterator[str]:
        body = {
            "model": self.model, "messages": list(messages), "max_tokens": max_tokens,
            "temperature": temperature, "seed": self._settings.seed, "stream": True,
        }
        connection = None
        try:
            if self._cancelled.is_set():
                raise KeyboardInterrupt
            connection, response = self._send("POST", self._base + "/chat/completions", body)
            if response.status != 200:
                raise self._refused(response, "the chat request")
            kind = response.getheader("Content-Type", "")
            if "application/json" in kind:  # a server that does not stream: one whole answer
                reply = self._json(response, "the chat request")
                yield _message_text(reply, self._url)
                return
            budget = max(1, max_tokens) * _CHARS_PER_TOKEN_CAP
            for data in self._events(response):
                if data == "[DONE]":
                    return
                piece = _delta_text(data, self._url)
                if piece:
                    budget -= len(piece)
                    if budget < 0:
                        raise ModelError(f"{self._url} kept sending past max_tokens ({max_tokens})", hint="Check the server; its stream did not end.")
                    yield piece
                if self._cancelled.is_set():
                    raise KeyboardInterrupt
        except (OSError, http.client.HTTPException) as exc:
            if self._cancelled.is_set():
                raise KeyboardInterrupt from None
            raise self._unreachable(exc) from exc
        finally:
            self._close(connection)
            # A cancel meant this generation (or the one about to start): the next one runs.
            self._cancelled.clear()

    # -- HTTP ------------------------------------------------------------------------------

    def _send(self, method: str, path: str, body: dict | None) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        if self._https:
            connection = http.client.HTTPSConnection(self._host, self._port, timeout=_CONNECT_TIMEOUT_S, context=ssl.create_default_context())
        else:
            connection = http.client.HTTPConnection(self._host, self._port, timeout=_CONNECT_TIMEOUT_S)
        try:
            connection.connect()
            connection.sock.settimeout(self._timeout)
            with self._lock:
                self._socket = connection.sock
            if self._cancelled.is_set():
                raise KeyboardInterrupt
            payload = json.dumps(body).encode() if body is not None else None
            connection.request(method, path, body=payload, headers=self._headers)
            return connection, connection.getresponse()
        except BaseException:
            self._close(connection)
            raise

    def _close(self, connection: http.client.HTTPConnection | None) -> None:
        with self._lock:
            self._socket = None
        if connection is not None:
            connection.close()

    def _get_json(self, path: str, body: dict | None = None) -> tuple[int, object]:
        """One request answered by a JSON body: (status, parsed body or None)."""
        connection = None
        try:
            connection, response = self._send("POST" if body is not None else "GET", path, body)
            if response.status != 200:
                if response.status in (401, 403):
                    raise self._refused(response, path)
                response.read(_MAX_BODY)
                return response.status, None
            return 200, self._json(response, path)
        except (OSError, http.client.HTTPException) as exc:
            raise self._unreachable(exc) from exc
        finally:
            self._close(connection)

    def _json(self, response: http.client.HTTPResponse, what: str) -> object:
        raw = response.read(_MAX_BODY + 1)
        try:
            if len(raw) > _MAX_BODY:
                raise ValueError("more than 1 MiB")
            return json.loads(raw)
        except ValueError:
            raise self._garbage(f"{what} got {_preview(raw)!r}") from None

    def _events(self, response: http.client.HTTPResponse) -> Iterator[str]:
        """The ``data:`` payloads of a server-sent event stream."""
        while True:
            line = response.readline(_MAX_LINE + 1)
            if not line:
                if self._cancelled.is_set():  # our own shutdown ended it
                    raise KeyboardInterrupt
                raise self._garbage("the stream ended before its [DONE]")
            if len(line) > _MAX_LINE:
                raise self._garbage("a line of its stream is over 1 MiB")
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            if text.startswith("data:"):
                yield text[5:].strip()
            elif text and not text.startswith((":", "event:", "id:", "retry:")):
                raise self._garbage(f"its stream has the line {_preview(line)!r}")

    # -- what the server is ----------------------------------------------------------------

    def _choose_model(self, wanted: str) -> str:
        status, listing = self._get_json(self._base + "/models")
        names = []
        if status == 200:
            data = listing.get("data") if isinstance(listing, dict) else None
            names = [item["id"] for item in data or () if isinstance(item, dict) and isinstance(item.get("id"), str)]
        if wanted:
            if names and wanted not in names:
                raise ModelError(
                    f"{self._url} does not serve the model {wanted!r}",
                    hint=f"Set generation.endpoint_model to one it lists: {', '.join(names[:8])}.",
                )
            return wanted
        if not names:
            raise ModelError(
                f"{self._url} lists no models at {self._base}/models (HTTP {status})",
                hint="Set generation.endpoint_model to the name the server expects.",
            )
        return names[0]

    def _find_tokenizer(self):
        """The server's own token counter when it has one (llama.cpp's /tokenize, llama-cpp-python's
        /extras/tokenize, vLLM's /tokenize); otherwise an estimate that errs long."""
        candidates = (
            (self._root + "/tokenize", lambda text: {"content": text}, lambda reply: len(reply["tokens"])),
            (self._root + "/extras/tokenize", lambda text: {"input": text, "model": self.model}, lambda reply: len(reply["tokens"])),
            (self._root + "/tokenize", lambda text: {"model": self.model, "prompt": text}, lambda reply: int(reply["count"])),
        )
        for path, request, read in candidates:
            try:
                status, reply = self._get_json(path, request("probe"))
                if status == 200 and read(reply) > 0:
                    return lambda text, path=path, request=request, read=read: read(self._get_json(path, request(text))[1])
            except (ModelError, KeyError, TypeError, ValueError):
                continue
        return None

    def _count(self, text: str) -> int:
        if self._tokenizer is not None:
            try:
                return int(self._tokenizer(text))
            except (KeyError, TypeError, ValueError):
                self._tokenizer = None
        # About 4 bytes a token in English for today's tokenizers; 3 keeps prompts inside the window.
        return math.ceil(len(text.encode("utf-8")) / 3)

    # -- errors ----------------------------------------------------------------------------

    def _unreachable(self, exc: BaseException) -> ModelError:
        if isinstance(exc, (socket.timeout, TimeoutError)):
            return ModelError(
                f"the generation endpoint {self._url} sent nothing for {self._timeout:g} s",
                hint="The server may be busy or stuck; raise generation.endpoint_timeout_s, or check it.",
            )
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return ModelError(
            f"cannot reach the generation endpoint {self._url}: {reason}",
            hint='Start that server (e.g. `llama-server -m MODEL.gguf --port 8080`), or set generation.endpoint = "" to use the in-process model.',
        )

    def _refused(self, response: http.client.HTTPResponse, what: str) -> ModelError:
        raw = response.read(_MAX_BODY)
        message = _preview(raw)
        try:
            reply = json.loads(raw)
            error = reply.get("error") if isinstance(reply, dict) else None
            message = (error.get("message") if isinstance(error, dict) else error) or reply.get("detail") or message
        except (ValueError, AttributeError):
            pass
        if response.status in (401, 403):
            return ModelError(
                f"the generation endpoint {self._url} refused {what}: HTTP {response.status} {message}".rstrip(),
                hint="Give it its token: generation.endpoint_token_file, or RAG_GENERATION_ENDPOINT_TOKEN.",
            )
        return ModelError(f"the generation endpoint {self._url} refused {what}: HTTP {response.status} {message}".rstrip(), hint="See the server's log.")

    def _garbage(self, detail: str) -> ModelError:
        return ModelError(
            f"the generation endpoint {self._url} does not answer like an OpenAI-compatible server: {detail}",
            hint="Point generation.endpoint at the server's base URL (the part before /chat/completions).",
        )


def _read_token(settings: GenerationSettings) -> str:
    if settings.endpoint_token:
        return settings.endpoint_token.strip()
    if not settings.endpoint_token_file:
        return ""
    path = Path(settings.endpoint_token_file).expanduser()
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"cannot read generation.endpoint_token_file {path}: {exc.strerror}", hint="Write the server's token into that file, or unset the setting.") from exc


def _preview(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace").strip()
    return text[:160] + ("..." if len(text) > 160 else "")


def _delta_text(data: str, url: str) -> str:
    try:
        event = json.loads(data)
    except ValueError:
        raise ModelError(f"the generation endpoint {url} streamed something that is not JSON: {data[:160]!r}", hint="Check that it is an OpenAI-compatible server.") from None
    if isinstance(event, dict) and event.get("error"):
        error = event["error"]
        raise ModelError(f"the generation endpoint {url} failed mid-answer: {error.get('message') if isinstance(error, dict) else error}", hint="See the server's log.")
    try:
        choice = event["choices"][0] if event["choices"] else {}
        piece = (choice.get("delta") or {}).get("content")
    except (KeyError, TypeError, AttributeError, IndexError):
        raise ModelError(f"the generation endpoint {url} streamed an event without choices: {data[:160]!r}", hint="Check that it is an OpenAI-compatible server.") from None
    return piece if isinstance(piece, str) else ""


def _message_text(reply: object, url: str) -> str:
    try:
        text = reply["choices"][0]["message"]["content"]  # type: ignore[index]
    except (KeyError, TypeError, IndexError):
        raise ModelError(f"the generation endpoint {url} answered without choices", hint="Check that it is an OpenAI-compatible server.") from None
    return text if isinstance(text, str) else ""
