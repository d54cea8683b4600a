"""Write the tables as Parquet with explicit schemas, in row groups, atomically.

Rows arrive document by document (already in doc_id order, as Arrow) and are buffered per
table; a full buffer (1 MB or 64k rows) is written as a row group by a writer thread, so memory
does not grow with the number of documents.
Everything is written into a temporary folder beside the target; only when the run finishes
are the files moved into place (os.replace, one file at a time, the manifest last). A run
killed at any point before that leaves the previous outputs as they were; the moves themselves
take microseconds.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .records import SCHEMAS, TABLES

ROW_GROUP = 64_000       # rows per Parquet row group at most
# Rows buffered per table before they are written. Mention rows are wide (ten columns, texts),
# tokens narrow: a fixed byte budget per table keeps peak memory flat whatever the corpus size.
BUFFER_BYTES = 1 << 20
# Parquet options per table (default: pyarrow's). Tokens are most of the bytes: their offsets
# rise within a document, so delta encoding stores them in a fraction of the space a dictionary
# attempt takes, and no min/max statistics for 1.4 M token texts per 400 documents. Side by
# side on the tokens of 400 corpus documents: 0.146 -> 0.099 s to encode, 12.0 -> 4.7 MB.
WRITE_OPTIONS = {
    "tokens": {"use_dictionary": ["doc_id", "text"], "write_statistics": ["doc_id", "start", "end"],
               "column_encoding": {"start": "DELTA_BINARY_PACKED", "end": "DELTA_BINARY_PACKED"}},
}
PENDING = 4              # row groups handed to the writer thread and not yet written, at most


def remove_stale(folder: Path, prefix: str) -> None:
    """Temporary folders `<prefix><pid>-...` in folder left by killed runs (their process is
    gone) are removed."""
    for d in folder.glob(f"{prefix}*"):
        try:
            pid = int(d.name[len(prefix):].split("-", 1)[0])
            os.kill(pid, 0)              # still running: leave it alone
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except (ValueError, IndexError, PermissionError):
            pass


class TableWriter:
    """`partitioned`: each table is a folder of part files (a Parquet dataset), one part per
    row group; otherwise one file per table."""

    def __init__(self, out_dir: Path, partitioned: bool = False):
        self.out_dir = Path(out_dir)
        self.partitioned = partitioned
        self.parts: dict[str, int] = {t: 0 for t in TABLES}
        self.out_dir.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(self.out_dir.parent, f".{self.out_dir.name}.tmp-")
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.out_dir.name}.tmp-{os.getpid()}-",
                                         dir=self.out_dir.parent))
        self.buffers: dict[str, list[pa.Table]] = {t: [] for t in TABLES}
        self.buffered: dict[str, int] = {t: 0 for t in TABLES}
        self.buffered_bytes: dict[str, int] = {t: 0 for t in TABLES}
        # bytes per row of each table, measured on its first rows: `nbytes` of a slice costs
        # tens of microseconds, too much to ask for every document's every table
        self.row_bytes: dict[str, float] = {}
        self.writers: dict[str, pq.ParquetWriter] = {}       # used by the writer thread only
        self.thread = ThreadPoolExecutor(1, thread_name_prefix="parquet-writer")
        self.pending: deque[Future] = deque()
        self.counts: dict[str, int] = {t: 0 for t in TABLES}
        # CPU seconds the writer thread spent encoding: at --jobs 1 it runs on the otherwise idle
        # second core; at --jobs 2 it takes a share of two busy ones (the bound the bench prints)
        self.encode_cpu = 0.0                                  # written by the writer thread only

    def add(self, result: dict[str, pa.Table]) -> None:
        """One document's tables (batch.result_tables / Packed slices), in doc_id order."""
        for table in TABLES:
            data = result.get(table)
            if data is None or not data.num_rows:
                continue
            self.buffers[table].append(data)
            self.buffered[table] += data.num_rows
            per_row = self.row_bytes.get(table)
            if per_row is None:          # of one chunk: a chunked table counts its offsets per chunk
                per_row = self.row_bytes[table] = data.combine_chunks().nbytes / data.num_rows
            self.buffered_bytes[table] += data.num_rows * per_row
            self.counts[table] += data.num_rows
            if self.buffered[table] >= ROW_GROUP or self.buffered_bytes[table] >= BUFFER_BYTES:
                self._flush(table)

    def _flush(self, table: str, final: bool = False) -> None:
        if self.buffers[table]:
            pieces = self.buffers[table]
            self.buffers[table], self.buffered[table], self.buffered_bytes[table] = [], 0, 0
            self._write(table, pieces)
        elif final and self.parts[table] == 0 and table not in self.writers:
            self._write(table, [SCHEMAS[table].empty_table()])     # an empty table keeps its schema

    def _write(self, table: str, pieces: list[pa.Table]) -> None:
        """Hand a row group (its pieces) to the writer thread: joining them and Parquet encoding
        release the GIL, so they overlap with the next documents. One thread keeps each file's
        row groups in order; at most PENDING row groups wait, so memory stays bounded."""
        self.pending.append(self.thread.submit(self._encode, table, pieces, self.parts[table]))
        self.parts[table] += 1
        while len(self.pending) > PENDING:
            self.pending.popleft().result()          # re-raises a write error here

    def _encode(self, table: str, pieces: list[pa.Table], part: int) -> None:
        # one row group from the pieces as they are: Parquet gets the same bytes as from one
        # combined chunk (checked on the whole corpus), without the copy (0.07 s of 0.86)
        cpu = time.thread_time()
        data = pa.concat_tables(pieces)
        if self.partitioned:
            folder = self.tmp / table
            folder.mkdir(exist_ok=True)
            pq.write_table(data, folder / f"part-{part:05d}.parquet", row_group_size=ROW_GROUP,
                           **WRITE_OPTIONS.get(table, {}))
        else:
            if table not in self.writers:
                self.writers[table] = pq.ParquetWriter(self.tmp / f"{table}.parquet", SCHEMAS[table],
                                                       **WRITE_OPTIONS.get(table, {}))
            self.writers[table].write_table(data, row_group_size=ROW_GROUP)
        self.encode_cpu += time.thread_time() - cpu

    def _drain(self) -> None:
        while self.pending:
            self.pending.popleft().result()

    def commit(self, manifest: dict) -> dict:
        """Finish every table, then move the whole set into place, the manifest last (returned
        as written)."""
        for table in TABLES:
            self._flush(table, final=True)   # also creates the file of an empty table, with its schema
        self._drain()
        self.thread.shutdown()
        for table in TABLES:
            if table in self.writers:
                self.writers.pop(table).close()
        manifest = {**manifest, "rows": self.counts, "seconds_encoding_cpu": round(self.encode_cpu, 4)}
        # streamed: json.dumps of a 10,000-input manifest peaks at 10 MB (the indenting encoder
        # joins a list of small strings), which was the run's peak memory at 4x the corpus
        with open(self.tmp / "_manifest.json", "w", encoding="utf-8") as f:
            json.dump(manifest, f, ensure_ascii=False, indent=2, default=str)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for table in TABLES:
            name = table if self.partitioned else f"{table}.parquet"
            target = self.out_dir / name
            other = self.out_dir / (f"{table}.parquet" if self.partitioned else table)
            if target.is_dir():                  # a dataset folder cannot be replaced atomically:
                old = self.tmp / f"{table}.old"  # move it aside first, then the new one in
                os.replace(target, old)
            os.replace(self.tmp / name, target)
            if other.is_dir():
                shutil.rmtree(other)
            elif other.exists():
                other.unlink()
        os.replace(self.tmp / "_manifest.json", self.out_dir / "_manifest.json")
        shutil.rmtree(self.tmp, ignore_errors=True)
        return manifest

    def abort(self) -> None:
        self.thread.shutdown(wait=True, cancel_futures=True)
        for w in self.writers.values():
            try:
                w.close()
            except Exception:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)


