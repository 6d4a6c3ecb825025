"""The `rag eval --html` page, checked in a real browser (Debian's headless chromium).

Runs `rag eval QA --html` on an index (or on a fresh index of sample_docs/ with the default models),
opens the page from file://, and checks what chromium rendered: the charts are there, the recall
curve's points are the scores `--json` printed, one table row per question, no script, no console
error, no request but the page itself. A second page, with a hostile question added (markup and a
script in its text), must render that text as text. Optionally saves a screenshot (README's).

    .venv/bin/python benchmarks/eval_report_check.py [--index DIR --qa QA.jsonl] [--screenshot docs/eval-report.png] [--dark]

docs/eval-report.png is `--index /work/dev/index --qa /work/dev/qa-plus-hard.jsonl --max-height 2200`
(the dev corpora with default settings, retrieval only).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from page_check import Browser  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = '<script>document.title="pwned"</script><img src="http://example.invalid/x.png"> & </td></table>'


def rag(index: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "RAG_INDEX": str(index)}
    return subprocess.run([sys.executable, "-m", "ragcli", *args], env=env, capture_output=True, text=True, check=True)


def open_page(browser: Browser, page: Path) -> None:
    for domain in ("Runtime", "Log", "Network"):
        browser.page(f"{domain}.enable")
    browser.events.clear()
    browser.page("Page.navigate", url=page.as_uri())
    started = time.monotonic()
    while browser.evaluate("document.readyState") != "complete":
        if time.monotonic() - started > 30:
            sys.exit("the page did not load in 30 s")
        time.sleep(0.1)


def problems(browser: Browser, page: Path) -> list[str]:
    """Console errors, exceptions, CSP reports, and requests for anything but the page."""
    found = []
    for event in browser.events:
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.exceptionThrown":
            found.append(f"exception: {params['exceptionDetails'].get('text')}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "warning"):
            found.append(f"console {params['type']}: {params.get('args')}")
        elif method == "Log.entryAdded" and params["entry"].get("level") in ("error", "warning"):
            found.append(f"log: {params['entry'].get('text')}")
        elif method == "Network.requestWillBeSent" and params["request"]["url"] != page.as_uri():
            found.append(f"request: {params['request']['url']}")
    return found


def screenshot(browser: Browser, target: Path, width: int, max_height: int) -> None:
    height = min(max_height, int(browser.evaluate("document.documentElement.scrollHeight")))
    browser.page("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
    shot = base64.b64decode(browser.page("Page.captureScreenshot", format="png", captureBeyondViewport=False)["data"])
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(shot)
    try:
        from PIL import Image
    except ImportError:  # not a ragcli dependency; the size is a weaker sign of a drawn page
        assert len(shot) > 20_000, f"the screenshot is {len(shot)} bytes: blank?"
        return
    with Image.open(target) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 50, f"the screenshot has {len(colours)} colours: blank?"


def check_page(browser: Browser, page: Path, report: dict) -> dict:
    open_page(browser, page)
    seen = browser.evaluate("""(() => {
        const overall = [...document.querySelectorAll('#recall g.series[data-series="overall"] circle')];
        return {
            charts: document.querySelectorAll('svg.chart').length,
            series: [...document.querySelectorAll('#recall g.series')].map(g => g.dataset.series),
            overall: Object.fromEntries(overall.map(c => [c.dataset.k, Number(c.dataset.recall)])),
            dots: document.querySelectorAll('#ranks circle.dot').length,
            rows: [...document.querySelectorAll('table.questions tbody tr')].map(tr => tr.dataset.id),
            scripts: document.scripts.length, images: document.images.length, title: document.title,
            csp: document.querySelector('meta[http-equiv="Content-Security-Policy"]')?.content || '',
            chartWidth: document.querySelector('#recall svg')?.getBoundingClientRect().width || 0,
        };
    })()""")
    assert seen["charts"] >= 3, f"{seen['charts']} charts drawn"
    assert seen["chartWidth"] > 300, f"the recall chart is {seen['chartWidth']} px wide"
    for k in (1, 5, 10):
        if str(k) in seen["overall"]:
            assert abs(seen["overall"][str(k)] - report[f"recall@{k}"]) < 1e-3, (k, seen["overall"], report)
    assert len(seen["rows"]) == report["questions"], f"{len(seen['rows'])} rows for {report['questions']} questions"
    assert seen["scripts"] == 0 and seen["images"] == 0, seen
    assert "default-src 'none'" in seen["csp"], seen["csp"]
    found = problems(browser, page)
    assert not found, found
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", type=Path, help="an index to evaluate (default: sample_docs/ ingested into a temporary one)")
    parser.add_argument("--qa", type=Path, default=ROOT / "configs" / "sample-qa.jsonl")
    parser.add_argument("--screenshot", type=Path)
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--max-height", type=int, default=2400, help="the screenshot's height at most (the page's top)")
    parser.add_argument("--dark", action="store_true", help="render as a browser set to a dark colour scheme does")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        index = options.index
        if index is None:
            index = scratch / "index"
            rag(index, "ingest", str(ROOT / "sample_docs"))
        page = scratch / "report.html"
        report = json.loads(rag(index, "eval", str(options.qa), "--json", "--html", str(page)).stdout)
        hostile_qa = scratch / "hostile.jsonl"
        first = json.loads(options.qa.read_text(encoding="utf-8").splitlines()[0])
        hostile_qa.write_text(options.qa.read_text(encoding="utf-8").rstrip("\n") + "\n" + json.dumps(
            {**first, "id": "hostile<b>", "question": HOSTILE, "corpus": "<i>corpus</i>"}) + "\n", encoding="utf-8")
        hostile_page = scratch / "hostile.html"
        hostile_report = json.loads(rag(index, "eval", str(hostile_qa), "--json", "--html", str(hostile_page)).stdout)
        browser = Browser(width=options.width, height=900)
        try:
            if options.dark:
                browser.page("Emulation.setEmulatedMedia", features=[{"name": "prefers-color-scheme", "value": "dark"}])
            seen = check_page(browser, page, report)
            print(f"ok: {seen['charts']} charts, series {seen['series']}, {seen['dots']} rank dots, {len(seen['rows'])} question rows, "
                  f"recall@k {seen['overall']}")
            if options.screenshot:
                screenshot(browser, options.screenshot, options.width, options.max_height)
                print(f"screenshot: {options.screenshot}")
            seen = check_page(browser, hostile_page, hostile_report)
            shown = browser.evaluate("document.querySelector('tr[data-id=\"hostile<b>\"] td.question').textContent")
            assert shown == HOSTILE, f"the hostile question is shown as {shown!r}"
            assert seen["title"] != "pwned" and "<i>corpus</i>" in seen["series"], seen
            print("ok: the hostile question shows as text, nothing ran, nothing was fetched")
        finally:
            browser.close()


if __name__ == "__main__":
    main()
