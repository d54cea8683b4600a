"""The results of a batch of documents as Arrow tables, one per output table.

Workers turn their rows into Arrow before sending them: one table per batch crosses the process
boundary (as one shared-memory file, `Spilled`; Dask pickles the Packed batch itself), where
per-document dicts or per-document Arrow tables cost more to send than to compute. The parent slices a batch back into documents
(zero-copy), so it can still merge reused documents in doc_id order and replace a document's
rows by an error row. The tokens table travels without its doc_id column (the same string on
every row, half the bytes sent); each document's slice gets it back.
"""
from __future__ import annotations

import itertools
import os
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .records import SCHEMAS, SORT_KEYS, TABLES, TOKENS_NO_DOC_ID
from .write import remove_stale


def to_arrow(table: str, rows: list[dict] | pa.Table) -> pa.Table:
    """Rows of one table in their stable order (SORT_KEYS), with the table's schema."""
    if isinstance(rows, pa.Table):
        return rows
    return _in_order(table, _columns(table, rows), [len(rows)])


def _columns(table: str, rows: list[dict]) -> pa.Table:
    # Keys the schema lacks (a rule's priority) are ignored, missing ones are null, an empty list
    # gives an empty table: as Table.from_pylist, which is 1.5-2x slower (measured on 400
    # documents) than converting the dicts as one struct array.
    return pa.Table.from_struct_array(pa.array(rows, type=_STRUCTS[table]))


_STRUCTS = {t: pa.struct(list(schema)) for t, schema in SCHEMAS.items()}


def result_tables(result: dict) -> dict[str, pa.Table]:
    """One document's result ({table: rows or Arrow}) as {table: Arrow table}."""
    return {t: to_arrow(t, result.get(t, [])) for t in TABLES}


SUMMARY = ("doc_id", "sha256", "status", "error")


class Packed:
    """A batch of document results, packed: per table one Arrow table of all the batch's rows in
    document order, plus each document's row counts, summary (SUMMARY of its documents row)
    and stage seconds."""

    def __init__(self, results: list[tuple[dict, dict]]):
        self.counts = [{t: _len(r.get(t, [])) for t in TABLES} for r, _ in results]
        self.seconds = [s for _, s in results]
        # what the parent's loop reads of each documents row, as Python values (to_pylist of
        # the documents table costs more than the whole table did to build)
        self.summaries = [{k: r["documents"][0].get(k) for k in SUMMARY} for r, _ in results]
        self._at = None                # row offsets of each document per table, on first use
        self.tables = {}
        for t in TABLES:
            parts = [p for p in (r.get(t, []) for r, _ in results) if _len(p)]
            if t == "tokens":          # built column-wise; sent without doc_id (see documents)
                self.tables[t] = _token_chunks([_without_doc_id(to_arrow(t, p)) for p in parts])
                continue
            # one conversion for the whole batch, then each document's rows in order
            rows = list(itertools.chain.from_iterable(parts))
            self.tables[t] = _in_order(t, _columns(t, rows), [len(p) for p in parts])

    def __len__(self) -> int:
        return len(self.counts)

    def rows(self, a: int, z: int) -> dict[str, pa.Table]:
        """Documents a..z-1 as one result: each table a zero-copy slice of the batch's, the tokens
        with their doc_id column back. A run of documents goes to the writer in one piece:
        per-document slices cost the parent a slice, a doc_id column and a buffer entry each."""
        at = self._starts()
        out = {t: self.tables[t].slice(at[t][a], at[t][z] - at[t][a]) for t in TABLES}
        counts = [c["tokens"] for c in self.counts[a:z]]
        ids = [d["doc_id"] for d in self.summaries[a:z]]
        out["tokens"] = out["tokens"].add_column(0, _DOC_ID, _repeated(ids, counts))
        return out

    def documents(self):
        """(result, seconds) per document: result maps each table to a zero-copy slice."""
        for i, secs in enumerate(self.seconds):
            yield self.rows(i, i + 1), secs

    def _starts(self) -> dict[str, list[int]]:
        if self._at is None:
            self._at = {t: [0, *itertools.accumulate(c[t] for c in self.counts)] for t in TABLES}
        return self._at


_DOC_ID = SCHEMAS["tokens"].field("doc_id")


def _repeated(ids: list[str], counts: list[int]) -> pa.Array:
    """ids[0] counts[0] times, then ids[1] counts[1] times, ...: the string array built from its
    buffers (a take costs some 40 instructions a row, this a few)."""
    raw = [s.encode() for s in ids]
    ends = np.cumsum(np.repeat(np.array([len(b) for b in raw], dtype=np.int64), counts))
    if len(ends) and ends[-1] >= 2**31:          # beyond 32-bit offsets: let Arrow say so
        return pa.array(ids, pa.string()).take(np.repeat(np.arange(len(ids)), counts))
    offsets = np.zeros(len(ends) + 1, dtype=np.int32)
    offsets[1:] = ends
    data = b"".join(b * n for b, n in zip(raw, counts))
    return pa.StringArray.from_buffers(len(ends), pa.py_buffer(offsets), pa.py_buffer(data))


