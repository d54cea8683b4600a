"""Batch runs: identical tables whatever the parallelism, incremental reruns, manifests,
one bad document never kills the batch, and no half-written outputs."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

from conftest import ROOT, SEEDS, read_tables
from pipeline.cli import main as cli
from pipeline.records import SCHEMAS, TABLES
from pipeline.run import BATCH_BYTES, BATCH_DOCS, RunOptions, make_batches, run


def test_jobs_give_identical_tables(tmp_path, corpus_dir):
    run([corpus_dir], tmp_path / "j1", RunOptions(jobs=1, progress=False))
    run([corpus_dir], tmp_path / "j2", RunOptions(jobs=2, progress=False))
    a, b = read_tables(tmp_path / "j1"), read_tables(tmp_path / "j2")
    assert all(a[t] == b[t] for t in TABLES)
    assert len(a["documents"]) == len(list(corpus_dir.glob("*.txt")))


def test_batches_keep_every_path_in_order_and_shrink_at_the_end(tmp_path):
    paths = []
    for i, size in enumerate([50_000] * 40 + [100] * 200 + [5_000] * 30):
        p = tmp_path / f"{i:04d}.txt"
        p.write_bytes(b"x" * size)
        paths.append(p)
    paths.append(tmp_path / "missing.txt")            # unreadable: still one path of a batch
    for jobs in (1, 2):
        batches = make_batches(paths, jobs)
        assert [q for b in batches for q in b] == [str(p) for p in paths]
        assert all(0 < len(b) <= BATCH_DOCS for b in batches)
        assert all(sum(os.path.getsize(q) for q in b[:-1] if os.path.exists(q)) < BATCH_BYTES for b in batches)
        assert len(batches[-1]) == 1 and len(batches[-2]) == 1      # the last tasks are single files
    assert make_batches([], 2) == []


def test_rerun_reuses_unchanged_documents(tmp_path, corpus_dir):
    out = tmp_path / "out"
    first = run([corpus_dir], out, RunOptions(jobs=1, progress=False))
    before = read_tables(out)
    # change one document: only it is reprocessed
    changed = sorted(corpus_dir.glob("*.txt"))[3]
    original = changed.read_bytes()
    try:
        changed.write_bytes(original + "\n责任编辑：张三\n".encode("utf-8"))
        second = run([corpus_dir], out, RunOptions(jobs=1, progress=False))
        assert second["reused_documents"] == len(first["inputs"]) - 1
    finally:
        changed.write_bytes(original)
    third = run([corpus_dir], out, RunOptions(jobs=1, progress=False))
    assert third["reused_documents"] == len(first["inputs"]) - 1   # the restored one is new again
    assert read_tables(out) == before
    forced = run([corpus_dir], out, RunOptions(jobs=1, progress=False, force=True))
    assert forced["reused_documents"] == 0
    assert read_tables(out) == before


def test_manifest_and_schemas(tmp_path):
    out = tmp_path / "out"
    returned = run([SEEDS], out, RunOptions(jobs=1, progress=False))
    m = json.loads((out / "_manifest.json").read_text(encoding="utf-8"))
    for key in ("pipeline_version", "rules_fingerprint", "jieba_version", "segmenter", "inputs", "rows",
                "errors", "seconds_per_stage", "seconds_encoding_cpu"):
        assert key in m, key
    assert returned["rows"] == m["rows"] and returned["seconds_encoding_cpu"] == m["seconds_encoding_cpu"] > 0
    assert m["segmenter"]["hmm"] is False
    assert {i["doc_id"] for i in m["inputs"]} == {p.stem for p in SEEDS.glob("*.txt")}
    for t in TABLES:
        table = pq.read_table(out / f"{t}.parquet")
        assert table.schema.equals(SCHEMAS[t]), t            # explicit schema, no pandas index
        assert m["rows"][t] == table.num_rows


def test_empty_tables_keep_their_schema(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "empty.txt").write_bytes(b"")
    run([tmp_path / "in"], tmp_path / "out", RunOptions(jobs=1, progress=False))
    for t in TABLES:
        assert pq.read_table(tmp_path / "out" / f"{t}.parquet").schema.equals(SCHEMAS[t])


def _bad_batch(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "a_good.txt").write_text("11月10日，发布会在武汉召开，共有300家企业参加。", encoding="utf-8")
    (d / "b_pdf.txt").write_bytes(b"%PDF-1.4 binary")
    (d / "c_binary.txt").write_bytes(bytes(range(256)) * 8)
    (d / "d_gbk.txt").write_bytes("今年上半年增长5.2%。".encode("gbk"))
    return d


def test_bad_documents_do_not_kill_the_batch(tmp_path, capsys):
    d = _bad_batch(tmp_path)
    code = cli(["run", str(d), "-o", str(tmp_path / "out"), "-j", "1", "--no-progress"])
    assert code == 1                                            # some documents failed
    docs = {r["doc_id"]: r for r in pq.read_table(tmp_path / "out" / "documents.parquet").to_pylist()}
    assert docs["a_good"]["status"] == "ok" and docs["d_gbk"]["status"] == "ok"
    assert docs["d_gbk"]["encoding"] == "gb18030"
    for bad in ("b_pdf", "c_binary"):
        assert docs[bad]["status"] == "error"
        assert f"{bad}.txt" in docs[bad]["error"]
    assert "b_pdf.txt" in capsys.readouterr().err


def test_fail_fast_writes_nothing(tmp_path):
    d = _bad_batch(tmp_path)
    code = cli(["run", str(d), "-o", str(tmp_path / "out"), "-j", "1", "--no-progress", "--fail-fast"])
    assert code == 1
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert not list(tmp_path.glob(".out.tmp-*"))


def test_missing_input_is_a_usage_error(tmp_path, capsys):
    assert cli(["run", str(tmp_path / "nope"), "-o", str(tmp_path / "out")]) == 2
    assert "nope" in capsys.readouterr().err


def test_duplicate_doc_id_is_an_error_row(tmp_path):
    for sub in ("x", "y", "z"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "same.txt").write_text("今年增长5%。", encoding="utf-8")
    (tmp_path / "x" / "other.txt").write_text("今年增长6%。", encoding="utf-8")
    run([tmp_path / "z", tmp_path / "x", tmp_path / "y"], tmp_path / "out", RunOptions(jobs=1, progress=False))
    docs = pq.read_table(tmp_path / "out" / "documents.parquet").to_pylist()
    assert [(d["doc_id"], d["status"]) for d in docs] == [("other", "ok"), ("same", "ok"), ("same", "error"),
                                                          ("same", "error")]
    assert docs[1]["path"].endswith("x/same.txt")          # the first by path keeps its doc_id
    assert all(f"already used by {tmp_path / 'x' / 'same.txt'}" in d["error"] for d in docs[2:])


def test_duplicate_inside_a_batch_cuts_the_run_only_there(tmp_path):
    """A duplicate between fresh documents of one batch: the others' rows are exactly those of a
    run without it, in order, and the duplicate is one error row."""
    texts = {"a": "2024年3月5日，甲公司营收增长5%。", "same": "今年增长5%。", "z": "去年12月，乙集团投资3亿元。"}
    for sub in ("x", "y"):
        (tmp_path / sub).mkdir()
    for stem, text in texts.items():
        (tmp_path / "x" / f"{stem}.txt").write_text(text, encoding="utf-8")
    (tmp_path / "y" / "same.txt").write_text("明年投资8亿元。", encoding="utf-8")
    run([tmp_path / "x"], tmp_path / "alone", RunOptions(jobs=1, progress=False))
    run([tmp_path / "x", tmp_path / "y"], tmp_path / "both", RunOptions(jobs=1, progress=False))
    alone, both = read_tables(tmp_path / "alone"), read_tables(tmp_path / "both")
    for t in TABLES:
        if t != "documents":
            assert both[t] == alone[t], t
    docs = pq.read_table(tmp_path / "both" / "documents.parquet").to_pylist()
    assert [(d["doc_id"], d["status"]) for d in docs] == [("a", "ok"), ("same", "ok"), ("same", "error"), ("z", "ok")]
    assert docs[2]["path"].endswith("y/same.txt")


@pytest.mark.slow
def test_sigkill_leaves_previous_outputs_intact(tmp_path, corpus_dir):
    """A killed run leaves the previous tables, or (killed after its commit, while the process
    was exiting) the complete new ones: never a mix, never a half-written file."""
    out = tmp_path / "out"
    run([corpus_dir], tmp_path / "complete", RunOptions(jobs=1, progress=False))
    after = read_tables(tmp_path / "complete")
    run([SEEDS], out, RunOptions(jobs=1, progress=False))
    before = read_tables(out)
    for delay in (0.5, 1.5, 3.0):
        proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "run", str(corpus_dir), "-o", str(out),
                                 "-j", "1", "--force", "--no-progress"], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        now = read_tables(out)
        if proc.returncode == 0 or now == after:     # it got to its commit: restore the baseline
            assert now == after
            run([SEEDS], out, RunOptions(jobs=1, progress=False, force=True))
            continue
        assert now == before, f"outputs changed by a run killed after {delay}s"


def test_stale_temporary_folders_are_removed(tmp_path):
    stale = tmp_path / ".out.tmp-999999999-abc"          # no such process
    stale.mkdir()
    run([SEEDS], tmp_path / "out", RunOptions(jobs=1, progress=False))
    assert not stale.exists()


def test_bench_memory_copies_are_checked():
    from pipeline.cli import build_parser
    parse = build_parser().parse_args
    assert parse(["bench", "--memory-copies", "1,2,4,8"]).memory_copies == (1, 2, 4, 8)
    assert parse(["bench"]).memory_copies == (1, 4)
    for bad in ("1", "1,x", "0,4", "4,4"):
        with pytest.raises(SystemExit):
            parse(["bench", "--memory-copies", bad])


def test_writer_makes_row_groups_from_many_pieces_as_from_one_chunk(tmp_path, monkeypatch):
    """The writer hands Parquet each row group as the documents' pieces, uncombined: the file
    must hold full row groups, and the same bytes as a file written one chunk per row group."""
    import pyarrow as pa

    from pipeline import write
    from pipeline.write import ROW_GROUP, WRITE_OPTIONS, TableWriter
    n = 150_000
    tokens = pa.table({"doc_id": [f"d{i // 500:03d}" for i in range(n)], "start": list(range(n)),
                       "end": list(range(1, n + 1)), "text": ["词"] * n}, schema=SCHEMAS["tokens"])
    monkeypatch.setattr(write, "BUFFER_BYTES", 1 << 40)        # row groups cut by rows only
    w = TableWriter(tmp_path / "out")
    for a in range(0, n, 500):                                  # one piece per "document"
        w.add({"tokens": tokens.slice(a, 500)})
    w.commit({})
    ref = pq.ParquetWriter(tmp_path / "ref.parquet", SCHEMAS["tokens"], **WRITE_OPTIONS["tokens"])
    for a in range(0, n, ROW_GROUP):
        ref.write_table(tokens.slice(a, ROW_GROUP).combine_chunks(), row_group_size=ROW_GROUP)
    ref.close()
    got = tmp_path / "out" / "tokens.parquet"
    md = pq.read_metadata(got)
    assert [md.row_group(i).num_rows for i in range(md.num_row_groups)] == [ROW_GROUP, ROW_GROUP, n - 2 * ROW_GROUP]
    assert got.read_bytes() == (tmp_path / "ref.parquet").read_bytes()
    assert pq.read_table(got).equals(tokens)
