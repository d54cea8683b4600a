"""The pipeline: one explicit list of stages over one Doc, and the per-worker Engine.

    ingest -> blocks -> segment -> reference date -> quantities, dates, organisations
           -> resolve (overlaps, main blocks only) -> turns -> rows

Stages are plain functions called in the order written in `Engine.steps`; there is no
registry. A batch run takes its documents stage by stage (`Engine.process_paths`), which keeps
each stage's rules and caches warm; one document alone goes through `Engine.run_stages`.
The Engine compiles rules/ and builds the tokenizer once per run (forked workers inherit it).
"""
from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from operator import itemgetter
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa

from . import blocks, dates, organisations, quantities, resolve, segment, turns
from .document import Doc, code_points
from .ingest import IngestError, doc_from_text, read_document
from .native import cjieba as _cjieba    # None without a C compiler (setup.py)
from .records import BLOCK_LABELS, SCHEMAS, TABLES, TOKENS_NO_DOC_ID
from .rules import (DEFAULT_RULES_DIR, DocumentTimeout, RuleError, RuleTimeout, document_budget, fingerprint,
                    load_yaml, rule_files, watchdog)

# rule file stem -> the stage module that compiles it (one file per stage that has rules)
RULE_MODULES = {
    "blocks": blocks,
    "quantities": quantities,
    "dates": dates,
    "organisations": organisations,
    "turns": turns,
}


def load_rules(rules_dir: Path = DEFAULT_RULES_DIR) -> dict:
    """Load and compile every rule file strictly; RuleError names file, rule and line."""
    files = {p.stem: p for p in rule_files(rules_dir)}
    missing = set(RULE_MODULES) - set(files)
    if missing:
        raise RuleError(rules_dir, f"missing rule file(s): {sorted(m + '.yaml' for m in missing)}")
    unknown = set(files) - set(RULE_MODULES)
    if unknown:
        raise RuleError(rules_dir, f"unknown rule file(s) {sorted(u + '.yaml' for u in unknown)}; "
                                   f"expected {sorted(m + '.yaml' for m in RULE_MODULES)}")
    compiled = {}
    for stem, module in RULE_MODULES.items():
        path = files[stem]
        data = load_yaml(path)
        if not isinstance(data, dict) or data.get("table") != stem:
            raise RuleError(path, f"the file must be a mapping with `table: {stem}`")
        compiled[stem] = module.compile_rules(data, path)
    return compiled


