"""Shared fixtures: one Engine, one run of the seeds, corpus samples, rule examples."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.process import Engine, RULE_MODULES
from pipeline.rules import DEFAULT_RULES_DIR, load_yaml

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
TRUTH = Path(__file__).resolve().parent / "truth"
GOLDEN = Path(__file__).resolve().parent / "golden"
SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "corpus"


@pytest.fixture(scope="session")
def engine() -> Engine:
    return Engine()


@pytest.fixture(scope="session")
def seeds_out(tmp_path_factory) -> Path:
    """The seeds run once per test session, through the real CLI path (run + write)."""
    from pipeline.run import run
    out = tmp_path_factory.mktemp("seeds") / "out"
    run([SEEDS], out, jobs=1, progress=False)
    return out


def corpus_records(name: str, n: int, seed: int = 7) -> list[dict]:
    """n records of ../shared/corpus/<name>, spread evenly over the file (deterministic)."""
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"../shared/corpus/{name} is not present beside the project; corpus tests need it")
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(l) for l in f if l.strip()]
    step = max(1, len(rows) // n)
    return rows[seed % step::step][:n]


def rule_examples():
    """Every example and counter-example of every rule file: (table, rule id, kind, example)."""
    out = []
    for stem in RULE_MODULES:
        data = load_yaml(DEFAULT_RULES_DIR / f"{stem}.yaml")
        for rule in _walk(data):
            rid = rule.get("id") or rule.get("name")
            for kind in ("examples", "counter"):
                for ex in rule.get(kind) or []:
                    out.append((stem, rid, kind, ex))
    return out


def _walk(node):
    if isinstance(node, dict):
        if "examples" in node or "counter" in node:
            yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory) -> Path:
    """60 corpus documents (both files) written as .txt files, plus the seeds."""
    d = tmp_path_factory.mktemp("corpus")
    for name in ("mfa_spokesperson.jsonl", "xwlb_daily.jsonl"):
        for rec in corpus_records(name, 30):
            (d / f"{rec['id']}.txt").write_text(rec["text"], encoding="utf-8")
    for p in SEEDS.glob("*.txt"):
        (d / p.name).write_bytes(p.read_bytes())
    return d


def read_tables(out: Path) -> dict[str, list[dict]]:
    """Every table of an output folder (a file or a partitioned dataset) as sorted rows."""
    import pyarrow.parquet as pq

    from pipeline.records import TABLES, sort_rows
    tables = {}
    for t in TABLES:
        p = out / f"{t}.parquet" if (out / f"{t}.parquet").exists() else out / t
        rows = pq.read_table(p).to_pylist()
        tables[t] = sort_rows(t, rows)
    return tables
