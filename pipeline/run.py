"""A batch run: find the inputs, process them (worker processes or Dask), write the tables.

Documents flow through in doc_id order, in batches of paths (`make_batches` sizes them): with
`--jobs N` the parent and N-1 helper processes share them (workers.py), a helper handing a batch
back as one Arrow table per output table in shared memory (batch.Spilled). The parent slices
each batch per document and the writer appends the rows to row-group buffers, so nothing holds
the whole corpus. An incremental rerun reuses the previous rows of
every document whose content hash, rules fingerprint, pipeline version and settings are
unchanged, by a streaming merge over the previous (doc_id-sorted) tables.
"""
from __future__ import annotations

import datetime as dt
import functools
import gc
import hashlib
import json
import os
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__
from .batch import Packed, first_row, result_tables
from .process import Engine, error_result
from .rules import DEFAULT_RULES_DIR
from .workers import SharedResults
from .write import PreviousRows, TableWriter


# A worker task is a batch of documents of about BATCH_BYTES of input (at most BATCH_DOCS files),
# smaller towards the end of the run so that no worker idles long while the other finishes.
BATCH_BYTES = 256 << 10
BATCH_DOCS = 64


class InputError(Exception):
    pass


class DocumentFailed(Exception):
    pass


@dataclass
class RunOptions:
    rules_dir: Path = DEFAULT_RULES_DIR
    jobs: int | None = None                  # None: every CPU
    reference: dt.date | None = None         # --reference-date for every document
    fail_fast: bool = False
    progress: bool | None = None             # None: only when stderr is a terminal
    segmenter: str = "auto"
    force: bool = False                      # reprocess even unchanged documents
    engine: str = "local"                    # local | dask
    scheduler: str | None = None             # dask scheduler address; None: a LocalCluster
    extra: dict = field(default_factory=dict)


def find_inputs(inputs: list[str | Path]) -> list[Path]:
    """Files and folders of .txt, sorted by doc_id then path, so output order is stable."""
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*.txt") if q.is_file()))
        elif p.exists() or p.is_symlink():
            out.append(p)
        else:
            raise InputError(f"{p}: no such file or folder")
    return sorted(set(out), key=lambda q: (q.stem, str(q)))


# --- the per-document function, in a worker --------------------------------------------------------
_ENGINE: Engine | None = None


def _init_worker(rules_dir: str, reference: dt.date | None, segmenter: str) -> None:
    global _ENGINE
    _ENGINE = Engine(Path(rules_dir), reference, segmenter, watch=True)
    gc.freeze()


def _work_batch(paths: list[str]) -> Packed:
    """A few documents in one task, run stage by stage (Engine.process_paths): their rows cross
    back to the parent as one Arrow table per output table (see batch.py), built here so the
    parent only writes."""
    results = _ENGINE.process_paths([Path(p) for p in paths], batch=True)
    t = time.perf_counter()
    packed = Packed(results)
    dt_ = time.perf_counter() - t
    secs = packed.seconds[-1]
    secs["tables"] = secs.get("tables", 0.0) + dt_
    secs["total"] += dt_
    return packed


def process_batch(paths: list[str], rules_dir: str, reference, segmenter: str) -> Packed:
    """A batch of documents in one task (Dask): the engine is built once per worker process."""
    key = (rules_dir, reference, segmenter)
    if _ENGINE is None or getattr(_ENGINE, "_key", None) != key:
        _init_worker(rules_dir, reference, segmenter)
        _ENGINE._key = key
    return _work_batch(paths)


class Progress:
    """A one-line progress bar on stderr, only when stderr is a terminal."""

    def __init__(self, total: int, enabled: bool | None = None):
        self.total, self.done, self.t0 = total, 0, time.perf_counter()
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.enabled = self.enabled and total > 1

    def step(self, n: int = 1) -> None:
        self.done += n
        if not self.enabled or (self.done % 10 and self.done < self.total):
            return
        frac = self.done / self.total
        rate = self.done / max(1e-9, time.perf_counter() - self.t0)
        bar = "#" * int(frac * 30)
        sys.stderr.write(f"\r[{bar:<30}] {self.done}/{self.total} docs  {rate:.0f} docs/s")
        if self.done >= self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def settings_key(opts: RunOptions, engine: Engine) -> dict:
    """What must be unchanged for a previous document's rows to be reused."""
    return {"pipeline_version": __version__, "rules_fingerprint": engine.rules_fingerprint,
            "segmenter": engine.segmenter.settings(),
            "reference_date": opts.reference.isoformat() if opts.reference else None}


def _sha256(path: Path) -> str | None:
    try:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()
    except OSError:
        return None


def _reusable(out_dir: Path, key: dict, force: bool) -> dict[str, str]:
    """doc_id -> sha256 of the previous run's ok documents, when its settings match ours."""
    mpath = Path(out_dir) / "_manifest.json"
    if force or not mpath.exists():
        return {}
    try:
        prev = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if any(prev.get(k) != v for k, v in key.items()) or prev.get("engine") == "dask":
        return {}
    return {d["doc_id"]: d["sha256"] for d in prev.get("inputs", []) if d.get("status") == "ok"}


