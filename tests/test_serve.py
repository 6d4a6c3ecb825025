"""`rag serve` and `rag mcp` (issue 20): the CLI's JSON over HTTP and MCP from one warm process.

A real server (uvicorn, started as a user would) on a fake-model index: its answers equal the
CLI's, bad requests get the CLI's error shape and the server goes on, the index it serves follows
ingests, and the MCP SDK's own client reaches it over stdio and streamable HTTP. The queue, the
request checks and the access policy are tested directly as well.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from ragcli.config import load_settings
from ragcli.errors import ConfigError, UsageError
from ragcli.ingest import ingest
from ragcli.serve.access import Access, load_token
from ragcli.serve.service import AskQueue, Busy, Cancelled, Request, Service
from tests.conftest import fake_environment, fake_flags

TIMEOUT = 60
# Fields that differ between two runs of the same question: timings.
_TIMINGS = ("seconds", "seconds_to_first_token")


def rag_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "ragcli", *args]


def without_timings(answer: dict) -> dict:
    return {key: value for key, value in answer.items() if key not in _TIMINGS}


class Server:
    """`rag serve --port 0` in its own process; ``url`` once it says it is serving."""

    def __init__(self, env: dict, *args: str, before: tuple[str, ...] = ()) -> None:
        self.process = subprocess.Popen(
            rag_command(*before, "serve", "--port", "0", *args), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self.lines: list[str] = []
        started = time.monotonic()
        while time.monotonic() - started < TIMEOUT:
            line = self.process.stdout.readline()
            if not line:
                raise AssertionError(f"rag serve ended before serving: {''.join(self.lines)}")
            self.lines.append(line)
            match = re.search(r"at (http://\S+) \(MCP", line)
            if match:
                self.url = match.group(1)
                self.port = int(self.url.rsplit(":", 1)[1])
                break
        else:
            raise AssertionError("rag serve did not start")
        # The rest of the output (stderr, and uvicorn's request log on stdout) is read on a thread, so a chatty server never blocks on a full pipe.
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)

    def request(self, method: str, path: str, body=None, headers: dict | None = None, raw: bytes | None = None):
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        request = urllib.request.Request(self.url + path, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                return response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers, error.read()

    def json(self, method: str, path: str, body=None, headers: dict | None = None):
        status, _, payload = self.request(method, path, body, headers)
        return status, json.loads(payload)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(TIMEOUT)
        self._reader.join(TIMEOUT)
        return code

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(TIMEOUT)


@pytest.fixture
def env(tmp_path, docs):
    environment = {**os.environ, **fake_environment(tmp_path)}
    subprocess.run(rag_command("ingest", str(docs), "--quiet"), env=environment, check=True, capture_output=True, timeout=TIMEOUT)
    return environment


@pytest.fixture
def server(env):
    with Server(env) as running:
        yield running
        assert running.stop() == 0


def cli_json(env, *args: str, server: bool = False) -> dict:
    """The CLI's `--json` output, worked out in process (``server``: as it runs, using a server if one is up)."""
    command = rag_command(*args, "--json") if server or args[0] not in ("search", "ask") else rag_command(*args, "--json", "--no-server")
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode in (0, 6), done.stderr
    return json.loads(done.stdout)


# -- the HTTP API, end to end ---------------------------------------------------------------


def test_search_and_ask_over_http_equal_the_cli(server, env):
    status, health = server.json("GET", "/health")
    assert status == 200 and health["ok"] and health["generator"] == "echo"

    status, searched = server.json("POST", "/search", {"query": "zlib export classification", "k": 3})
    assert status == 200
    assert searched == cli_json(env, "search", "zlib export classification", "-k", "3")
    assert len(searched["hits"]) == 3

    status, answered = server.json("POST", "/ask", {"question": "Is zlib subject to export controls?"})
    assert status == 200
    assert without_timings(answered) == without_timings(cli_json(env, "ask", "Is zlib subject to export controls?"))
    assert answered["sources"] and "[1]" in answered["answer"]

    status, scoped = server.json("POST", "/search", {"query": "zlib", "type": ["md"], "path": "**/*.md"})
    assert status == 200 and all(hit["path"].endswith(".md") for hit in scoped["hits"])
    assert scoped == cli_json(env, "search", "zlib", "--type", "md", "--path", "**/*.md")

    assert server.json("GET", "/status")[1] == cli_json(env, "status")
    assert server.json("GET", "/sources")[1] == cli_json(env, "sources")