class PreviousRows:
    """The previous run's rows, read back document by document in doc_id order.

    Both the previous tables and this run are sorted by doc_id, so a forward-only merge reads
    each previous table once, a record batch at a time: memory stays bounded.
    """

    def __init__(self, out_dir: Path):
        self.iters = {}
        for table in TABLES:
            pf = pq.ParquetFile(Path(out_dir) / f"{table}.parquet")
            self.iters[table] = self._groups(pf)
        self.heads: dict[str, tuple[str, list[dict]] | None] = {t: next(self.iters[t], None) for t in TABLES}
        self.files = []

    @staticmethod
    def _groups(pf):
        """(doc_id, Arrow rows of that document) in file order; a document's rows may span
        record batches, so a group is yielded only once the next doc_id shows up."""
        cur_id, cur = None, []
        for batch in pf.iter_batches(batch_size=65_536):
            ids = batch.column(0)                        # doc_id is every table's first column
            n = len(ids)
            if n == 0:
                continue
            change = np.flatnonzero(pc.not_equal(ids[1:], ids[:-1]).to_numpy(zero_copy_only=False)) + 1
            starts = [0, *change.tolist()]
            for a, z in zip(starts, [*starts[1:], n]):
                doc_id = ids[a].as_py()
                if doc_id != cur_id:
                    if cur:
                        yield cur_id, pa.Table.from_batches(cur)
                    cur_id, cur = doc_id, []
                cur.append(batch.slice(a, z - a))
        if cur:
            yield cur_id, pa.Table.from_batches(cur)

    def take(self, doc_id: str) -> dict[str, pa.Table]:
        out = {}
        for table in TABLES:
            head = self.heads[table]
            while head is not None and head[0] < doc_id:
                head = next(self.iters[table], None)
            if head is not None and head[0] == doc_id:
                out[table] = head[1]
                head = next(self.iters[table], None)
            else:
                out[table] = SCHEMAS[table].empty_table()
            self.heads[table] = head
        return out

    def close(self) -> None:
        self.iters.clear()