class Engine:
    """Compiled rules + tokenizer: built once per worker, then used for every document.

    `watch`: run each document under a watchdog alarm instead of a timeout on every pattern call
    (rules.watchdog; faster). For batch runs, which own their process's SIGALRM; off by default,
    so a program that embeds the engine keeps its own alarms.
    """

    def __init__(self, rules_dir: Path = DEFAULT_RULES_DIR, reference_date: dt.date | None = None,
                 segmenter: str = "auto", watch: bool = False):
        self.rules_dir = Path(rules_dir)
        self.watch = watch
        self.rules = load_rules(self.rules_dir)
        self.rules_fingerprint = fingerprint(self.rules_dir)
        self.segmenter = segment.make_segmenter(organisations.lexicon_words(self.rules["organisations"]),
                                                segmenter)
        self.reference_date = reference_date
        self.seconds = defaultdict(float)
        # pyarrow imports pandas and its compute kernels lazily, on the first table built (~0.4 s):
        # pay that here, at start-up, and once before forked workers inherit the engine
        _warm_up = Doc("warm-up", "warm up")
        _warm_up.tokens = self.segmenter.tokens(_warm_up.folded)
        rows_of(_warm_up)

    # -- the stages --------------------------------------------------------------------------
    def steps(self) -> list[tuple[str, Callable[[Doc], None]]]:
        """The stages in order, each as (name, function of one Doc). The functions look up the
        stage modules and self.rules when called, so a test may patch either."""
        return [
            ("blocks", lambda doc: blocks.label_blocks(doc, self.rules["blocks"])),
            ("segment", lambda doc: segment.segment(doc, self.segmenter)),
            ("reference", self._reference),
            ("quantities", lambda doc: quantities.extract(doc, self.rules["quantities"])),
            ("dates", lambda doc: dates.extract(doc, self.rules["dates"])),
            ("organisations", lambda doc: organisations.extract(doc, self.rules["organisations"])),
            ("resolve", resolve.resolve),
            # after resolve: turns read the resolved organisations
            ("turns", lambda doc: turns.extract(doc, self.rules["turns"], self.rules["organisations"])),
        ]

    def _reference(self, doc: Doc) -> None:
        if self.reference_date is not None and not doc.reference_fixed:
            doc.published, doc.published_source, doc.reference_fixed = self.reference_date, "user", True
        dates.find_reference(doc, self.rules["dates"])

    # -- one document ---------------------------------------------------------------------------
    def run_stages(self, doc: Doc) -> Doc:
        seconds, clock = self.seconds, time.perf_counter
        for name, step in self.steps():
            t = clock()
            step(doc)
            seconds[name] += clock() - t
        return doc

    def process_path(self, path: Path, batch: bool = False) -> dict[str, list[dict]]:
        """`batch`: the tokens table comes without its doc_id column (batch.Packed adds it once
        for the whole batch); otherwise every table is complete."""
        t = time.perf_counter()
        try:
            doc = read_document(path)
        except IngestError as e:
            return error_result(path, str(e))
        finally:
            self.seconds["ingest"] += time.perf_counter() - t
        return self.process_doc(doc, batch)

    def process_text(self, text: str, doc_id: str = "text", reference: dt.date | None = None) -> dict:
        doc = doc_from_text(text, doc_id)
        if reference is not None:
            doc.published, doc.published_source, doc.reference_fixed = reference, "user", True
        return self.process_doc(doc)

    def process_doc(self, doc: Doc, batch: bool = False) -> dict[str, list[dict]]:
        try:
            if self.watch:
                spare = doc.fresh_copy()
                try:
                    with watchdog(document_budget(len(doc.text))):
                        self.run_stages(doc)
                except DocumentTimeout:
                    # a runaway pattern, or a very slow document: again, with a timeout on every
                    # pattern call, which names the rule (or finishes the document)
                    doc = spare
                    self.run_stages(doc)
            else:
                self.run_stages(doc)
        except RuleTimeout as e:
            return timed_out(doc, e)
        t = time.perf_counter()
        rows = rows_of(doc, tokens_doc_id=not batch)
        self.seconds["tables"] += time.perf_counter() - t
        return rows

    # -- several documents, stage by stage ----------------------------------------------------------
    def process_paths(self, paths: list[Path], batch: bool = False) -> list[tuple[dict, dict]]:
        """(process_path's result, its seconds per stage and "total") for each path, in order:
        the same results, but each stage runs over all the documents before the next stage
        starts. A stage's compiled patterns, caches and code then stay in the CPU's caches from
        one document to the next: 1.15x faster than one document after another on the whole
        corpus, 1.21x on 400 documents (side by side, 2026-12-07; README "Benchmarks").
        A document that fails (bad input, a rule timeout, an internal error) fails alone. Under
        `watch` one watchdog covers the whole list, with the budget of one document as long as
        all of them; on its alarm every document is run again on its own, as process_doc runs
        it."""
        t0 = time.perf_counter()
        out: list[dict | None] = [None] * len(paths)
        secs = [defaultdict(float) for _ in paths]
        live: list[tuple[int, Doc]] = []
        for i, path in enumerate(paths):
            t = time.perf_counter()
            try:
                live.append((i, read_document(path)))
            except IngestError as e:
                out[i] = error_result(path, str(e))
            except Exception as e:          # one bad document never kills the batch
                out[i] = internal_error(path, e)
            secs[i]["ingest"] += time.perf_counter() - t
        if self.watch and live:
            read, spares = live, [doc.fresh_copy() for _, doc in live]
            try:
                with watchdog(document_budget(sum(len(doc.text) for _, doc in live))):
                    live = self._stage_by_stage(read, paths, out, secs)
            except DocumentTimeout:         # (`read`: the alarm may come after `live` is reassigned)
                for (i, _), doc in zip(read, spares):
                    secs[i] = defaultdict(float, ingest=secs[i]["ingest"])
                    out[i], seconds = self._alone(doc, paths[i], batch)
                    for k, v in seconds.items():
                        secs[i][k] += v
                live = []
        else:
            live = self._stage_by_stage(live, paths, out, secs)
        for i, doc in live:
            t = time.perf_counter()
            try:
                out[i] = rows_of(doc, tokens_doc_id=not batch)
            except Exception as e:
                out[i] = internal_error(paths[i], e)
            secs[i]["tables"] += time.perf_counter() - t
        for s in secs:
            s["total"] = sum(s.values())
        if secs:                            # the loops' own time, so the totals add up to the wall time
            secs[-1]["total"] += max(0.0, time.perf_counter() - t0 - sum(s["total"] for s in secs))
        return [(r, dict(s)) for r, s in zip(out, secs)]

    def _stage_by_stage(self, live: list[tuple[int, Doc]], paths: list[Path], out: list,
                        secs: list) -> list[tuple[int, Doc]]:
        """Each stage over every live document (paths[i] is document i's path); returns those
        that did not fail (their result in `out`, by index)."""
        clock = time.perf_counter
        for name, step in self.steps():
            kept = []
            for i, doc in live:
                t = clock()
                try:
                    step(doc)
                except RuleTimeout as e:
                    out[i] = timed_out(doc, e)
                except Exception as e:
                    out[i] = internal_error(paths[i], e)
                else:
                    kept.append((i, doc))
                secs[i][name] += clock() - t
            live = kept
        return live

    def _alone(self, doc: Doc, path: Path, batch: bool) -> tuple[dict, dict]:
        """process_doc(doc) with its own seconds (what it added to self.seconds, which keeps its
        running totals); an internal error fails the document."""
        before = dict(self.seconds)
        try:
            result = self.process_doc(doc, batch)
        except Exception as e:
            result = internal_error(path, e)
        return result, {k: v - before.get(k, 0.0) for k, v in self.seconds.items() if v != before.get(k)}