def test_a_streamed_answer_is_a_line_per_event_ending_with_the_answer(server):
    status, headers, payload = server.request("POST", "/ask", {"question": "Is zlib subject to export controls?", "stream": True})
    assert status == 200 and headers["Content-Type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in payload.decode().splitlines()]
    kinds = [line["event"] for line in lines]
    assert kinds[0] == "stage" and kinds[-1] == "answer"
    assert "passages" in kinds and "text" in kinds and "sentence" in kinds
    shown = "".join(line["text"] for line in lines if line["event"] == "text")
    assert shown.strip() == lines[-1]["answer"]["answer"].strip()
    _, whole = server.json("POST", "/ask", {"question": "Is zlib subject to export controls?"})
    assert without_timings(lines[-1]["answer"]) == without_timings(whole)


@pytest.mark.parametrize(
    "body, status, said",
    [
        (b"{not json", 400, "not JSON"),
        (b"[1, 2]", 400, "JSON object"),
        (json.dumps({"query": "zlib", "colour": "red"}).encode(), 400, "unknown field 'colour'"),
        (json.dumps({"query": ""}).encode(), 400, "non-empty string"),
        (json.dumps({"query": "zlib", "k": 10**9}).encode(), 400, "from 1 to 100"),
        (json.dumps({"query": "zlib", "k": "5"}).encode(), 400, "whole number"),
        (json.dumps({"query": "zlib", "type": ["exe"]}).encode(), 400, "unknown document type 'exe'"),
        (json.dumps({"query": "x" * 100_000}).encode(), 413, "larger than 64 KiB"),
        (json.dumps({"query": "zlib", "path": "**a" * 12 + "b"}).encode(), 400, "too complex"),
        (json.dumps({"query": "zlib", "path": "[z-a]"}).encode(), 400, "glob not understood"),
    ],
)
def test_bad_requests_get_the_cli_error_shape_and_the_server_goes_on(server, body, status, said):
    got, _, payload = server.request("POST", "/search", raw=body)
    error = json.loads(payload)
    assert got == status and said in error["error"] and set(error) == {"error", "hint"}
    assert server.json("POST", "/search", {"query": "zlib"})[0] == 200


def test_unknown_routes_and_methods_answer_in_json(server):
    status, error = server.json("GET", "/nowhere")
    assert status == 404 and "GET /nowhere" in error["error"] and "/search" in error["hint"]
    status, error = server.json("GET", "/search")
    assert status == 405 and "error" in error


def test_the_page_and_the_documents_it_links(server, docs):
    status, headers, page = server.request("GET", "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in headers["Content-Security-Policy"] and "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert b"/ask" in page and b"innerHTML" not in page  # the page builds elements from text only
    pdf = str(docs / "zlib-faq.pdf")
    status, headers, body = server.request("GET", "/document?path=" + urllib.parse.quote(pdf))
    assert status == 200 and headers["Content-Type"] == "application/pdf" and body.startswith(b"%PDF")
    status, headers, _ = server.request("GET", "/document?path=" + urllib.parse.quote(str(docs / "nodejs-intl.md")))
    assert status == 200 and headers["Content-Security-Policy"] == "sandbox"  # never run as the server's page
    # A file swapped for a link (or edited) since it was read is not served until re-indexed.
    markdown = docs / "nodejs-intl.md"
    markdown.rename(docs / "moved.md")
    markdown.symlink_to("/etc/passwd")
    status, _, body = server.request("GET", "/document?path=" + urllib.parse.quote(str(markdown)))
    assert status == 410 and b"changed since it was indexed" in body
    for path in ("/etc/passwd", str(docs / "SOURCES"), str(docs / ".." / "docs" / "zlib-faq.pdf")):
        status, _, body = server.request("GET", "/document?path=" + urllib.parse.quote(path))
        assert status == 404 and b"not a document in this index" in body


def test_a_body_that_never_finishes_is_cut_off(env, tmp_path):
    env = {**env, "RAG_SERVE_BODY_TIMEOUT_S": "1"}
    with Server(env) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as connection:
            connection.sendall(b"POST /search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"query\"")
            reply = ""
            while "took longer" not in reply:  # the head and the body may come in two packets
                piece = connection.recv(4096).decode()
                if not piece:
                    break
                reply += piece
        assert reply.startswith("HTTP/1.1 408") and "took longer than 1 s" in reply
        assert server.json("GET", "/health")[0] == 200
        assert server.stop() == 0


def test_dns_rebinding_and_foreign_pages_are_refused(server):
    status, error = server.json("GET", "/status", headers={"Host": "attacker.example:80"})
    assert status == 421 and "attacker.example" in error["error"]
    status, error = server.json("POST", "/search", {"query": "zlib"}, headers={"Origin": "http://attacker.example"})
    assert status == 403 and "attacker.example" in error["error"]
    status, error = server.json("POST", "/search", {"query": "zlib"}, headers={"Origin": "null"})
    assert status == 403
    # The server's own origin is a page it served.
    assert server.json("POST", "/search", {"query": "zlib"}, headers={"Origin": f"http://127.0.0.1:{server.port}"})[0] == 200
    # No CORS header unless the user allowed an origin.
    _, headers, _ = server.request("GET", "/health", headers={"Origin": f"http://127.0.0.1:{server.port}"})
    assert "access-control-allow-origin" not in {key.lower() for key in headers}


def test_off_loopback_every_request_needs_the_token(env, tmp_path):
    token_file = tmp_path / "token"
    env = {**env, "RAG_SERVE_TOKEN_FILE": str(token_file)}
    with Server(env, "--host", "0.0.0.0") as server:
        assert any(str(token_file) in line for line in server.lines)
        assert oct(token_file.stat().st_mode & 0o777) == "0o600"
        token = token_file.read_text().strip()
        status, error = server.json("POST", "/search", {"query": "zlib"})
        assert status == 401 and "bearer token" in error["error"]
        assert server.json("POST", "/search", {"query": "zlib"}, headers={"Authorization": "Bearer wrong"})[0] == 401
        assert server.json("POST", "/search", {"query": "zlib"}, headers={"Authorization": f"Bearer {token}"})[0] == 200
        assert server.json("GET", "/health") == (200, {"ok": True})  # a probe needs no token, and learns nothing more
        assert server.stop() == 0


def test_a_token_on_loopback_too_and_the_cli_brings_it(env, tmp_path):
    env = {**env, "RAG_SERVE_REQUIRE_TOKEN": "true", "RAG_SERVE_TOKEN_FILE": str(tmp_path / "token")}
    with Server(env) as server:
        assert server.json("POST", "/search", {"query": "zlib"})[0] == 401
        assert cli_json(env, "search", "zlib export", server=True) == cli_json(env, "search", "zlib export")
        assert server.stop() == 0


def test_the_server_follows_ingests_without_a_restart(server, env, docs):
    assert not server.json("POST", "/search", {"query": "quokkaberry"})[1]["hits"][0]["text"].count("quokkaberry")
    (docs / "new.md").write_text("# Quokkaberry\n\nThe quokkaberry harvest begins in the third week of March.\n")
    subprocess.run(rag_command("ingest", "--quiet"), env=env, check=True, capture_output=True, timeout=TIMEOUT)
    hits = server.json("POST", "/search", {"query": "quokkaberry harvest"})[1]["hits"]
    assert hits[0]["path"].endswith("new.md")
    # Only the rebuilt index holds this one: the server must have opened the index swapped in.
    (docs / "later.md").write_text("# Wombatfruit\n\nWombatfruit ripens in the first week of June.\n")
    subprocess.run(rag_command("ingest", "--rebuild", "--quiet"), env=env, check=True, capture_output=True, timeout=TIMEOUT)
    hits = server.json("POST", "/search", {"query": "wombatfruit ripens"})[1]["hits"]
    assert hits[0]["path"].endswith("later.md")
    assert server.json("GET", "/status")[1]["documents"] == cli_json(env, "status")["documents"]


def test_a_missing_index_or_a_taken_port_is_explained(tmp_path, server, env):
    missing = {**env, "RAG_INDEX_DIR": str(tmp_path / "nowhere")}
    done = subprocess.run(rag_command("serve", "--port", "0"), env=missing, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 1 and "no index at" in done.stderr and "Traceback" not in done.stderr
    done = subprocess.run(rag_command("serve", "--port", str(server.port)), env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 1 and f"cannot listen on 127.0.0.1:{server.port}" in done.stderr and "--port" in done.stderr


def test_sigint_stops_the_server_cleanly(env):
    with Server(env) as server:
        server.process.send_signal(signal.SIGINT)
        assert server.process.wait(TIMEOUT) == 0


def test_the_cli_uses_a_running_server_and_answers_the_same(env, tmp_path):
    def served(*args):
        return sum(f"POST /{args[0]}" in line for line in server.lines)

    def eventually(predicate) -> None:
        started = time.monotonic()
        while not predicate():
            assert time.monotonic() - started < TIMEOUT
            time.sleep(0.1)

    question = "Is zlib subject to export controls?"
    alone = cli_json(env, "ask", question)
    with Server(env, before=("--debug",)) as server:  # --debug: uvicorn logs each request
        searched = cli_json(env, "search", "zlib export", "-k", "2", server=True)
        eventually(lambda: served("search") == 1)
        assert searched == cli_json(env, "search", "zlib export", "-k", "2")  # with --no-server
        assert without_timings(cli_json(env, "ask", question, server=True)) == without_timings(alone)
        eventually(lambda: served("ask") == 1)
        # Settings that shape answers differently: the CLI works in process.
        cli_json({**env, "RAG_RETRIEVAL_LEXICAL": "false"}, "search", "zlib export", server=True)
        cli_json(env, "search", "zlib export", server=True)
        eventually(lambda: served("search") == 2)  # the second of these two; the first never came
        time.sleep(0.3)
        assert served("search") == 2
        done = subprocess.run(rag_command("ask", question), env=env, capture_output=True, text=True, timeout=TIMEOUT)
        assert done.returncode == 0 and "Sources:" in done.stdout and "zlib-faq.pdf" in done.stdout
        assert server.stop() == 0
    # Gone: its announcement is withdrawn and the CLI works alone again.
    assert cli_json(env, "search", "zlib export", "-k", "2", server=True) == searched


# -- MCP, through the SDK's own client ---------------------------------------------------------


async def _use_mcp(target) -> dict:
    from mcp import Client

    async with Client(target) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        searched = await client.call_tool("search", {"query": "zlib export classification", "k": 3})
        answered = await client.call_tool("ask", {"question": "Is zlib subject to export controls?"})
        refused = await client.call_tool("search", {"query": "zlib", "types": ["exe"]})
        status = await client.call_tool("status", {})
        return {"tools": tools, "search": searched, "ask": answered, "refused": refused, "status": status}


def _check_mcp(used: dict, env) -> None:
    assert set(used["tools"]) == {"search", "ask", "status", "sources"}
    assert "abstain" in used["tools"]["ask"].description
    assert used["tools"]["search"].input_schema["properties"]["k"]["anyOf"][0]["maximum"] == 100
    assert not used["search"].is_error
    assert used["search"].structured_content == cli_json(env, "search", "zlib export classification", "-k", "3")
    assert without_timings(used["ask"].structured_content) == without_timings(cli_json(env, "ask", "Is zlib subject to export controls?"))
    assert used["refused"].is_error and "unknown document type 'exe'" in used["refused"].content[0].text
    assert used["status"].structured_content["documents"] == cli_json(env, "status")["documents"]


def test_mcp_over_stdio(env):
    from mcp.client.stdio import StdioServerParameters

    used = asyncio.run(asyncio.wait_for(_use_mcp(StdioServerParameters(command=sys.executable, args=["-m", "ragcli", "mcp"], env=env)), TIMEOUT))
    _check_mcp(used, env)


def test_mcp_over_streamable_http_on_rag_serve(server, env):
    used = asyncio.run(asyncio.wait_for(_use_mcp(server.url + "/mcp"), TIMEOUT))
    _check_mcp(used, env)


# -- the parts, directly ------------------------------------------------------------------------


def test_requests_are_checked_like_the_cli_options():
    assert Request.from_json({"query": "a", "k": 3, "path": "*.md", "type": ["PDF"]}, "query") == Request(text="a", k=3, paths=("*.md",), types=("pdf",))
    for body in ({"query": "a", "k": True}, {"query": "a", "k": 0}, {"query": "a", "path": [""]}, {"query": 5}, {"q": "a"}, "a"):
        with pytest.raises(UsageError):
            Request.from_json(body, "query")


def test_the_queue_is_first_come_first_served_and_bounded():
    queue = AskQueue(limit=3)
    first, second, third = queue.join(), queue.join(), queue.join()
    with pytest.raises(Busy):
        queue.join()
    assert [queue.position(t) for t in (first, second, third)] == [0, 1, 2]
    order, heard = [], []

    def waiter(ticket, name):
        queue.wait_turn(ticket, lambda place: heard.append((name, place)))
        order.append(name)
        queue.leave(ticket, forget=lambda: None)

    threads = [threading.Thread(target=waiter, args=(t, n)) for t, n in ((third, "third"), (second, "second"))]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    while not {("third", 2), ("second", 1)} <= set(heard):  # both waiting, and told their place
        assert time.monotonic() - started < TIMEOUT
        time.sleep(0.05)
    queue.wait_turn(first, lambda place: None)
    queue.leave(first, forget=lambda: None)
    for thread in threads:
        thread.join(TIMEOUT)
    assert order == ["second", "third"]
    # Each hears its place as it moves up (the third may go from 2 straight to its turn).
    third = [place for name, place in heard if name == "third"]
    assert third == sorted(third, reverse=True)


def test_a_cancelled_ask_leaves_the_queue_and_the_next_one_runs(tmp_path, docs):
    settings = load_settings(flags=fake_flags(tmp_path), environ={})
    ingest(settings, [docs])
    service = Service(settings)
    service.load()
    try:
        question = Request(text="Is zlib subject to export controls?")
        waiting = service.queue.join()
        service.cancel(waiting)
        with pytest.raises(Cancelled):
            service.ask(question, waiting)
        running = service.queue.join()
        stopped = []

        def stop_at_the_first_draft(event):
            if str(event.kind) == "draft" and not stopped:
                stopped.append(event)
                service.cancel(running)

        with pytest.raises(Cancelled):
            service.ask(question, running, on_event=stop_at_the_first_draft)
        assert service.queue.waiting == 0
        answer = service.ask(question, service.queue.join())
        assert not answer.abstained and answer.sources
    finally:
        service.close()


def test_an_ask_abandoned_before_it_began_frees_its_place():
    queue = AskQueue(limit=1)
    ticket = queue.join()
    queue.abandon(ticket, stop=lambda: None)  # the client left before a worker took it on
    assert queue.waiting == 0
    assert not queue.claim(ticket)
    queue.join()  # the place is free


def test_access_policy():
    local = Access("127.0.0.1", 8765, None)
    assert local.refusal({"host": "127.0.0.1:8765"}, "/search") is None
    assert local.refusal({"host": "localhost:8765", "origin": "http://localhost:8765"}, "/ask") is None
    assert local.refusal({"host": "[::1]:8765"}, "/ask") is None
    assert local.refusal({"host": "rebind.example:8765"}, "/ask")[0] == 421
    assert local.refusal({"host": "127.0.0.1:8765", "origin": "http://localhost:9999"}, "/ask")[0] == 403
    assert local.refusal({"host": "127.0.0.1:8765", "origin": "https://evil.example"}, "/ask")[0] == 403
    named = Access("127.0.0.1", 8765, None, allowed_hosts=("docs.lan",), allowed_origins=("https://tool.lan",))
    assert named.refusal({"host": "docs.lan", "origin": "https://tool.lan"}, "/ask") is None
    remote = Access("0.0.0.0", 8765, "s3cret-token-of-enough-length")
    assert remote.refusal({"host": "10.0.0.5:8765"}, "/search")[0] == 401
    assert remote.refusal({"host": "10.0.0.5:8765", "authorization": "Bearer s3cret-token-of-enough-length"}, "/search") is None
    assert remote.refusal({"host": "10.0.0.5:8765"}, "/health") is None
    # The page as reached through the bound-to-all address, or a name the user allowed.
    assert remote.refusal({"host": "10.0.0.5:8765", "origin": "http://10.0.0.5:8765", "authorization": "Bearer s3cret-token-of-enough-length"}, "/ask") is None
    assert named.refusal({"host": "docs.lan:8765", "origin": "http://docs.lan:8765"}, "/ask") is None


def test_the_token_file_is_private(tmp_path):
    path = tmp_path / "state" / "serve-token"
    token = load_token(path)
    assert len(token) >= 32 and load_token(path) == token
    assert path.stat().st_mode & 0o777 == 0o600
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="can be read by other users"):
        load_token(path)
