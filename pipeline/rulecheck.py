"""`pipeline rules check`: the rule author's first loop, fast enough to run on every save.

Loads every rule file strictly, compiles every pattern, runs every example and counter-example
through the whole pipeline, and reports rules without examples, lexicon entries that no example
or test mentions, and rules that never produced a row on seeds/. tests/test_rule_examples.py
runs the same examples through `check_example`, so the two can never disagree.
"""
from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path

from .rules import DEFAULT_RULES_DIR, load_yaml

EXAMPLE_META = ("text", "match", "ref", "xfail", "note")
# Keys of a rule mapping that hold lexicons (lists of words) rather than examples or settings.
NOT_LEXICON = {"examples", "counter", "notes", "note"}


@dataclass
class Example:
    table: str
    rule_id: str
    kind: str                 # examples | counter
    data: dict
    file: str
    line: int


def rule_nodes(node, path=()):
    """Every mapping that is a rule: it has an `id` (or gazetteer `name`) or carries examples."""
    if isinstance(node, dict):
        if "examples" in node or "counter" in node or "id" in node:
            yield node
        for k, v in node.items():
            yield from rule_nodes(v, path + (k,))
    elif isinstance(node, list):
        for v in node:
            yield from rule_nodes(v, path)


def rule_id(node: dict) -> str:
    return str(node.get("id") or node.get("name") or f"line {getattr(node, 'line', '?')}")


def iter_examples(rules_dir: Path = DEFAULT_RULES_DIR, stems=None) -> list[Example]:
    from .process import RULE_MODULES
    out = []
    for stem in stems or RULE_MODULES:
        path = rules_dir / f"{stem}.yaml"
        data = load_yaml(path)
        for node in rule_nodes(data):
            for kind in ("examples", "counter"):
                for ex in node.get(kind) or []:
                    out.append(Example(stem, rule_id(node), kind, ex, str(path), getattr(ex, "line", 0)))
    return out


def _same(want, got) -> bool:
    if isinstance(got, (dt.date, dt.datetime)):
        got = got.isoformat()
    if isinstance(want, (int, float)) and not isinstance(want, bool) and isinstance(got, (int, float)) \
            and not isinstance(got, bool):
        return abs(float(want) - float(got)) <= 1e-6 * max(1.0, abs(float(want)))
    return want == got


def check_example(engine, ex: Example) -> str | None:
    """None when the example holds, else a message saying what the pipeline did instead."""
    data = ex.data
    ref = dt.date.fromisoformat(data["ref"]) if data.get("ref") else None
    text = data["text"]
    result = engine.process_text(text, "example", ref)
    if result["documents"][0]["status"] != "ok":
        return f"the pipeline failed on the example: {result['documents'][0]['error']}"
    rows = result[ex.table]
    rows = rows.to_pylist() if hasattr(rows, "to_pylist") else rows
    span = lambda r: r.get("text") if r.get("text") is not None else text[r["start"]:r["end"]]
    if ex.kind == "examples":
        hits = [r for r in rows if span(r) == data["match"]]
        if not hits:
            return f"no {ex.table} row for {data['match']!r}; got {[span(r) for r in rows]}"
        fields = {k: v for k, v in data.items() if k not in EXAMPLE_META}
        best = min(hits, key=lambda r: sum(not _same(v, r.get(k)) for k, v in fields.items()))
        bad = {k: (v, best.get(k)) for k, v in fields.items() if not _same(v, best.get(k))}
        if bad:
            return f"{data['match']!r}: wrong fields (want, got): {bad}"
        return None
    if data.get("match"):
        hits = [r for r in rows if span(r) == data["match"]]
        if hits:
            return f"counter-example: {data['match']!r} must not be a {ex.table} row (rule {hits[0].get('rule_id')})"
    elif rows:
        return f"counter-example: no {ex.table} row expected; got {[(span(r), r.get('rule_id')) for r in rows]}"
    return None