def run(inputs: list[str | Path], out_dir: Path, opts: RunOptions | None = None, **kw) -> dict:
    """Process every input and write the tables; returns the manifest."""
    opts = opts or RunOptions(**kw)
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    paths = find_inputs(inputs)
    jobs = max(1, opts.jobs or os.cpu_count() or 1)
    # a broken rule stops the run here, before any output
    engine = Engine(Path(opts.rules_dir), opts.reference, opts.segmenter, watch=True)
    startup = time.perf_counter() - t0
    key = settings_key(opts, engine)
    previous = _reusable(out_dir, key, opts.force) if opts.engine == "local" else {}
    todo, reuse = [], {}
    for p in paths:
        sha = _sha256(p) if previous else None
        if sha is not None and previous.get(p.stem) == sha:
            reuse[str(p)] = p.stem
        else:
            todo.append(p)
    writer = TableWriter(out_dir, partitioned=opts.engine == "dask")
    prev_rows = PreviousRows(out_dir) if reuse else None
    seconds: dict[str, float] = defaultdict(float)
    docs_meta, errors = [], []
    # the doc_id last taken and its file: doc_ids are stems and paths come sorted by stem, so
    # a doc_id used twice is used by neighbours (no set of every doc_id of the run)
    taken = (None, None)
    bar = Progress(len(paths), opts.progress)
    # The engine lives as long as the run: frozen, its objects are not scanned again by the
    # cyclic garbage collector (nor, in forked helpers, their memory pages touched by it).
    gc.freeze()
    fresh = None
    try:
        fresh = _results(todo, engine, jobs, opts)
        # Fresh documents arrive as batches (Packed); a run of them goes to the writer in one
        # piece, cut only where a reused document or an error row has to go in between.
        batch, drows, i, run_from = None, [], 0, 0

        def write_run() -> None:
            nonlocal run_from
            if batch is not None and run_from < i:
                writer.add(batch.rows(run_from, i))
            run_from = i

        for path in paths:
            if str(path) in reuse:
                write_run()
                result = prev_rows.take(reuse[str(path)])
                drow = first_row(result["documents"])
            else:
                if batch is None or i == len(batch):
                    write_run()
                    batch, i, run_from = next(fresh), 0, 0
                    drows = batch.summaries
                    for secs in batch.seconds:
                        for k, v in secs.items():
                            seconds[k] += v
                drow, result = drows[i], None       # written with its run, unless replaced
            if drow["doc_id"] == taken[0]:          # two files, one stem: keep the first
                if result is None:                  # a fresh one: its run ends before it
                    write_run()
                    i = run_from = i + 1
                result = result_tables(error_result(
                    path, f"{path}: doc_id {drow['doc_id']!r} is already used by "
                          f"{taken[1]}; rename one of the files"))
                drow = first_row(result["documents"])
            else:
                taken = (drow["doc_id"], path)
                if result is None:
                    i += 1                          # it joins the run
            if result is not None:
                writer.add(result)
            docs_meta.append({"doc_id": drow["doc_id"], "path": str(path), "sha256": drow["sha256"],
                              "status": drow["status"]})
            if drow["status"] != "ok":
                errors.append({"doc_id": drow["doc_id"], "path": str(path), "error": drow["error"]})
                if opts.fail_fast:
                    raise DocumentFailed(drow["error"])
            bar.step()
        write_run()
        manifest = {
            **key,
            "jieba_version": _jieba_version(),
            "engine": opts.engine,
            "jobs": jobs,
            "reused_documents": len(reuse),
            "inputs": docs_meta,
            "errors": errors,
            "seconds_per_stage": {k: round(v, 4) for k, v in sorted(seconds.items())},
            "seconds_startup": round(startup, 4),
            "seconds_wall": round(time.perf_counter() - t0, 4),
        }
        if prev_rows is not None:
            prev_rows.close()
        manifest = writer.commit(manifest)
    except BaseException:
        writer.abort()
        raise
    finally:
        if fresh is not None:
            fresh.close()               # helper processes stopped, their shared memory removed
        gc.unfreeze()
    return manifest


def _jieba_version() -> str:
    from importlib.metadata import version
    return version("jieba")


def _results(paths: list[Path], engine: Engine, jobs: int, opts: RunOptions):
    """The documents' results as Packed batches, in input order (an iterator with close())."""
    global _ENGINE
    if opts.engine == "dask":
        from .dask_engine import dask_results
        return dask_results(paths, opts)
    _ENGINE = engine              # this process, and forked helpers, use the engine built here
    batches = make_batches(paths, jobs)
    if jobs == 1 or len(batches) < 2:
        return (_work_batch(b) for b in batches)
    init = functools.partial(_init_worker, str(opts.rules_dir), opts.reference, opts.segmenter)
    return SharedResults(batches, min(jobs, len(batches)) - 1, _work_batch, init)


def make_batches(paths: list[Path], jobs: int) -> list[list[str]]:
    """Consecutive runs of paths, one worker task each. A batch holds about BATCH_BYTES of input
    (building and sending one Arrow table per batch is then cheap per document), and less where
    little is left: a quarter of the remainder per worker, so the last tasks are small and both
    workers finish together. Sizes are file sizes, a stand-in for the work a document takes."""
    sizes = []
    for p in paths:
        try:
            sizes.append(p.stat().st_size)
        except OSError:
            sizes.append(0)              # an unreadable file fails on its own in the worker
    left = sum(sizes)
    out: list[list[str]] = []
    cur, cur_bytes = [], 0
    for p, n in zip(paths, sizes):
        if not cur:
            target = min(BATCH_BYTES, left // (jobs * 4))
        cur.append(str(p))
        cur_bytes += n
        left -= n
        if cur_bytes >= target or len(cur) >= BATCH_DOCS:
            out.append(cur)
            cur, cur_bytes = [], 0
    if cur:
        out.append(cur)
    return out