def rows_of(doc: Doc, tokens_doc_id: bool = True) -> dict[str, list[dict]]:
    """The document's rows per table. `tokens_doc_id` False (a worker's batch, for batch.Packed):
    the tokens without their doc_id column, and the blocks as tuples in column order, which
    Arrow converts as it does dicts, from less to build."""
    out = {t: [] for t in TABLES}
    blocks = [(doc.doc_id, b.index, b.start, b.end, b.label, b.reason) for b in doc.blocks]
    labels = list(map(itemgetter(4), blocks))
    counts = {label: labels.count(label) for label in BLOCK_LABELS}
    out["blocks"] = blocks if not tokens_doc_id else [dict(zip(_BLOCK_COLUMNS, b)) for b in blocks]
    out["tokens"] = token_table(doc, tokens_doc_id)
    for table in ("quantities", "dates", "organisations", "turns"):
        out[table] = doc.rows.get(table, [])
    out["documents"] = [document_row(doc, counts)]
    return out


_BLOCK_COLUMNS = SCHEMAS["blocks"].names


def token_table(doc: Doc, with_doc_id: bool = True) -> pa.Table:
    """The tokens table of one document, built column-wise (a row dict per token is the
    slowest part of a run otherwise)."""
    n = len(doc.tokens)
    schema = SCHEMAS["tokens"]
    if n == 0:
        return schema.empty_table() if with_doc_id else TOKENS_NO_DOC_ID.empty_table()
    texts = _token_texts(doc.text, doc.tokens)
    # start and end straight from the Tokens arrays (no copy)
    columns = [pa.array(doc.tokens.starts), pa.array(doc.tokens.ends), texts]
    if not with_doc_id:
        return pa.Table.from_arrays(columns, schema=TOKENS_NO_DOC_ID)
    return pa.Table.from_arrays([pa.repeat(pa.scalar(doc.doc_id, pa.string()), n), *columns], schema=schema)


