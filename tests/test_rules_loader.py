"""A broken rule file stops the run before any output is touched, naming file, rule and line;
a catastrophic pattern fails one document with a clear message instead of hanging the batch."""
from __future__ import annotations

import shutil

import pytest
import regex

from conftest import SEEDS
from pipeline.cli import main as cli
from pipeline.process import Engine, load_rules
from pipeline.rules import DEFAULT_RULES_DIR, Pattern, RuleError, RuleTimeout, Where, load_yaml


@pytest.fixture
def rules_copy(tmp_path):
    d = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, d)
    return d


def _break(path, old, new):
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_shipped_rules_load():
    load_rules(DEFAULT_RULES_DIR)


def test_yaml_keeps_dates_and_no_as_strings(tmp_path):
    f = tmp_path / "x.yaml"
    f.write_text("a: 2024-03-01\nb: no\nc: yes\nd: 3\ne: '0.5'\nf: true\n", encoding="utf-8")
    assert load_yaml(f) == {"a": "2024-03-01", "b": "no", "c": "yes", "d": 3, "e": "0.5", "f": True}


def test_syntax_error_names_file_and_line(rules_copy):
    p = rules_copy / "dates.yaml"
    p.write_text(p.read_text(encoding="utf-8") + '\nbroken: "\\d{4}"\n  - x: [\n', encoding="utf-8")
    with pytest.raises(RuleError) as e:
        load_rules(rules_copy)
    assert "dates.yaml" in str(e.value) and e.value.line


def test_duplicate_key_is_an_error(tmp_path):
    f = tmp_path / "x.yaml"
    f.write_text("a: 1\na: 2\n", encoding="utf-8")
    with pytest.raises(RuleError, match="duplicate key 'a'") as e:
        load_yaml(f)
    assert e.value.line == 2


def test_unknown_top_level_key(rules_copy):
    p = rules_copy / "quantities.yaml"
    p.write_text(p.read_text(encoding="utf-8") + "\nsurprise: 1\n", encoding="utf-8")
    with pytest.raises(RuleError, match="surprise") as e:
        load_rules(rules_copy)
    assert "quantities.yaml" in str(e.value)


def test_missing_and_unknown_rule_files(rules_copy):
    (rules_copy / "turns.yaml").unlink()
    with pytest.raises(RuleError, match="turns.yaml"):
        load_rules(rules_copy)
    shutil.copy(DEFAULT_RULES_DIR / "turns.yaml", rules_copy / "turns.yaml")
    (rules_copy / "extra.yaml").write_text("table: extra\n", encoding="utf-8")
    with pytest.raises(RuleError, match="extra.yaml"):
        load_rules(rules_copy)


def test_trigger_that_can_match_nothing_is_refused(rules_copy):
    # the quantities scan jumps from trigger start to trigger start: an empty trigger cannot be scanned
    _break(rules_copy / "quantities.yaml", "  TRIGGER: '(?=", "  TRIGGER: '(?:x)?(?=")
    _break(rules_copy / "quantities.yaml", "(?=[0-9零〇", "(?:(?=[0-9零〇")
    _break(rules_copy / "quantities.yaml", "{UNIT})))'", "{UNIT})))?)'")
    with pytest.raises(RuleError, match="at least one character") as e:
        load_rules(rules_copy)
    assert "quantities.yaml" in str(e.value) and "TRIGGER" in str(e.value)


def test_pattern_that_does_not_compile_names_the_rule():
    with pytest.raises(RuleError) as e:
        Pattern("(unclosed", Where("rules/x.yaml", "x.rule", 12))
    assert str(e.value).startswith("rules/x.yaml:12: rule x.rule: pattern does not compile")