def _token_chunks(tables: list[pa.Table]) -> pa.Table:
    # one chunk per document, not combined: the writer combines what it buffers anyway
    # (write.TableWriter._flush), so a copy here would be a second one
    if not tables:
        return TOKENS_NO_DOC_ID.empty_table()
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


def _in_order(table: str, data: pa.Table, sizes: list[int]) -> pa.Table:
    """Each document's rows in SORT_KEYS order (a stable sort, nulls last, as sort_rows),
    documents in input order. The stages give their rows in that order already: a vectorised
    check on the Arrow columns spares the sort (in Python, key tuples and all)."""
    if max(sizes, default=0) < 2 or _ordered(data, SORT_KEYS[table], sizes):
        return data
    keyed = data.append_column("_doc", pa.array(np.repeat(np.arange(len(sizes)), sizes)))
    keys = [(k, "ascending") for k in ("_doc", *SORT_KEYS[table])]      # nulls last: the default
    return data.take(pc.sort_indices(keyed, sort_keys=keys))


def _ordered(data: pa.Table, keys: tuple[str, ...], sizes: list[int]) -> bool:
    """True if every document's rows are non-decreasing by keys (doc_id, then int columns)."""
    tie = np.ones(data.num_rows - 1, dtype=bool)         # row i and i+1: same document, keys equal so far
    tie[np.cumsum(sizes)[:-1] - 1] = False
    for k in keys:
        col = data.column(k)
        if col.null_count:
            return False
        if pa.types.is_string(col.type):                 # doc_id: one per document, else sort
            if (tie & ~pc.equal(col[1:], col[:-1]).to_numpy(zero_copy_only=False)).any():
                return False
            continue
        a = col.to_numpy()
        if (tie & (a[1:] < a[:-1])).any():
            return False
        tie &= a[1:] == a[:-1]
    return True


def _without_doc_id(tokens: pa.Table) -> pa.Table:
    # workers build their tokens without it (Engine.process_paths(batch=True)); error rows have it
    return tokens.drop(["doc_id"]) if "doc_id" in tokens.column_names else tokens


def _len(rows) -> int:
    return rows.num_rows if isinstance(rows, pa.Table) else len(rows)


def first_row(table: pa.Table) -> dict:
    return {name: col[0].as_py() for name, col in zip(table.column_names, table.columns)}


class Spilled:
    """A Packed batch on its way from a helper process (workers.py): its tables wait in one file of a
    shared-memory folder (tmpfs), one Arrow IPC stream per table at the offsets in `spans`, and
    only the small rest is pickled. The parent maps the file (no unpickling; the tokens, most
    of the bytes, without a copy: see load) and unlinks it at once (the mapping lives on): sending whole tables through a pipe made
    the sender wait for the parent to read them (about a tenth of a `--jobs 2` run). One file,
    not one per table: the parent's loads took 0.126 s of CPU from seven files a batch, 0.071 s
    from one (whole corpus, `--jobs 2`)."""

    def __init__(self, packed: Packed, folder: str):
        self.counts, self.seconds, self.summaries = packed.counts, packed.seconds, packed.summaries
        self.path, self.spans, self.inline = None, {}, None
        try:
            fd, self.path = tempfile.mkstemp(dir=folder)
            os.close(fd)
            with pa.OSFile(self.path, "wb") as sink:
                for t, table in packed.tables.items():
                    at = sink.tell()
                    with pa.ipc.new_stream(sink, table.schema) as w:
                        w.write_table(table)
                    self.spans[t] = (at, sink.tell() - at)
        except OSError:                  # shared memory full (a small /dev/shm): through the pipe
            self._unlink()
            self.path, self.spans, self.inline = None, {}, packed.tables

    def load(self) -> Packed:
        packed = Packed.__new__(Packed)
        packed.counts, packed.seconds, packed.summaries = self.counts, self.seconds, self.summaries
        packed._at = None
        if self.inline is not None:
            packed.tables = self.inline
        else:
            data = pa.memory_map(self.path).read_buffer()
            # The tokens stay in the mapping (zero-copy), which then lives until their row
            # groups are written, a batch or two later. The other tables are copied out: their
            # writer buffers hold rows of many batches (documents: of the whole run), and a
            # zero-copy slice would keep each batch's whole mapping, tokens and all, to the end.
            packed.tables = {t: pa.ipc.open_stream(data.slice(at, n) if t == "tokens"
                                                   else pa.py_buffer(data.slice(at, n).to_pybytes())
                                                   ).read_all()
                             for t, (at, n) in self.spans.items()}
            self._unlink()
        return packed

    def _unlink(self) -> None:
        if self.path is not None:
            try:
                os.unlink(self.path)
            except OSError:
                pass


def spill_folder(root: Path | None = None) -> Path:
    """A folder for Spilled batches: in shared memory where there is one (/dev/shm)."""
    if root is None:
        shm = Path("/dev/shm")
        root = shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())
    remove_stale(root, "pipeline-spill-")
    return Path(tempfile.mkdtemp(prefix=f"pipeline-spill-{os.getpid()}-", dir=root))
