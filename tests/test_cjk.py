"""Keyword search in Chinese, Japanese and Korean (issue 16): the character-pair index finds a
word inside a run of CJK text, which the words index sees as one token; English queries never
consult it; an index made before it gains it, filled, on its next write."""

from __future__ import annotations

import dataclasses
import sqlite3

from ragcli.ingest import ingest
from ragcli.retrieval.query import cjk_query
from ragcli.retrieval.searcher import search
from ragcli.store.catalog import Catalog
from ragcli.store.catalog.fulltext import GRAMS, WORDS

PAGES = {
    "ja.md": "# パッケージ管理\n\nパッケージを削除するには aptitude purge を使います。設定ファイルも消えます。\n",
    "zh.md": "# 软件包管理\n\n要清除软件包及其配置文件，请使用 apt purge 命令。\n",
    "ko.md": "# 패키지 관리\n\n패키지를 완전히 제거하려면 apt purge 명령을 사용합니다.\n",
    "en.md": "# Networking\n\nThe resolver reads /etc/resolv.conf for name servers.\n",
}


def keyword_only(settings):
    """Keyword rankings alone: a dense fake would find CJK by its hashed characters anyway."""
    return dataclasses.replace(settings, retrieval=dataclasses.replace(settings.retrieval, dense_weight=0.0))


def folder_of_pages(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in PAGES.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_words_inside_cjk_runs_are_found(tmp_path, settings):
    settings = keyword_only(settings)
    folder = folder_of_pages(tmp_path)
    ingest(settings, [folder])
    for query, name in (("設定ファイルを消したい", "ja.md"), ("如何清除配置文件", "zh.md"), ("패키지를 제거", "ko.md")):
        hits = search(settings, query, k=1).hits
        assert hits and hits[0].path == str(folder / name), query
    catalog = Catalog.open(settings.index_path / "catalog.sqlite3", create=False, read_only=True)
    try:
        # The words index alone cannot: the whole run is one token to unicode61.
        assert catalog.fulltext.search('"設定" OR "ファイル"', 10, None, 1.5, table=WORDS) == []
        assert len(catalog.fulltext.search(cjk_query("設定ファイル"), 10, None, 1.5, table=GRAMS)) == 1
    finally:
        catalog.close()


def test_english_queries_never_consult_the_cjk_index():
    assert cjk_query("How do I purge a package with its configuration files?") == ""
    assert cjk_query("apt の 設定") == '"の" OR "設定"'


def test_an_older_index_gains_the_cjk_index_on_its_next_write(tmp_path, settings):
    folder = folder_of_pages(tmp_path)
    ingest(settings, [folder])
    path = settings.index_path / "catalog.sqlite3"
    db = sqlite3.connect(path)
    db.execute("DROP TABLE chunk_grams")  # as an index written before it existed
    db.commit()
    db.close()
    keyword = keyword_only(settings)
    # Readable, just without the CJK path: no keyword ranking finds anything (the dense one weighs 0).
    assert all(hit.score == 0.0 for hit in search(keyword, "設定ファイルを消したい", k=4).hits)
    report = ingest(settings, [folder])
    assert report.unchanged == 4 and report.indexed == 0
    assert search(keyword, "設定ファイルを消したい", k=1).hits[0].path == str(folder / "ja.md")
