"""Every output table, its columns and their Arrow types: the one place a column is declared.

The column lists follow ../shared/SPEC.md. Extractors produce plain dicts keyed by these
names; `write` builds Arrow tables from them with the schemas below, so an int column with
a missing value stays an int column and no pandas index leaks in.
"""
from __future__ import annotations

import pyarrow as pa

STR = pa.string()
INT = pa.int64()
F64 = pa.float64()
BOOL = pa.bool_()
DATE = pa.date32()

SCHEMAS: dict[str, pa.Schema] = {
    "documents": pa.schema([
        ("doc_id", STR), ("path", STR), ("sha256", STR), ("title", STR),
        ("published", DATE), ("published_source", STR), ("encoding", STR),
        ("n_chars", INT), ("n_main", INT), ("n_off_topic", INT), ("n_boilerplate", INT),
        ("status", STR), ("error", STR),
    ]),
    "blocks": pa.schema([
        ("doc_id", STR), ("block_index", INT), ("start", INT), ("end", INT),
        ("label", STR), ("reason", STR),
    ]),
    "tokens": pa.schema([
        ("doc_id", STR), ("start", INT), ("end", INT), ("text", STR),
    ]),
    "quantities": pa.schema([
        ("doc_id", STR), ("start", INT), ("end", INT), ("text", STR),
        ("value", F64), ("value_max", F64), ("unit", STR), ("dimension", STR),
        ("approx", STR), ("rule_id", STR),
    ]),
    "dates": pa.schema([
        ("doc_id", STR), ("start", INT), ("end", INT), ("text", STR),
        ("value_start", DATE), ("value_end", DATE), ("grain", STR), ("relative", BOOL),
        ("qualifier", STR), ("rule_id", STR),
    ]),
    "organisations": pa.schema([
        ("doc_id", STR), ("start", INT), ("end", INT), ("text", STR),
        ("name", STR), ("kind", STR), ("rule_id", STR),
    ]),
    "turns": pa.schema([
        ("doc_id", STR), ("turn_index", INT), ("start", INT), ("end", INT),
        ("speaker", STR), ("speaker_label", STR), ("speaker_role", STR), ("speaker_org", STR),
        ("kind", STR), ("cue", STR), ("text_start", INT), ("text_end", INT), ("rule_id", STR),
    ]),
}

# The tokens table as a batch carries it from a worker: without the doc_id column (the same
# string on every row; batch.Packed adds it back once per run of documents).
TOKENS_NO_DOC_ID = pa.schema([f for f in SCHEMAS["tokens"] if f.name != "doc_id"])

# Order in which tables are written and listed.
TABLES: tuple[str, ...] = tuple(SCHEMAS)
# Tables whose rows are mentions found by rules (they carry rule_id and live in main blocks).
ENTITY_TABLES: tuple[str, ...] = ("quantities", "dates", "organisations")

# Stable sort key per table: two runs give the same rows in the same order.
SORT_KEYS: dict[str, tuple[str, ...]] = {
    "documents": ("doc_id",),
    "blocks": ("doc_id", "block_index"),
    "tokens": ("doc_id", "start"),
    "quantities": ("doc_id", "start", "end"),
    "dates": ("doc_id", "start", "end"),
    "organisations": ("doc_id", "start", "end"),
    "turns": ("doc_id", "turn_index"),
}

# Enumerations (SPEC): used by the rule loader and by tests to reject a misspelt value.
BLOCK_LABELS = ("main", "off_topic", "boilerplate")
DIMENSIONS = ("count", "currency", "percent", "percentage_point", "length", "area", "mass",
              "volume", "duration", "age", "data_rate", "power", "energy", "multiple", "other")
APPROX = ("eq", "gt", "ge", "lt", "le", "about")
GRAINS = ("minute", "day", "month", "quarter", "half", "year", "period")
QUALIFIERS = ("until", "since")
ORG_KINDS = ("government", "party", "company", "media", "academic", "association", "other")
TURN_KINDS = ("opening", "question", "answer", "statement", "reported_speech")


def columns(table: str) -> list[str]:
    return SCHEMAS[table].names


def sort_rows(table: str, rows: list[dict]) -> list[dict]:
    keys = SORT_KEYS[table]
    return sorted(rows, key=lambda r: tuple((r.get(k) is None, r.get(k) if r.get(k) is not None else 0)
                                            for k in keys))
