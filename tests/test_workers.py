"""--jobs N: the parent and its helpers share the batches; the tables are as at --jobs 1 however
the batches fall, a helper that dies costs only its batch's documents, a helper's exception
fails the run, and nothing outlives it (processes, shared memory)."""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
import tempfile
import time
from pathlib import Path

import pytest

from conftest import SEEDS, read_tables
from pipeline import run as run_module
from pipeline import workers
from pipeline.batch import Packed
from pipeline.process import error_result
from pipeline.records import TABLES
from pipeline.run import DocumentFailed, RunOptions, run

PARENT = os.getpid()


def _toy(paths: list[str]) -> Packed:
    """A batch of error rows, one per path: cheap, and it says which paths it had."""
    return Packed([(error_result(Path(p), f"done by {os.getpid()}"), {}) for p in paths])


def _toy_slow(paths):
    time.sleep(0.05)             # every process, so that each gets a share whatever the start-up
    return _toy(paths)


def _raises_in_helper(paths):
    if os.getpid() != PARENT:
        raise ValueError("a bug in a stage")
    time.sleep(0.2)
    return _toy(paths)


def _batches(n: int) -> list[list[str]]:
    return [[f"/none/{k:03d}-{i}.txt" for i in range(k % 3 + 1)] for k in range(n)]


@pytest.mark.parametrize("helpers", [1, 2])
def test_batches_come_back_in_order_shared_by_parent_and_helpers(helpers):
    batches = _batches(30)
    got = list(workers.SharedResults(batches, helpers, _toy_slow))
    assert [[s["doc_id"] for s in p.summaries] for p in got] == [[Path(q).stem for q in b] for b in batches]
    by = {s["error"] for p in got for s in p.summaries}
    assert f"done by {PARENT}" in by and len(by) > 1          # the helpers did some of them
    assert not mp.active_children()


def test_an_exception_in_a_helper_fails_the_run():
    with pytest.raises(RuntimeError, match="ValueError: a bug in a stage"):
        list(workers.SharedResults(_batches(6), 1, _raises_in_helper))
    assert not mp.active_children()


def test_stopping_early_stops_the_helpers_and_removes_their_shared_memory(tmp_path, monkeypatch):
    spill = tmp_path / "spill"
    spill.mkdir()
    monkeypatch.setattr(workers, "spill_folder", lambda: spill)
    results = workers.SharedResults(_batches(40), 2, _toy_slow)
    assert len(mp.active_children()) == 2     # started before the first batch is asked for
    next(results)
    results.close()                           # as when the run stops (--fail-fast, Ctrl-C)
    assert not mp.active_children()
    assert not spill.exists()


def _copies(folder: Path, n: int) -> Path:
    folder.mkdir()
    for i in range(n):
        for p in sorted(SEEDS.glob("*.txt")):
            (folder / f"{p.stem}-{i}.txt").write_bytes(p.read_bytes())
    return folder


def test_a_failed_run_leaves_no_helper_and_no_shared_memory(tmp_path):
    docs = _copies(tmp_path / "in", 4)
    (docs / "000_broken.txt").write_bytes(bytes(range(256)) * 8)     # fails: binary
    with pytest.raises(DocumentFailed):
        run([docs], tmp_path / "out", RunOptions(jobs=2, progress=False, fail_fast=True))
    assert not mp.active_children()
    shm = Path("/dev/shm")
    root = shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())
    assert not list(root.glob(f"pipeline-spill-{os.getpid()}-*"))


def test_a_helper_that_dies_costs_only_its_batchs_documents(tmp_path, monkeypatch):
    docs = _copies(tmp_path / "in", 4)
    run([docs], tmp_path / "j1", RunOptions(jobs=1, progress=False))
    real = run_module._work_batch

    def dies_in_helper(paths):
        if os.getpid() != PARENT:
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(0.2)                       # so the helper claims a batch before we are done
        return real(paths)

    monkeypatch.setattr(run_module, "_work_batch", dies_in_helper)
    m = run([docs], tmp_path / "j2", RunOptions(jobs=2, progress=False))
    assert m["errors"], "the helper's batch should have failed"
    assert all("worker process died (signal 9)" in e["error"] for e in m["errors"])
    assert len(m["errors"]) < len(m["inputs"])
    lost = {e["doc_id"] for e in m["errors"]}
    one, two = read_tables(tmp_path / "j1"), read_tables(tmp_path / "j2")
    for t in TABLES:
        if t == "documents":
            continue
        assert [r for r in one[t] if r["doc_id"] not in lost] == two[t], t
    assert not mp.active_children()


_REAL_WORK = run_module._work_batch


def _marks_helpers(paths):
    """A helper leaves a mark; the test's process waits for one (a spawned helper takes a second
    or more to start), so that the helper gets a batch. Spawned, this module is imported afresh:
    the environment says which process is the test's."""
    marks = Path(os.environ["TEST_MARKS"])
    if os.getpid() == int(os.environ["TEST_PARENT_PID"]):
        give_up = time.monotonic() + 60
        while not any(marks.iterdir()) and time.monotonic() < give_up:
            time.sleep(0.05)
    else:
        (marks / str(os.getpid())).touch()
    return _REAL_WORK(paths)


def test_spawned_helpers_give_the_same_tables(tmp_path, monkeypatch):
    """Where processes cannot fork, helpers are spawned and build their own engine."""
    docs = _copies(tmp_path / "in", 6)
    run([docs], tmp_path / "j1", RunOptions(jobs=1, progress=False))
    marks = tmp_path / "marks"
    marks.mkdir()
    monkeypatch.setenv("TEST_PARENT_PID", str(os.getpid()))
    monkeypatch.setenv("TEST_MARKS", str(marks))
    monkeypatch.setattr(run_module, "_work_batch", _marks_helpers)
    monkeypatch.setattr(workers.mp, "get_all_start_methods", lambda: ["spawn"])
    run([docs], tmp_path / "j2", RunOptions(jobs=2, progress=False))
    assert list(marks.iterdir()), "the spawned helper processed no batch"
    a, b = read_tables(tmp_path / "j1"), read_tables(tmp_path / "j2")
    assert all(a[t] == b[t] for t in TABLES)


def test_a_rerun_at_jobs_2_merges_reused_and_fresh_documents_in_order(tmp_path):
    docs = _copies(tmp_path / "in", 4)
    out = tmp_path / "out"
    run([docs], out, RunOptions(jobs=2, progress=False))
    changed = sorted(docs.glob("*.txt"))[1::3]          # fresh batches between reused documents
    for p in changed:
        p.write_bytes(p.read_bytes() + "\n责任编辑：张三\n".encode("utf-8"))
    m = run([docs], out, RunOptions(jobs=2, progress=False))
    assert m["reused_documents"] == 8 - len(changed)
    run([docs], tmp_path / "all", RunOptions(jobs=1, progress=False, force=True))
    assert read_tables(out) == read_tables(tmp_path / "all")
