"""generation.endpoint: an OpenAI-compatible server as the generator.

The fast tests talk to small HTTP servers started here that misbehave on purpose (down, silent,
garbage, cut off, refusing the token) or answer the way the echo fake does; the slow ones start
llama-cpp-python's own server with the bundled model and ask through it."""

import http.server
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from ragcli.config import load_settings
from ragcli.errors import ConfigError, ModelError
from ragcli.generation import load_generator
from tests.conftest import SAMPLE_DOCS, fake_environment

QUESTION = "Does zlib have an export control classification, and what is it?"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class FakeOpenAI(http.server.ThreadingHTTPServer):
    """An OpenAI-compatible server in a thread. ``behaviour`` picks how /chat/completions answers:
    "echo" streams the first sentence of source 1 with its citation, as the echo fake would;
    "cut" stops after one event without [DONE]; "html" answers a web page; "slow" streams that
    answer followed by words, one every 0.1 s, noting in ``left`` when its client went away.
    With ``token`` set, a request without it is refused."""

    daemon_threads = True

    def __init__(self, behaviour: str = "echo", token: str = "") -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.behaviour, self.token, self.requests, self.left = behaviour, token, [], []
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _reply(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _authorised(self) -> bool:
        if self.server.token and self.headers.get("Authorization") != f"Bearer {self.server.token}":
            self._reply(401, json.dumps({"error": {"message": "Invalid API key"}}).encode())
            return False
        return True

    def do_GET(self):
        if not self._authorised():
            return
        if self.server.behaviour == "html":
            return self._reply(200, b"<html><body>It works!</body></html>", "text/html")
        self._reply(200, json.dumps({"object": "list", "data": [{"id": "fake-model", "object": "model"}]}).encode())

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append((self.path, body))
        if not self._authorised():
            return
        if self.path == "/tokenize":
            return self._reply(200, json.dumps({"tokens": list(range(len(body["content"].split())))}).encode())
        if self.path != "/v1/chat/completions":
            return self._reply(404, b'{"detail": "Not Found"}')
        if self.server.behaviour == "html":
            return self._reply(200, b"<html>oops</html>", "text/html")
        prompt = body["messages"][-1]["content"]
        found = re.search(r'<source id="(\d+)"[^>]*>\s*(.*?)[.!?]\s', prompt, re.DOTALL)
        words = (f"{found.group(2)}. [{found.group(1)}]" if found else "I don't know.").split(" ")
        if self.server.behaviour == "slow":
            words += ["more"] * 600
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        try:
            for n, word in enumerate(words):
                if self.server.behaviour == "cut" and n == 1:
                    return
                event = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": word + " "}}]}
                self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                self.wfile.flush()
                if self.server.behaviour == "slow":
                    time.sleep(0.1)
            self.wfile.write(b"data: [DONE]\n\n")
        except (BrokenPipeError, ConnectionResetError):
            self.server.left.append(time.monotonic())


def endpoint_settings(tmp_path, url, **more):
    return load_settings(flags={"index.dir": str(tmp_path / "index"), "cache_dir": str(tmp_path / "cache"),
                                "embedding.model": "hash", "reranking.mode": "off", "generation.endpoint": url, **more}, environ={})


def rag(env, *args, timeout=600):
    return subprocess.run([sys.executable, "-m", "ragcli", *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def indexed(tmp_path):
    """A fake-model index of sample_docs, and the environment that reads it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")} | fake_environment(tmp_path)
    result = rag(env, "ingest", str(SAMPLE_DOCS), "--json")
    assert result.returncode == 0, result.stderr
    return env


def test_the_endpoint_generator_streams_what_the_server_sends_and_counts_with_its_tokenizer(tmp_path):
    with FakeOpenAI() as server:
        generator = load_generator(endpoint_settings(tmp_path, server.url))
        assert generator.id == f"fake-model@127.0.0.1:{server.server_address[1]}"
        assert generator.count_tokens("three words here") == 3  # the server's /tokenize, not the estimate
        prompt = '<source id="2" page="1">zlib is free. More.</source>'
        pieces = list(generator.stream_chat([{"role": "user", "content": prompt}], max_tokens=40, temperature=0.1))
        assert len(pieces) > 1 and "".join(pieces).strip() == "zlib is free. [2]"
        sent = [body for path, body in server.requests if path == "/v1/chat/completions"][0]
        assert sent["model"] == "fake-model" and sent["stream"] is True and sent["max_tokens"] == 40 and sent["seed"] == 0


def test_rag_ask_through_an_endpoint_gives_a_verified_cited_answer_in_the_usual_json(indexed):
    with FakeOpenAI() as server:
        env = indexed | {"RAG_GENERATION_ENDPOINT": server.url}
        through = rag(env, "ask", QUESTION, "--json", "--no-server")
        assert through.returncode == 0, through.stderr
        answer = json.loads(through.stdout)
        local = json.loads(rag(indexed, "ask", QUESTION, "--json", "--no-server").stdout)
    # The echo fake and this server answer alike: the prompt, verification and citations are ragcli's.
    assert answer["answer"] == local["answer"] and not answer["abstained"]
    assert [s["path"] for s in answer["sources"]] == [s["path"] for s in local["sources"]]
    assert answer["model"].startswith("fake-model@127.0.0.1:") and set(answer) == set(local)


def test_a_token_is_sent_from_its_file_or_the_environment_and_a_refusal_says_so(tmp_path):
    with FakeOpenAI(token="s3cret") as server:
        with pytest.raises(ModelError, match="refused.*401.*Invalid API key") as refused:
            load_generator(endpoint_settings(tmp_path, server.url))
        assert "endpoint_token_file" in refused.value.hint
        token_file = tmp_path / "token"
        token_file.write_text("s3cret\n")
        assert load_generator(endpoint_settings(tmp_path, server.url, **{"generation.endpoint_token_file": str(token_file)})).model == "fake-model"
        from_env = load_settings(flags={"generation.endpoint": server.url}, environ={"RAG_GENERATION_ENDPOINT_TOKEN": "s3cret"})
        assert load_generator(from_env).model == "fake-model"
    with pytest.raises(ConfigError, match="cannot read generation.endpoint_token_file"):
        load_generator(endpoint_settings(tmp_path, "http://127.0.0.1:9/v1", **{"generation.endpoint_token_file": str(tmp_path / "missing")}))


def test_the_token_is_never_shown_by_rag_config_show(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")} | {"RAG_GENERATION_ENDPOINT_TOKEN": "s3cret"}
    shown = rag(env, "config", "show", "--json")
    assert shown.returncode == 0 and "s3cret" not in shown.stdout
    assert json.loads(shown.stdout)["settings"]["generation"]["endpoint_token"] == "(set, not shown)"


def test_an_endpoint_on_another_machine_needs_allow_remote_endpoint(tmp_path):
    with pytest.raises(ConfigError, match="not on this machine") as refused:
        load_generator(endpoint_settings(tmp_path, "http://192.0.2.7:8080/v1"))
    assert "allow_remote_endpoint" in refused.value.hint
    with pytest.raises(ConfigError, match="not an http"):
        load_generator(endpoint_settings(tmp_path, "ftp://127.0.0.1/v1"))


def test_a_server_that_is_down_is_named_with_what_to_do(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(ModelError, match=f"cannot reach the generation endpoint {re.escape(url)}") as down:
        load_generator(endpoint_settings(tmp_path, url))
    assert "llama-server" in down.value.hint


def test_a_silent_server_times_out_with_the_setting_to_raise(tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
        started = time.monotonic()
        with pytest.raises(ModelError, match="sent nothing for 0.5 s") as silent:
            load_generator(endpoint_settings(tmp_path, url, **{"generation.endpoint_timeout_s": 0.5}))
        assert time.monotonic() - started < 5 and "endpoint_timeout_s" in silent.value.hint
    finally:
        listener.close()


def test_a_server_answering_garbage_or_cut_off_mid_answer_fails_clearly(tmp_path):
    with FakeOpenAI("html") as server:
        with pytest.raises(ModelError, match="does not answer like an OpenAI-compatible server"):
            load_generator(endpoint_settings(tmp_path, server.url))
    with FakeOpenAI("cut") as server:
        generator = load_generator(endpoint_settings(tmp_path, server.url))
        stream = generator.stream_chat([{"role": "user", "content": '<source id="1">a b c d e. f</source>'}], 40, 0.1)
        assert next(stream)
        with pytest.raises(ModelError, match="ended before its \\[DONE\\]"):
            next(stream)


def test_a_failing_endpoint_leaves_the_index_as_it_was(indexed):
    catalog = Path(indexed["RAG_INDEX_DIR"]) / "catalog.sqlite3"
    before = catalog.read_bytes()
    with FakeOpenAI("cut") as server:
        failed = rag(indexed | {"RAG_GENERATION_ENDPOINT": server.url}, "ask", QUESTION, "--no-server")
    assert failed.returncode == 1 and "ended before its [DONE]" in failed.stderr and "Traceback" not in failed.stderr
    assert catalog.read_bytes() == before
    assert rag(indexed, "search", "zlib", "--json").returncode == 0


def test_a_client_that_drops_its_socket_mid_answer_stops_the_generation_behind_rag_serve(indexed):
    """Client -> rag serve -> endpoint, all real sockets: the client leaving reaches the model's server."""
    from tests.test_serve import Server

    with FakeOpenAI("slow") as model, Server(indexed | {"RAG_GENERATION_ENDPOINT": model.url}) as served:
        body = json.dumps({"question": QUESTION, "stream": True}).encode()
        client = socket.create_connection(("127.0.0.1", served.port), timeout=30)
        client.sendall(f"POST /ask HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\nContent-Type: application/json\r\n"
                       f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        seen = b""
        while b'"draft"' not in seen:  # the model is writing
            chunk = client.recv(65536)
            assert chunk, seen
            seen += chunk
        client.close()
        dropped = time.monotonic()
        while not model.left and time.monotonic() - dropped < 10:
            time.sleep(0.05)
        assert model.left and model.left[0] - dropped < 5, "the model's server went on writing to nobody"
        status, health = served.json("GET", "/health")
        assert status == 200 and health["asks_waiting"] == 0
        assert served.stop() == 0


# -- llama-cpp-python's own server with the bundled model -----------------------------------------


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    pytest.importorskip("llama_cpp.server.app", reason="pip install 'llama-cpp-python[server]'")
    from ragcli.generation import BUNDLED, FAKES
    from ragcli.models.folders import resolve_model

    base = tmp_path_factory.mktemp("llama-server")
    settings = load_settings(flags={"index.dir": str(base / "index")})
    model = resolve_model("qwen2.5-coder-0.5b", BUNDLED, settings.cache_path, kind="file", setting="generation.model", flag="--model", also=FAKES)
    port, token = free_port(), "t0ken"
    log = open(base / "server.log", "w")  # not a pipe: its chatter would fill one and stall it
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", "qwen-0.5b", "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "4096", "--api_key", token, "--n_threads", "2"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 180
    while True:
        try:
            request = urllib.request.Request(url + "/models", headers={"Authorization": f"Bearer {token}"})
            urllib.request.urlopen(request, timeout=2).read()
            break
        except OSError:
            assert process.poll() is None, (base / "server.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "llama-cpp-python's server did not start"
            time.sleep(0.5)
    token_file = base / "token"
    token_file.write_text(token)
    token_file.chmod(0o600)
    yield url, token_file
    process.terminate()
    process.wait(timeout=30)
    log.close()


@pytest.fixture(scope="module")
def real_index(tmp_path_factory):
    base = tmp_path_factory.mktemp("endpoint-e2e")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")} | {"RAG_INDEX": str(base / "index"), "HF_HUB_OFFLINE": "1"}
    result = rag(env, "ingest", str(SAMPLE_DOCS), "--json")
    assert result.returncode == 0, result.stderr
    return env


@pytest.mark.slow
def test_rag_ask_through_llama_cpp_pythons_server_cites_the_page(llama_server, real_index):
    url, token_file = llama_server
    env = real_index | {"RAG_GENERATION_ENDPOINT": url, "RAG_GENERATION_ENDPOINT_TOKEN_FILE": str(token_file)}
    result = rag(env, "ask", QUESTION, "--json", "--no-server")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["model"] == f"qwen-0.5b@127.0.0.1:{url.split(':')[2].split('/')[0]}"
    assert not answer["abstained"] and "EAR99" in answer["answer"]
    assert any(s["cited"] and s["path"].endswith("zlib-faq.pdf") and s["page"] == 6 for s in answer["sources"])
    refused = rag(real_index | {"RAG_GENERATION_ENDPOINT": url}, "ask", QUESTION, "--no-server")
    assert refused.returncode == 1 and "refused" in refused.stderr and "endpoint_token_file" in refused.stderr


@pytest.mark.slow
def test_a_cancel_stops_llama_cpp_pythons_server_mid_answer_and_the_next_request_runs(llama_server, tmp_path):
    url, token_file = llama_server
    settings = endpoint_settings(tmp_path, url, **{"generation.endpoint_token_file": str(token_file)})
    generator = load_generator(settings)
    assert generator.count_tokens("hello world") == 2  # llama-cpp-python's /extras/tokenize
    # Mid-answer: tokens are arriving.
    stream = generator.stream_chat([{"role": "user", "content": "Count from one to two hundred in words."}], max_tokens=300, temperature=0.0)
    assert next(stream)
    threading.Timer(0.2, generator.cancel).start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        for _ in stream:
            pass
    assert time.monotonic() - started < 3
    # Before the first token: the server is still reading a long prompt and sends nothing.
    stopped = {}

    def ask_long() -> None:
        try:
            list(generator.stream_chat([{"role": "user", "content": "zlib compresses data. " * 600 + "Summarise."}], 50, 0.0))
        except KeyboardInterrupt:
            stopped["at"] = time.monotonic()

    worker = threading.Thread(target=ask_long)
    worker.start()
    time.sleep(1.0)
    assert worker.is_alive(), "the long prompt was read within a second: nothing to stop"
    cancelled = time.monotonic()
    generator.cancel()
    worker.join(10)
    assert stopped and stopped["at"] - cancelled < 1.0
    assert "".join(generator.stream_chat([{"role": "user", "content": "Say yes."}], max_tokens=4, temperature=0.0)).strip()
