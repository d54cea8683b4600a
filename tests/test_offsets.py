"""Offsets hold: text == document_text[start:end] for every row of every table, and every
entity lies in a main block; on the seeds and on 200 documents of ../shared/corpus."""
from __future__ import annotations

import bisect

import pyarrow.parquet as pq
import pytest

from conftest import SEEDS, corpus_records
from pipeline.ingest import read_document
from pipeline.records import ENTITY_TABLES

SPAN_TABLES = ("tokens",) + ENTITY_TABLES


def check_rows(text: str, result: dict) -> None:
    mains = [(b["start"], b["end"]) for b in result["blocks"] if b["label"] == "main"]
    for b in result["blocks"]:
        assert 0 <= b["start"] < b["end"] <= len(text)
        assert text[b["start"]:b["end"]] == text[b["start"]:b["end"]].strip(), "block not trimmed"
    covered = sorted((b["start"], b["end"]) for b in result["blocks"])
    for (s1, e1), (s2, e2) in zip(covered, covered[1:]):
        assert e1 <= s2, "blocks overlap"
    gaps = [text[e1:s2] for (s1, e1), (s2, e2) in zip(covered, covered[1:])]
    if covered:
        gaps += [text[:covered[0][0]], text[covered[-1][1]:]]
    assert all(not g.strip() for g in gaps), "a non-blank character belongs to no block"
    for table in SPAN_TABLES:
        rows = result[table]
        for r in (rows.to_pylist() if hasattr(rows, "to_pylist") else rows):
            assert text[r["start"]:r["end"]] == r["text"], (table, r)
    starts = [s for s, _ in covered]
    toks = result["tokens"]
    for r in (toks.to_pylist() if hasattr(toks, "to_pylist") else toks):
        i = bisect.bisect_right(starts, r["start"]) - 1
        assert i >= 0 and r["end"] <= covered[i][1], ("token crosses a block edge", r)
    for table in ENTITY_TABLES:
        for r in result[table]:
            assert any(s <= r["start"] and r["end"] <= e for s, e in mains), (table, r, "not in main")
    for t in result["turns"]:
        if t["start"] is not None:
            assert text[t["start"]:t["end"]] == t["speaker_label"], t
        assert 0 <= t["text_start"] <= t["text_end"] <= len(text)


def test_seed_offsets_in_written_tables(seeds_out):
    tables = {t: pq.read_table(seeds_out / f"{t}.parquet").to_pylist()
              for t in ("blocks", "turns") + SPAN_TABLES}
    for path in sorted(SEEDS.glob("*.txt")):
        doc = read_document(path)
        per_doc = {t: [r for r in rows if r["doc_id"] == doc.doc_id] for t, rows in tables.items()}
        assert per_doc["blocks"], path
        check_rows(doc.text, per_doc)


@pytest.mark.corpus
@pytest.mark.parametrize("name,n", [("mfa_spokesperson.jsonl", 100), ("xwlb_daily.jsonl", 100)])
def test_corpus_offsets(engine, name, n):
    for rec in corpus_records(name, n):
        result = engine.process_text(rec["text"], rec["id"])
        assert result["documents"][0]["status"] == "ok", result["documents"][0]["error"]
        check_rows(rec["text"], result)


@pytest.mark.parametrize("kind", ["latin-1", "bmp", "astral"])
def test_token_texts_same_with_and_without_the_c_helper(engine, monkeypatch, kind):
    """Token strings come from _cjieba.utf8_pieces when it is built, else from numpy offsets:
    both must give the same column, for each of CPython's three string storage kinds (1- to
    4-byte UTF-8), and on an empty span."""
    import pipeline.process as process
    from pipeline.document import Tokens
    from pipeline.ingest import doc_from_text
    if process._cjieba is None:
        pytest.skip("pipeline._cjieba was not built: only the numpy path exists")
    seed = read_document(sorted(SEEDS.glob("*.txt"))[0]).text
    text, wanted = {"latin-1": ("Caf\xe9 au lait, 3.5% plus \xb1 1", "\xe9"),
                    "bmp": ("A股涨3.5%，é xy 营收" + seed, "é"),
                    "astral": ("A股涨3.5%，é😀xy 营收" + seed, "😀")}[kind]
    doc = doc_from_text(text, "t")
    doc.tokens = engine.segmenter.tokens(doc.folded)
    doc.tokens = Tokens(list(doc.tokens.starts) + [len(text) - 1, 0], list(doc.tokens.ends) + [len(text), 0])
    with_c = process.token_table(doc)
    monkeypatch.setattr(process, "_cjieba", None)
    without = process.token_table(doc)
    assert with_c.equals(without)
    assert wanted in with_c.column("text").to_pylist()
    assert with_c.column("text")[-1].as_py() == ""
