"""A batch run: find the inputs, process them (one or more worker processes), write the tables."""
from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

from . import __version__
from .process import Engine, error_result
from .rules import DEFAULT_RULES_DIR, fingerprint
from .write import TableWriter


class InputError(Exception):
    pass


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


# --- workers -------------------------------------------------------------------------------------
_ENGINE: Engine | None = None


def _init_worker(rules_dir: str, reference: dt.date | None) -> None:
    global _ENGINE
    _ENGINE = Engine(Path(rules_dir), reference)


def _work(path: str) -> tuple[dict, dict]:
    t = time.perf_counter()
    try:
        result = _ENGINE.process_path(Path(path))
    except Exception as e:          # one bad document never kills the batch
        result = error_result(path, f"{path}: internal error: {type(e).__name__}: {e}")
    seconds = dict(_ENGINE.seconds)
    _ENGINE.seconds.clear()
    seconds["total"] = time.perf_counter() - t
    return result, seconds


class Progress:
    """A one-line progress bar on stderr, only when stderr is a terminal."""

    def __init__(self, total: int, enabled: bool | None = None):
        self.total, self.done, self.t0 = total, 0, time.perf_counter()
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.enabled = self.enabled and total > 1

    def step(self, n: int = 1) -> None:
        self.done += n
        if not self.enabled:
            return
        frac = self.done / self.total
        rate = self.done / max(1e-9, time.perf_counter() - self.t0)
        bar = "#" * int(frac * 30)
        sys.stderr.write(f"\r[{bar:<30}] {self.done}/{self.total} docs  {rate:.0f} docs/s")
        if self.done >= self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def run(inputs: list[str | Path], out_dir: Path, rules_dir: Path = DEFAULT_RULES_DIR, jobs: int | None = None,
        reference: dt.date | None = None, fail_fast: bool = False, progress: bool | None = None) -> dict:
    """Process every input and write the tables; returns the manifest."""
    t0 = time.perf_counter()
    paths = find_inputs(inputs)
    jobs = max(1, jobs or os.cpu_count() or 1)
    engine = Engine(Path(rules_dir), reference)     # compile once here: a broken rule stops the run
    writer = TableWriter(out_dir)                    # before any output is touched
    seconds: dict[str, float] = defaultdict(float)
    docs_meta, errors, seen_ids = [], [], {}
    bar = Progress(len(paths), progress)
    try:
        results = _results(paths, engine, jobs, rules_dir, reference)
        for path, (result, secs) in zip(paths, results):
            for k, v in secs.items():
                seconds[k] += v
            drow = result["documents"][0]
            if drow["doc_id"] in seen_ids:          # two files, one stem: keep the first
                result = error_result(path, f"{path}: doc_id {drow['doc_id']!r} is already used by "
                                            f"{seen_ids[drow['doc_id']]}; rename one of the files")
                drow = result["documents"][0]
            else:
                seen_ids[drow["doc_id"]] = str(path)
            writer.add(result)
            docs_meta.append({"doc_id": drow["doc_id"], "path": str(path), "sha256": drow["sha256"],
                              "status": drow["status"]})
            if drow["status"] != "ok":
                errors.append({"doc_id": drow["doc_id"], "path": str(path), "error": drow["error"]})
                if fail_fast:
                    raise DocumentFailed(drow["error"])
            bar.step()
        manifest = {
            "pipeline_version": __version__,
            "rules_fingerprint": fingerprint(Path(rules_dir)),
            "segmenter": engine.segmenter.settings(),
            "reference_date": reference.isoformat() if reference else None,
            "jobs": jobs,
            "inputs": docs_meta,
            "errors": errors,
            "seconds_per_stage": {k: round(v, 4) for k, v in sorted(seconds.items())},
            "seconds_wall": round(time.perf_counter() - t0, 4),
        }
        writer.commit(manifest)
    except BaseException:
        writer.abort()
        raise
    return {**manifest, "rows": writer.counts}


class DocumentFailed(Exception):
    pass


def _results(paths, engine, jobs, rules_dir, reference):
    if jobs == 1 or len(paths) < 2:
        global _ENGINE
        _ENGINE = engine
        for p in paths:
            yield _work(str(p))
        return
    ctx = mp.get_context("fork" if sys.platform != "win32" else "spawn")
    chunk = max(1, min(16, len(paths) // (jobs * 8) or 1))
    with ctx.Pool(jobs, initializer=_init_worker, initargs=(str(rules_dir), reference)) as pool:
        yield from pool.imap(_work, [str(p) for p in paths], chunksize=chunk)