def test_broken_rule_stops_the_run_before_outputs_are_touched(rules_copy, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli(["run", str(DEFAULT_RULES_DIR.parent / "seeds"), "-o", str(out), "-j", "1", "--no-progress"]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    p = rules_copy / "quantities.yaml"
    p.write_text(p.read_text(encoding="utf-8") + "\nsurprise: 1\n", encoding="utf-8")
    code = cli(["run", str(DEFAULT_RULES_DIR.parent / "seeds"), "-o", str(out), "--rules", str(rules_copy),
                "-j", "1", "--no-progress", "--force"])
    assert code == 3
    assert "quantities.yaml" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert not list(tmp_path.glob(".out.tmp-*"))


# The `regex` module defuses the textbook (a+)+$; alternation with overlap still explodes.
EVIL = r"(a|aa)+$"


def test_catastrophic_pattern_times_out_not_hangs(monkeypatch):
    monkeypatch.setattr(Pattern, "budget", staticmethod(lambda text: 0.3))   # keep the test quick
    pat = Pattern(EVIL, Where("rules/x.yaml", "evil", 3))
    with pytest.raises(RuleTimeout, match="rule evil: pattern timed out"):
        list(pat.finditer("a" * 60 + "!"))


def test_timeout_fails_one_document_not_the_batch(monkeypatch):
    from pipeline import quantities
    eng = Engine()
    monkeypatch.setattr(Pattern, "budget", staticmethod(lambda text: 0.3))
    pat = Pattern(EVIL, Where("rules/x.yaml", "evil", 3))
    monkeypatch.setattr(quantities, "extract", lambda doc, rules: list(pat.finditer(doc.folded)))
    bad = eng.process_text("a" * 60 + "!", "bad")
    assert bad["documents"][0]["status"] == "error" and "evil" in bad["documents"][0]["error"]
    monkeypatch.undo()
    good = eng.process_text("今年增长5%。", "good")
    assert good["documents"][0]["status"] == "ok"


def test_quantity_rules_run_under_the_timeout(monkeypatch):
    """The quantities scanner's patterns run through rules.Pattern too: an evil one that slipped
    past the load-time probe fails its document with the rule named, and the next one is fine."""
    eng = Engine()
    monkeypatch.setattr(Pattern, "budget", staticmethod(lambda text: 0.3))
    q = eng.rules["quantities"]
    monkeypatch.setitem(q, "trigger", Pattern(r"a", Where("rules/quantities.yaml", "parts.TRIGGER", 1)))
    monkeypatch.setitem(q, "alternation", Pattern(EVIL, Where("rules/quantities.yaml", "rules (alternation)", 2)))
    bad = eng.process_text("a" * 60 + "!", "bad")
    assert bad["documents"][0]["status"] == "error"
    assert "rules (alternation)" in bad["documents"][0]["error"]
    monkeypatch.undo()
    assert Engine().process_text("今年增长5%。", "good")["documents"][0]["status"] == "ok"


# --- the watchdog: batch runs time a whole document, not every pattern call ---------------------
def _evil_date_engine(monkeypatch, watch=True):
    from pipeline import dates
    eng = Engine(watch=watch)
    evil = dates.Rule("date.evil", Pattern(EVIL, Where("rules/dates.yaml", "date.evil", 1)), 0, frozenset())
    monkeypatch.setitem(eng.rules["dates"], "rules", [eng.rules["dates"]["rules"][0], evil])
    return eng


def test_watched_runaway_pattern_fails_its_document_with_the_rule_named(monkeypatch):
    from pipeline import process, rules
    monkeypatch.setattr(process, "document_budget", lambda text: 0.3)
    monkeypatch.setattr(Pattern, "budget", staticmethod(lambda text: 0.3))   # the re-run's per-call limit
    eng = _evil_date_engine(monkeypatch)
    bad = eng.process_text("a" * 60 + "!", "bad")
    assert bad["documents"][0]["status"] == "error" and "date.evil" in bad["documents"][0]["error"]
    good = eng.process_text("今年增长5%。", "good")
    assert good["documents"][0]["status"] == "ok" and good["quantities"]
    assert not rules._watched


def test_watched_slow_document_is_finished_by_the_rerun(monkeypatch):
    """An alarm on an honest document (here: at once) only costs a second run: same rows."""
    from pipeline import process, rules
    text = sorted(SEEDS.glob("*.txt"))[1].read_text(encoding="utf-8")
    want = Engine(watch=False).process_text(text, "d")
    monkeypatch.setattr(process, "document_budget", lambda text: 1e-6)
    eng, runs = Engine(watch=True), []
    stages = eng.run_stages
    monkeypatch.setattr(eng, "run_stages", lambda doc: (runs.append(rules._watched), stages(doc))[1])
    got = eng.process_text(text, "d")
    assert runs[-1] is False                        # after the alarm: the run with per-call timeouts
    assert got == want and got["documents"][0]["status"] == "ok" and got["quantities"]


def test_watchdog_only_in_the_main_thread_and_restores_the_alarm_handler():
    import functools
    import signal
    import threading
    from pipeline import rules
    before = signal.getsignal(signal.SIGALRM)
    with rules.watchdog(5.0) as armed:
        assert armed and rules._watched
        pat = Pattern("a", Where("rules/x.yaml", "a", 1))
        assert pat.hot("match", "x") == pat.rx.match             # no per-call timeout under a watchdog
    assert not rules._watched and signal.getsignal(signal.SIGALRM) is before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    seen = []

    def worker():
        with rules.watchdog(5.0) as armed:
            seen.append((armed, rules._watched))
            seen.append(isinstance(pat.hot("match", "x"), functools.partial))
    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen == [(False, False), True]           # a thread keeps the per-call timeouts


def test_unwatched_threads_still_time_out_per_call(monkeypatch):
    import threading
    monkeypatch.setattr(Pattern, "budget", staticmethod(lambda text: 0.3))
    eng = _evil_date_engine(monkeypatch, watch=True)
    out = []
    t = threading.Thread(target=lambda: out.append(eng.process_text("a" * 60 + "!", "bad")))
    t.start()
    t.join(30)
    assert out and out[0]["documents"][0]["status"] == "error" and "date.evil" in out[0]["documents"][0]["error"]


def test_stdlib_twin_only_where_both_modules_read_the_pattern_alike():
    w = Where("rules/x.yaml", "x", 1)
    assert Pattern(r"[0-9]+个", w, stdlib=True).std is not None
    assert Pattern(r"[0-9]+个", w).std is None                       # only when asked for
    for source in (r"\d+个", r"[^\s:]", r"\p{Han}+", r"\P{Han}", r"\pL", r"a\b", r"\B", r"[\W_]", r"[\w-]"):
        assert Pattern(source, w, stdlib=True).std is not None, source   # written out
    for source, flags in ((r"(?<=a|bb)c", 0), (r"[[:alpha:]]+", 0), (r"abc", regex.I), (r"(?i)abc", 0), (r"\X", 0),
                          (r"\N{DIGIT ONE}", 0), (r"(?:ab){e<=1}", 0), (r"[a-\d]", 0), (r"[\d-z]", 0),
                          (r"a(?#\d)", 0), (r"[a[b]]", 0), (r"[a&&b]", 0), ("a # [\\d\n", regex.X)):
        assert Pattern(source, w, flags, stdlib=True).std is None, source
    assert Pattern(r"\\d", w, stdlib=True).std.pattern == r"\\d"      # an escaped backslash, then d
    assert Pattern(r"[\b]", w, stdlib=True).std.pattern == r"[\b]"    # in a class: a backspace to both


TABLE_ESCAPES = (r"\d", r"\D", r"\s", r"\S", r"\w", r"\W", r"\p{Han}", r"\P{Han}", r"\pL", r"\p{N}", r"\P{Lu}")


def _spans(pat, text: str) -> list[tuple[int, int]]:
    return [m.span() for m in pat.finditer(text)]


def test_written_out_classes_are_regex_classes_on_every_code_point():
    """Each escape `stdlib_twin` writes out matches, under `re`, exactly the code points it
    matches under `regex`: alone, in a class, in a negated class. (Runs of matches over every
    code point in order: equal runs, equal members.)"""
    import sys

    from pipeline.rules import every_char, stdlib_twin
    every = every_char()
    assert [ord(c) for c in every[:3]] == [0, 1, 2] and len(every) == sys.maxunicode + 1
    for esc in TABLE_ESCAPES:
        for source in (f"{esc}+", f"[{esc}]+", f"[^{esc}]+", f"[{esc}x]+", f"[^x{esc}]+", f"[{esc}-]+"):
            twin = stdlib_twin(source, 0)
            assert twin is not None, source
            assert _spans(twin, every) == _spans(regex.compile(source, regex.V0), every), source


def test_written_out_word_boundaries_are_regex_boundaries_on_every_code_point():
    """\\b and \\B: every code point beside a word character and beside a non-word one."""
    import numpy as np

    from pipeline.rules import stdlib_twin
    codes = np.arange(0x110000, dtype="<u4")
    for other in ("a", " "):
        pairs = np.stack([codes, np.full_like(codes, ord(other))], axis=1)
        text = pairs.tobytes().decode("utf-32-le", "surrogatepass")
        for source in (r"\b", r"\B", r"\b.\B"):
            assert _spans(stdlib_twin(source, regex.S), text) == _spans(regex.compile(source, regex.S | regex.V0), text), \
                (other, source)


def _same_on(rx, twin, text: str, key: str) -> None:
    """rx and twin agree on text: every match, a match at every line start, a search in the
    window before each punctuation mark (as turns searches back from a speech verb) and a
    fullmatch of every clause (as turns matches a role)."""
    got = lambda m: None if m is None else (m.span(), m.groups())
    assert [got(m) for m in twin.finditer(text)] == [got(m) for m in rx.finditer(text)], key
    starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
    assert [got(twin.match(text, p)) for p in starts] == [got(rx.match(text, p)) for p in starts], key
    marks = [i for i, c in enumerate(text) if c in ",:。!?;\n“”"]
    assert [got(twin.search(text, max(0, q - 60), q)) for q in marks] == \
        [got(rx.search(text, max(0, q - 60), q)) for q in marks], key
    cuts = [-1] + marks + [len(text)]
    clauses = [(a + 1, b) for a, b in zip(cuts, cuts[1:]) if b > a + 1]
    assert [got(twin.fullmatch(text, a, b)) for a, b in clauses] == [got(rx.fullmatch(text, a, b)) for a, b in clauses], key


def test_twins_match_as_regex_does_on_corpus_text(engine):
    """The patterns turns runs under stdlib `re` (rule patterns' twins under the watchdog, and
    the patterns it builds, `_fast`) find what `regex` finds, on corpus documents (folded)."""
    from conftest import corpus_records
    from pipeline.document import fold_width
    r = engine.rules["turns"]
    pairs = {key: (regex.compile(src, flags | regex.V0), r[key]) for key, (src, flags) in r["fast_sources"].items()}
    pairs.update({key: (r[key].rx, r[key].std) for key in ("label", "quote_first")})
    for key, (rx, twin) in pairs.items():
        assert twin is not None and twin.__class__.__module__ == "re", key          # a twin, not `regex`
    texts = [rec["text"] for name in ("mfa_spokesperson.jsonl", "xwlb_daily.jsonl") for rec in corpus_records(name, 25)]
    texts += [p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.txt"))]
    for text in texts:
        folded = fold_width(text)
        for key, (rx, twin) in pairs.items():
            _same_on(rx, twin, folded, key)


def test_watched_run_gives_the_rows_of_the_timed_run(corpus_dir):
    """Under the watchdog the stdlib twins run (quantities); without it the regex module does:
    the same rows on corpus documents of both kinds and the seeds."""
    watched, timed = Engine(watch=True), Engine(watch=False)
    paths = sorted(corpus_dir.glob("*.txt"))
    assert len(paths) > 50
    for p in paths:
        text = p.read_text(encoding="utf-8")
        assert watched.process_text(text, p.stem) == timed.process_text(text, p.stem), p.name
