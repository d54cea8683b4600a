"""Write the tables as Parquet with explicit schemas, in row groups, atomically.

Rows arrive document by document (already in doc_id order) and are buffered per table; a full
buffer is written as one row group, so memory does not grow with the number of documents.
Everything is written into a temporary folder beside the target; only when the run finishes
are the files moved into place (os.replace, one file at a time, the manifest last). A run
killed at any point leaves the previous outputs as they were.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .records import SCHEMAS, TABLES, sort_rows

ROW_GROUP = 64_000


class TableWriter:
    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir)
        self.out_dir.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.out_dir.name}.tmp-", dir=self.out_dir.parent))
        self.buffers: dict[str, list[dict]] = {t: [] for t in TABLES}
        self.writers: dict[str, pq.ParquetWriter] = {}
        self.counts: dict[str, int] = {t: 0 for t in TABLES}

    def add(self, result: dict[str, list[dict]]) -> None:
        for table in TABLES:
            rows = result.get(table) or []
            if rows:
                self.buffers[table].extend(sort_rows(table, rows))
                self.counts[table] += len(rows)
                if len(self.buffers[table]) >= ROW_GROUP:
                    self._flush(table)

    def _flush(self, table: str) -> None:
        rows = self.buffers[table]
        schema = SCHEMAS[table]
        if table not in self.writers:
            self.writers[table] = pq.ParquetWriter(self.tmp / f"{table}.parquet", schema)
        if rows:
            cols = {name: [r.get(name) for r in rows] for name in schema.names}
            self.writers[table].write_table(pa.table(cols, schema=schema), row_group_size=ROW_GROUP)
        self.buffers[table] = []

    def commit(self, manifest: dict) -> None:
        """Finish every table, then move the whole set into place, the manifest last."""
        for table in TABLES:
            self._flush(table)          # also creates the file of an empty table, with its schema
            self.writers.pop(table).close()
        manifest = {**manifest, "rows": self.counts}
        (self.tmp / "_manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2,
                                                           default=str), encoding="utf-8")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for table in TABLES:
            os.replace(self.tmp / f"{table}.parquet", self.out_dir / f"{table}.parquet")
        os.replace(self.tmp / "_manifest.json", self.out_dir / "_manifest.json")
        shutil.rmtree(self.tmp, ignore_errors=True)

    def abort(self) -> None:
        for w in self.writers.values():
            try:
                w.close()
            except Exception:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)
