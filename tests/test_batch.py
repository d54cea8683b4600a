"""A batch of results packed into one Arrow table per output table gives back, document by
document, exactly the rows each document had (the parent slices batches sent by workers)."""
from __future__ import annotations

import os

import pytest

from pipeline.batch import Packed, Spilled, first_row, result_tables
from pipeline.process import error_result
from pipeline.records import TABLES

TEXTS = [
    "2024年3月5日，外交部发言人表示，中方将提供5000万元援助。",
    "",
    "国家统计局发布数据：一季度国内生产总值增长5.3%，比上年全年加快0.1个百分点。",
]


def test_packed_slices_give_back_each_documents_rows(engine):
    results = [(engine.process_text(t, f"d{i}"), {"total": 0.1 * i}) for i, t in enumerate(TEXTS)]
    results.insert(2, (error_result("bad.txt", "bad.txt: not text"), {}))
    packed = Packed(results)
    assert len(packed) == 4
    got = list(packed.documents())
    for (want, secs), (have, have_secs) in zip(results, got):
        assert have_secs == secs
        expected = result_tables(want)
        for t in TABLES:
            assert have[t].to_pylist() == expected[t].to_pylist(), t
    assert first_row(got[2][0]["documents"])["status"] == "error"
    assert got[2][0]["tokens"].num_rows == 0 and got[0][0]["tokens"].num_rows > 0


def test_rows_come_back_sorted_within_a_document(engine):
    result = engine.process_text(TEXTS[2], "d")
    result["quantities"] = list(reversed(result["quantities"]))      # any order in, stable order out
    (doc, _), = Packed([(result, {})]).documents()
    starts = [r["start"] for r in doc["quantities"].to_pylist()]
    assert len(starts) >= 2 and starts == sorted(starts)


def test_a_spilled_batch_comes_back_whole_and_leaves_no_file(engine, tmp_path):
    import pickle
    results = [(engine.process_text(t, f"d{i}"), {"total": 0.1 * i}) for i, t in enumerate(TEXTS)]
    packed = Packed(results)
    spilled = pickle.loads(pickle.dumps(Spilled(packed, str(tmp_path))))   # as it crosses the pool
    assert len(list(tmp_path.iterdir())) == 1                              # one file for all tables
    back = spilled.load()
    assert not list(tmp_path.iterdir())                      # unlinked once mapped
    for t in TABLES:
        assert back.tables[t].equals(packed.tables[t]), t
    assert [d[0]["tokens"].to_pylist() for d in back.documents()] == \
        [d[0]["tokens"].to_pylist() for d in packed.documents()]


def _mapped(path: str) -> list[tuple[int, int]]:
    ranges = []
    with open("/proc/self/maps") as f:
        for line in f:
            if path in line:
                lo, hi = line.split()[0].split("-")
                ranges.append((int(lo, 16), int(hi, 16)))
    return ranges


def _in(table, ranges) -> bool:
    return any(lo <= buf.address < hi for col in table.columns for chunk in col.chunks
               for buf in chunk.buffers() if buf is not None for lo, hi in ranges)


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="needs Linux /proc")
def test_a_spilled_batchs_mapping_lives_only_as_long_as_its_tokens(engine, tmp_path):
    """The writer holds the small tables' rows of many batches (the documents rows of the whole
    run): were they still in the batch's mapping, every batch's shared memory, tokens and all,
    would stay until the end of a run (it did: /dev/shm grew to 226 MB on the whole corpus at
    --jobs 2)."""
    results = [(engine.process_text(t, f"d{i}"), {}) for i, t in enumerate(TEXTS)]
    spilled = Spilled(Packed(results), str(tmp_path))
    path = spilled.path
    back = spilled.load()
    ranges = _mapped(path)
    assert ranges and _in(back.tables["tokens"], ranges)           # the tokens: zero-copy
    assert not any(_in(back.tables[t], ranges) for t in TABLES if t != "tokens")
    kept = {t: back.tables[t] for t in TABLES if t != "tokens"}
    del back
    assert not _mapped(path)                                      # gone with the tokens
    assert kept["documents"].column("doc_id").to_pylist() == ["d0", "d1", "d2"]


def test_spill_folders_of_dead_runs_are_removed(tmp_path):
    import subprocess
    import sys
    from pipeline import batch
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    stale, live = tmp_path / f"pipeline-spill-{dead}-x", tmp_path / f"pipeline-spill-{os.getpid()}-y"
    stale.mkdir()
    live.mkdir()
    new = batch.spill_folder(tmp_path)
    assert not stale.exists() and live.exists() and new.parent == tmp_path


def test_a_batch_that_cannot_spill_goes_through_the_pipe(engine, tmp_path):
    import pickle
    packed = Packed([(engine.process_text(TEXTS[0], "d0"), {})])
    spilled = pickle.loads(pickle.dumps(Spilled(packed, str(tmp_path / "missing"))))
    assert spilled.inline is not None and spilled.path is None
    back = spilled.load()
    assert all(back.tables[t].equals(packed.tables[t]) for t in TABLES)


def test_rows_become_the_same_table_as_from_pylist(engine):
    """batch._columns (dicts as one struct array) equals Table.from_pylist with the table's schema,
    metadata included: extra keys ignored, missing keys null, empty lists empty tables."""
    import pyarrow as pa

    from conftest import SEEDS
    from pipeline import batch
    from pipeline.records import ENTITY_TABLES, SCHEMAS
    results = [engine.process_path(p) for p in sorted(SEEDS.glob("*.txt"))]
    for table in ("documents", "blocks", *ENTITY_TABLES, "turns"):
        rows = [dict(r, not_a_column=1) for res in results for r in res[table]]
        assert rows, table
        rows[0].pop(SCHEMAS[table].names[-1])
        want = pa.Table.from_pylist(rows, schema=SCHEMAS[table])
        got = batch._columns(table, rows)
        assert got.schema.equals(SCHEMAS[table], check_metadata=True) and got.equals(want), table
        assert batch._columns(table, []).equals(SCHEMAS[table].empty_table())


def test_a_batch_sorts_each_documents_rows_like_sort_rows(engine):
    # Rows out of order, ties on start, a null end: the vectorised check must send the batch to
    # the Arrow sort, which must agree with sort_rows (stable, nulls last), document by document.
    import random
    from pipeline.records import sort_rows
    rng = random.Random(7)
    results, wanted = [], []
    for i, text in enumerate(TEXTS * 2):
        result = engine.process_text(text, f"d{i}")
        rows = [dict(r) for r in result["quantities"]]
        if rows:
            rows.append(dict(rows[0], end=None, unit="甲"))        # same start, null end: last
            rows.append(dict(rows[0], unit="乙"))                  # an exact tie: kept in order
        rng.shuffle(rows)
        result["quantities"] = rows
        wanted.append(sort_rows("quantities", rows))
        results.append((result, {}))
    assert sum(map(len, wanted)) > 6
    for (doc, _), want in zip(Packed(results).documents(), wanted):
        have = doc["quantities"].to_pylist()
        assert [(r["start"], r["end"], r["unit"]) for r in have] == \
               [(r["start"], r["end"], r["unit"]) for r in want]


def test_a_batch_in_order_keeps_its_rows(engine):
    results = [(engine.process_text(t, f"d{i}"), {}) for i, t in enumerate(TEXTS)]
    for (doc, _), (result, _) in zip(Packed(results).documents(), results):
        assert [r["start"] for r in doc["dates"].to_pylist()] == [r["start"] for r in result["dates"]]
