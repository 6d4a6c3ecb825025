"""Parse throughput per format on real files (benchmarks/RESULTS.md, "More formats, HTML through
beautifulsoup4, CJK, watch"): files/s, MB/s, pages or slides/s, sections, peak RSS.

Each format runs in a fresh interpreter, so that its peak RSS is its own. The HTML row is measured
twice in the same run: with today's parser and with the parser of REV (default: the commit before
beautifulsoup4, loaded from git), on the same files, in the same conditions.

    python benchmarks/parse_formats.py --html DIR --pdf DIR --docx DIR --odt DIR --rtf DIR --pptx DIR --epub DIR [--old-html-rev REV] [--out FILE]
    python benchmarks/parse_formats.py --stress [--old-html-rev REV]

``--stress`` parses the hostile pages of tests/test_hostile_files.py (200,000-deep nesting, 200,000
unclosed tags, a 20 MB one-line page of text, 20 MB of minified markup) with both HTML parsers.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUFFIXES = {"html": ".html", "pdf": ".pdf", "docx": ".docx", "odt": ".odt", "rtf": ".rtf", "pptx": ".pptx", "epub": ".epub"}
# Each format is parsed over and over for at least this long.
MIN_SECONDS = 3.0


def child(kind: str, files: list[str], parser_file: str) -> None:
    sys.path.insert(0, str(ROOT))
    from ragcli.parsing import parse_document

    parse = lambda data, path: parse_document(data, path)  # noqa: E731
    if parser_file:  # the old HTML parser, as a module of its own
        spec = importlib.util.spec_from_file_location("old_html", parser_file)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        parse = module.parse_html
    blobs = [(Path(f), Path(f).read_bytes()) for f in files]
    rounds, files_done, size, pages, sections = 0, 0, 0, 0, 0
    started = time.perf_counter()
    while rounds == 0 or time.perf_counter() - started < MIN_SECONDS:
        for path, data in blobs:
            document = parse(data, path)
            files_done += 1
            size += len(data)
            pages += len({s.page for s in document.sections if s.page is not None})
            sections += len(document.sections)
        rounds += 1
    seconds = time.perf_counter() - started
    print(json.dumps({
        "files": len(blobs), "rounds": rounds, "files_per_s": files_done / seconds, "mb_per_s": size / seconds / 2**20,
        "pages_per_s": pages / seconds if pages else None, "sections_per_file": sections / files_done,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "mb": size / rounds / 2**20,
    }))


def measure(kind: str, folder: Path, parser_file: str = "") -> dict:
    files = sorted(str(p) for p in folder.rglob(f"*{SUFFIXES[kind]}"))
    if not files:
        raise SystemExit(f"no {SUFFIXES[kind]} files under {folder}")
    command = [sys.executable, __file__, "--child", kind, "--parser-file", parser_file, *files]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def stress_pages(folder: Path) -> dict[str, Path]:
    depth = 200_000
    filler = "".join(f"word{i} " for i in range(150)) + "<b>bold</b> "
    row = "<p>The axolotl regenerates its limbs.</p><div class='x'><a href='#'>link</a></div>"
    pages = {
        "200,000-deep nesting": "<div>" * depth + "<p>The okapi lives deep.</p>" + "</div>" * depth,
        "200,000 unclosed tags": "<span><b>" * depth + "The quokka is unclosed.",
        "20 MB one-line page": "<html><body><p>The axolotl.</p><p>" + filler * (20_000_000 // len(filler) + 1) + "</p></body></html>",
        "20 MB minified markup": "<html><body>" + row * (20_000_000 // len(row)) + "</body></html>",
    }
    found = {}
    for n, (name, text) in enumerate(pages.items()):
        (folder / str(n)).mkdir()
        (folder / str(n) / "page.html").write_text(text)
        found[name] = folder / str(n)
    return found


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        kind, parser_file, files = sys.argv[2], sys.argv[4], sys.argv[5:]
        child(kind, files, parser_file)
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for kind in SUFFIXES:
        parser.add_argument(f"--{kind}", type=Path, help=f"Folder of real {kind.upper()} files.")
    parser.add_argument("--old-html-rev", default="main", help="Git revision whose ragcli/parsing/html.py is 'before'.")
    parser.add_argument("--stress", action="store_true", help="The hostile HTML pages, both parsers.")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as work:
        if args.stress:
            old = Path(work) / "old_html.py"
            old.write_text(subprocess.run(["git", "-C", str(ROOT), "show", f"{args.old_html_rev}:ragcli/parsing/html.py"],
                                          capture_output=True, text=True, check=True).stdout)
            (Path(work) / "pages").mkdir()
            for name, folder in stress_pages(Path(work) / "pages").items():
                rows[f"{name}, streaming extractor"] = measure("html", folder, str(old))
                rows[f"{name}, beautifulsoup4 + lxml"] = measure("html", folder)
        for kind in SUFFIXES:
            folder = getattr(args, kind)
            if folder is None:
                continue
            if kind == "html":
                old = Path(work) / "old_html.py"
                old.write_text(subprocess.run(["git", "-C", str(ROOT), "show", f"{args.old_html_rev}:ragcli/parsing/html.py"],
                                              capture_output=True, text=True, check=True).stdout)
                rows[f"html (streaming extractor, {args.old_html_rev})"] = measure(kind, folder, str(old))
                rows["html (beautifulsoup4 + lxml)"] = measure(kind, folder)
            else:
                rows[kind] = measure(kind, folder)
    print("| format | files | MB | files/s | MB/s | pages or slides/s | sections/file | peak RSS MB |\n|---|---|---|---|---|---|---|---|")
    for name, row in rows.items():
        pages = f"{row['pages_per_s']:.0f}" if row["pages_per_s"] else "-"
        print(f"| {name} | {row['files']} | {row['mb']:.1f} | {row['files_per_s']:.1f} | {row['mb_per_s']:.2f} | {pages} | "
              f"{row['sections_per_file']:.0f} | {row['peak_rss_mb']:.0f} |")
    if args.out:
        args.out.write_text(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M"), "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
