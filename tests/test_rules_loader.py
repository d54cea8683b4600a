"""A broken rule file stops the run before any output is touched, naming file, rule and line;
a catastrophic pattern fails one document with a clear message instead of hanging the batch."""
from __future__ import annotations

import shutil

import pytest

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