def _token_texts(text: str, tokens) -> pa.Array:
    """The token strings as one Arrow array, built from buffers, no Python string per token.

    With pipeline._cjieba: its utf8_pieces writes the tokens' UTF-8 bytes and offsets in one
    pass. Without it: the spans s0,e0,s1,e1,… cut the text's UTF-8 bytes into one string array
    whose even elements are the tokens (same result; tests/test_offsets.py compares them)."""
    n = len(tokens)
    if _cjieba is not None:
        try:
            offsets, data = _cjieba.utf8_pieces(text, np.ascontiguousarray(tokens.starts),
                                                np.ascontiguousarray(tokens.ends))
            return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))
        except OverflowError:                   # 2 GB of token text: 64-bit offsets below
            pass
    bounds = np.empty(2 * n, dtype=np.int64)                             # s0, e0, s1, e1, ...
    bounds[0::2], bounds[1::2] = tokens.starts, tokens.ends
    cps = code_points(text)
    widths = 1 + (cps >= 0x80) + (cps >= 0x800) + (cps >= 0x10000)       # UTF-8 bytes per char
    byte_at = np.concatenate(([0], np.cumsum(widths, dtype=np.int64)))
    data = text.encode("utf-8", "surrogatepass")
    if len(data) < 2**31:                        # 32-bit offsets: the take yields `string` directly
        pieces = pa.StringArray.from_buffers(2 * n - 1, pa.py_buffer(byte_at[bounds].astype(np.int32)),
                                             pa.py_buffer(data))
        return pieces.take(pa.array(np.arange(0, 2 * n - 1, 2)))
    pieces = pa.LargeStringArray.from_buffers(2 * n - 1, pa.py_buffer(byte_at[bounds]), pa.py_buffer(data))
    return pieces.take(pa.array(np.arange(0, 2 * n - 1, 2))).cast(pa.string())


def document_row(doc: Doc, counts: dict, status: str = "ok", error: str | None = None) -> dict:
    return {"doc_id": doc.doc_id, "path": doc.path, "sha256": doc.sha256, "title": doc.title,
            "published": doc.published, "published_source": doc.published_source,
            "encoding": doc.encoding, "n_chars": len(doc.text),
            "n_main": counts.get("main", 0), "n_off_topic": counts.get("off_topic", 0),
            "n_boilerplate": counts.get("boilerplate", 0), "status": status, "error": error}


def timed_out(doc: Doc, e: RuleTimeout) -> dict[str, list[dict]]:
    """A rule that ran out of time on one document: that document fails with the rule named."""
    where = doc.path or doc.doc_id
    return error_result(where, f"{where}: {e}", doc)


def internal_error(path, e: Exception) -> dict[str, list[dict]]:
    """A bug met on one document: that document fails with the exception named."""
    return error_result(path, f"{path}: internal error: {type(e).__name__}: {e}")


def error_result(path, message: str, doc: Doc | None = None) -> dict[str, list[dict]]:
    """A failed document: one documents row with status error, nothing else."""
    out = {t: [] for t in TABLES}
    p = Path(str(path))
    row = {"doc_id": p.stem if doc is None else doc.doc_id, "path": str(path),
           "sha256": doc.sha256 if doc else None, "title": None, "published": None,
           "published_source": None, "encoding": doc.encoding if doc else None,
           "n_chars": len(doc.text) if doc else None, "n_main": None, "n_off_topic": None,
           "n_boilerplate": None, "status": "error", "error": message}
    out["documents"] = [row]
    return out
