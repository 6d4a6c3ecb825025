"""The page `rag serve` shows at /, checked in a real browser (Debian's headless chromium).

Starts `rag serve` on an index, opens /?q=QUESTION (the question in the box), clicks Ask, lets the streamed
answer finish, and checks the rendered page: the answer or the abstention reason, every citation
[n] linked to a listed source, each source linking to /document at its page, and that link serving
the file. Optionally saves a screenshot (README's).

    .venv/bin/python benchmarks/page_check.py --index /path/to/index --question "..." [--screenshot out.png]
"""

from __future__ import annotations

import argparse
import base64
import json
import html.parser
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path


class Page(html.parser.HTMLParser):
    """The parts of the rendered page the check reads."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: dict[str, str] = {}
        self.links: list[str] = []
        self._open: list[str | None] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self._open.append(attrs.get("id"))
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])

    def handle_endtag(self, tag):
        if self._open:
            self._open.pop()

    def handle_data(self, data):
        for element in self._open:
            if element:
                self.ids[element] = self.ids.get(element, "") + data


class Browser:
    """Headless chromium driven over the DevTools protocol on a pipe (fds 3 and 4, messages ended
    by NUL): the page is read when the answer is done, not when the page has loaded (a streamed
    answer keeps arriving after the load event, when `--dump-dom` would already have read it)."""

    def __init__(self, width: int = 1000, height: int = 760) -> None:
        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        if chromium is None:
            sys.exit("needs chromium: apt-get install chromium")
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()
        # The child's fds 3 and 4 must be these pipes' ends.
        def plumbing():
            os.dup2(to_browser_read, 3)
            os.dup2(from_browser_write, 4)
        self.process = subprocess.Popen(
            [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "--hide-scrollbars",
             f"--window-size={width},{height}", "about:blank"],
            preexec_fn=plumbing, pass_fds=(3, 4), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_read)
        os.close(from_browser_write)
        self._buffer = b""
        self._next = 0
        # Events (console messages, requests) that arrived while waiting for replies, for a caller to read.
        self.events: list[dict] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]

    def call(self, method: str, session: str | None = None, **params):
        self._next += 1
        message = {"id": self._next, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self._buffer:
                piece = os.read(self._from_browser, 1 << 16)
                if not piece:
                    raise RuntimeError("chromium closed the pipe")
                self._buffer += piece
            raw, self._buffer = self._buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if "method" in reply:
                self.events.append(reply)
            elif reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def page(self, method: str, **params):
        return self.call(method, self.session, **params)

    def evaluate(self, expression: str):
        return self.page("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def close(self) -> None:
        self.process.kill()
        self.process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", required=True)
    parser.add_argument("--question", required=True)
    parser.add_argument("--wait-s", type=float, default=90, help="how long the answer may take")
    parser.add_argument("--screenshot", type=Path)
    options = parser.parse_args()
    env = {**os.environ, "RAG_INDEX_DIR": options.index}
    server = subprocess.Popen([sys.executable, "-m", "ragcli", "serve", "--port", "0"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        for line in server.stderr:
            match = re.search(r"at (http://\S+) \(MCP", line)
            if match:
                url = match.group(1)
                break
        else:
            sys.exit("rag serve did not start")
        address = f"{url}/?q={urllib.parse.quote(options.question)}"
        browser = Browser()
        try:
            browser.page("Page.navigate", url=address)
            started = time.monotonic()
            # The page fills the box from ?q=; asking is a click, as a person would.
            while not browser.evaluate("document.readyState === 'complete' && !!document.getElementById('ask')"):
                time.sleep(0.1)
            browser.evaluate("document.getElementById('ask').click()")
            while time.monotonic() - started < options.wait_s:
                stage = browser.evaluate("document.getElementById('stage') ? document.getElementById('stage').textContent : ''") or ""
                if stage.startswith(("answered", "no answer")) or browser.evaluate("document.getElementById('reason').textContent"):
                    break
                time.sleep(0.25)
            dom = browser.evaluate("document.documentElement.outerHTML")
            if options.screenshot:
                shot = browser.page("Page.captureScreenshot", format="png")["data"]
                options.screenshot.write_bytes(base64.b64decode(shot))
        finally:
            browser.close()
        page = Page()
        page.feed(dom)
        stage, answer, reason = page.ids.get("stage", ""), page.ids.get("answer", ""), page.ids.get("reason", "")
        print(f"stage: {stage}\nanswer: {answer}\nreason: {reason}")
        assert stage.startswith(("answered", "no answer")), f"the answer did not finish: {stage!r} {reason!r}"
        cited = set(re.findall(r"\[(\d+)\]", answer))
        listed = {key.split("-", 1)[1] for key in page.ids if key.startswith("source-")}
        assert cited <= listed, f"citations {cited} without a listed source {listed}"
        documents = [link for link in page.links if link.startswith("/document?")]
        assert documents, "no source links to its document"
        for link in documents:
            with urllib.request.urlopen(url + link.split("#")[0], timeout=30) as reply:
                assert reply.status == 200 and reply.read(1), link
        if stage.startswith("no answer"):
            assert reason.startswith("Why:"), "an abstention without its reason"
        print(f"ok: {len(cited)} citations, {len(documents)} source links that open")
        if options.screenshot:
            print(f"screenshot: {options.screenshot}")
    finally:
        server.terminate()
        server.wait(60)


if __name__ == "__main__":
    main()
