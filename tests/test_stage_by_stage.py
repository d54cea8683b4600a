"""Engine.process_paths runs a batch stage by stage (every document through one stage, then the
next): the results must be those of process_path one document at a time, and a document that
fails (bad input, a runaway rule, a bug) must fail alone, as it does there."""
from __future__ import annotations

import pytest

from conftest import SEEDS
from pipeline import organisations, process
from pipeline.batch import result_tables
from pipeline.process import Engine
from pipeline.records import TABLES
from pipeline.rules import Pattern, Where

TEXTS = {
    "a_news": "2024年3月5日，外交部发言人表示，中方将向受灾国提供5000万元人民币紧急援助。",
    "b_empty": "",
    "c_transcript": "问：请介绍一下有关情况。\n答：今年前三季度，进出口总额同比增长3.5%，国家统计局将于下周发布详细数据。",
    "d_bulletin": "初步核算，上半年国内生产总值616836亿元，按不变价格计算，同比增长5.0%。",
}


@pytest.fixture(scope="module")
def watched() -> Engine:
    return Engine(watch=True)


def _inputs(tmp_path):
    for name, text in TEXTS.items():
        (tmp_path / f"{name}.txt").write_text(text, encoding="utf-8")
    (tmp_path / "e_binary.txt").write_bytes(bytes(range(256)) * 8)        # fails in ingest
    (tmp_path / "f_gbk.txt").write_bytes("今年上半年增长5.2%。".encode("gbk"))
    for p in sorted(SEEDS.glob("*.txt")):
        (tmp_path / p.name).write_bytes(p.read_bytes())
    return sorted(tmp_path.glob("*.txt"))


def _tables(result: dict) -> dict:
    return {t: tbl.to_pylist() for t, tbl in result_tables(result).items()}


def _one_by_one(engine: Engine, paths, batch: bool) -> list[dict]:
    return [_tables(engine.process_path(p, batch)) for p in paths]


def _fail_a_news(monkeypatch) -> None:
    """A bug in the organisations stage, met on a_news only."""
    real = organisations.extract

    def extract(doc, rules):
        if "外交部" in doc.text and len(doc.text) < 100:
            raise ValueError("boom")
        return real(doc, rules)
    monkeypatch.setattr(organisations, "extract", extract)


@pytest.mark.parametrize("batch", [False, True])
def test_stage_by_stage_gives_what_one_document_at_a_time_gives(tmp_path, watched, batch):
    paths = _inputs(tmp_path)
    want = _one_by_one(watched, paths, batch)
    got = watched.process_paths(paths, batch)
    assert len(got) == len(paths)
    assert [_tables(r) for r, _ in got] == want
    statuses = [r["documents"][0]["status"] for r, _ in got]
    assert statuses.count("error") == 1 and "ok" in statuses
    for (r, secs), p in zip(got, paths):
        assert secs["total"] >= secs["ingest"] > 0
        if r["documents"][0]["status"] == "ok":
            assert {"blocks", "segment", "quantities", "dates", "turns", "tables"} <= set(secs)


def test_stage_by_stage_on_corpus_documents(tmp_path, watched):
    from conftest import corpus_records
    for name in ("mfa_spokesperson.jsonl", "xwlb_daily.jsonl"):
        for rec in corpus_records(name, 15):
            (tmp_path / f"{rec['id']}.txt").write_text(rec["text"], encoding="utf-8")
    paths = sorted(tmp_path.glob("*.txt"))
    assert [_tables(r) for r, _ in watched.process_paths(paths, True)] == _one_by_one(watched, paths, True)


def test_a_bug_on_one_document_fails_that_document_only(tmp_path, watched, monkeypatch):
    paths = _inputs(tmp_path)
    want = _one_by_one(watched, paths, True)
    _fail_a_news(monkeypatch)
    got = [_tables(r) for r, _ in watched.process_paths(paths, True)]
    for p, g, w in zip(paths, got, want):
        if p.stem == "a_news":
            row = g["documents"][0]
            assert row["status"] == "error" and row["doc_id"] == "a_news"
            assert row["error"] == f"{p}: internal error: ValueError: boom"
            assert all(not g[t] for t in TABLES if t != "documents")     # nothing half-done
        else:
            assert g == w, p.name


def test_an_alarm_on_the_batch_runs_each_document_again_alone(tmp_path, monkeypatch):
    """An alarm on an honest batch (here: at once) only costs a second run, one document at a
    time: the same rows."""
    from pipeline import rules
    paths = _inputs(tmp_path)
    want = _one_by_one(Engine(watch=False), paths, True)
    monkeypatch.setattr(process, "document_budget", lambda n_chars: 1e-6)
    eng, runs = Engine(watch=True), []
    stages = eng.run_stages
    monkeypatch.setattr(eng, "run_stages", lambda doc: (runs.append(rules._watched), stages(doc))[1])
    got = [_tables(r) for r, _ in eng.process_paths(paths, True)]
    assert got == want
    assert runs and runs[-1] is False          # each document: its own alarm, then per-call timeouts
    assert eng.seconds["blocks"] > 0            # the engine's running totals are kept
    assert not rules._watched


EVIL = r"(a|aa)+$"


def test_a_runaway_rule_in_a_batch_fails_its_document_with_the_rule_named(tmp_path, monkeypatch):
    from pipeline import dates
    monkeypatch.setattr(process, "document_budget", lambda n_chars: 0.3)
    monkeypatch.setattr(Pattern, "budget", staticmethod(lambda text: 0.3))   # the re-run's per-call limit
    eng = Engine(watch=True)
    evil = dates.Rule("date.evil", Pattern(EVIL, Where("rules/dates.yaml", "date.evil", 1)), 0, frozenset())
    monkeypatch.setitem(eng.rules["dates"], "rules", [eng.rules["dates"]["rules"][0], evil])
    (tmp_path / "a.txt").write_text("今年增长5%。", encoding="utf-8")
    (tmp_path / "b.txt").write_text("a" * 60 + "!", encoding="utf-8")
    (tmp_path / "c.txt").write_text("上半年增长5.2%。", encoding="utf-8")
    got = eng.process_paths(sorted(tmp_path.glob("*.txt")), True)
    docs = [r["documents"][0] for r, _ in got]
    assert [d["status"] for d in docs] == ["ok", "error", "ok"]
    assert "date.evil" in docs[1]["error"]
    assert got[0][0]["quantities"] and got[2][0]["quantities"]


def test_an_alarm_as_the_batch_ends_reruns_each_document_with_its_own_copy(tmp_path, watched, monkeypatch):
    """The alarm may ring after the stages are done, when the failed documents have already
    been dropped from the batch: each document must still be re-run from its own spare copy."""
    import contextlib
    from pipeline.rules import DocumentTimeout, watchdog
    paths = _inputs(tmp_path)
    want = _one_by_one(watched, paths, True)
    _fail_a_news(monkeypatch)                 # it fails in the stages, the rest go on
    rang = []

    @contextlib.contextmanager
    def late_alarm(seconds):
        if rang:                          # the re-runs, one document each: the real watchdog
            with watchdog(seconds) as armed:
                yield armed
            return
        rang.append(True)
        yield True
        raise DocumentTimeout()           # the batch's: as its stages have just finished
    monkeypatch.setattr(process, "watchdog", late_alarm)
    got = [_tables(r) for r, _ in watched.process_paths(paths, True)]
    assert rang
    for p, g, w in zip(paths, got, want):
        if p.stem == "a_news":
            assert g["documents"][0]["error"] == f"{p}: internal error: ValueError: boom"
        else:
            assert g == w, p.name