@dataclass
class Report:
    errors: list[str] = field(default_factory=list)      # fail the check
    warnings: list[str] = field(default_factory=list)    # shown, do not fail
    examples: int = 0
    xfails: int = 0
    seconds: float = 0.0


def lexicon_entries(node, path=()) -> list[tuple[str, str]]:
    """(lexicon path, word) for every list of plain strings in a rule file."""
    out = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k in NOT_LEXICON:
                continue
            out.extend(lexicon_entries(v, path + (k,)))
    elif isinstance(node, list):
        if node and all(isinstance(v, str) for v in node):
            out.extend(("/".join(path), v) for v in node)
        else:
            for v in node:
                out.extend(lexicon_entries(v, path))
    return out


def check(rules_dir: Path = DEFAULT_RULES_DIR, only_rule: str | None = None, seeds: Path | None = None,
          tests_dir: Path | None = None) -> Report:
    from .process import RULE_MODULES, Engine
    t0 = time.perf_counter()
    rep = Report()
    engine = Engine(rules_dir)                      # strict load + compile: raises RuleError
    examples = iter_examples(rules_dir)
    with_examples = {(e.table, e.rule_id) for e in examples if e.kind == "examples"}
    if only_rule:
        examples = [e for e in examples if e.rule_id == only_rule]
        if not examples:
            rep.errors.append(f"rule {only_rule!r}: no such rule, or it has no examples")
    for ex in examples:
        rep.examples += 1
        problem = check_example(engine, ex)
        where = f"{Path(ex.file).name}:{ex.line} rule {ex.rule_id} ({ex.kind[:-1] if ex.kind == 'examples' else 'counter'})"
        if ex.data.get("xfail"):
            rep.xfails += 1
            if problem is None:
                rep.errors.append(f"{where}: known gap now passes, remove its xfail: {ex.data['xfail']}")
            continue
        if problem:
            rep.errors.append(f"{where}: {problem}")
    if only_rule:
        rep.seconds = time.perf_counter() - t0
        return rep
    # rules without examples
    texts = []
    for stem in RULE_MODULES:
        path = rules_dir / f"{stem}.yaml"
        data = load_yaml(path)
        for node in rule_nodes(data):
            if "id" in node and (stem, rule_id(node)) not in with_examples:
                rep.errors.append(f"{path.name}:{node.line} rule {rule_id(node)}: has no examples")
        texts.append((stem, path, data))
    # lexicon entries nothing mentions (examples of the same file, or any test file)
    corpus = "\n".join(e.data["text"] for e in iter_examples(rules_dir))
    if tests_dir and tests_dir.is_dir():
        corpus += "\n".join(p.read_text(encoding="utf-8") for p in tests_dir.glob("test_*.py"))
    for stem, path, data in texts:
        missing: dict[str, list[str]] = {}
        for lex, w in lexicon_entries(data):
            if w not in corpus:
                missing.setdefault(lex, []).append(w)
        for lex, words in missing.items():
            shown = "、".join(words[:12]) + (f" … (+{len(words) - 12})" if len(words) > 12 else "")
            rep.warnings.append(f"{path.name}: lexicon {lex}: {len(words)} entries in no example or test: {shown}")
    # rules that never produced a row on the seeds
    if seeds and seeds.is_dir():
        fired = set()
        from .ingest import read_document
        for p in sorted(seeds.glob("*.txt")):
            doc = engine.run_stages(read_document(p))     # kept rows and dropped candidates alike
            for rows in doc.rows.values():
                fired.update(r.get("rule_id") for r in rows)
            fired.update(d.get("rule_id") for d in doc.dropped)
        for stem, path, data in texts:
            for node in rule_nodes(data):
                if "pattern" in node and node.get("id") and node["id"] not in fired:
                    rep.warnings.append(f"{path.name}:{node.line} rule {node['id']}: never matched in seeds/")
    rep.seconds = time.perf_counter() - t0
    return rep
