"""The rule author's tools: review page (in a real headless browser), diff, explain, rules check."""
from __future__ import annotations

import re
import shutil
import subprocess

import pyarrow.parquet as pq
import pytest
import yaml

from conftest import SEEDS
from pipeline.cli import main as cli
from pipeline.review import TYPES, build
from pipeline.rules import DEFAULT_RULES_DIR

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _mentions(out):
    want = set()
    for table, letter in TYPES.items():
        for r in pq.read_table(out / f"{table}.parquet").to_pylist():
            if r["start"] is not None:
                want.add(f"{letter}-{r['start']}-{r['end']}")
    return want


def test_review_page_is_self_contained(seeds_out):
    page = build(seeds_out)
    assert not re.search(r"""(src|href)=["']?https?:""", page), "the page must not load anything from the network"
    assert "<style>" in page and "<script>" in page
    assert _mentions(seeds_out) == set(re.findall(r'data-m="([^"]+)" data-first', page))


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium installed (.ci/run installs Debian's chromium)")
def test_review_in_a_real_browser(seeds_out, tmp_path):
    page = tmp_path / "review.html"
    assert cli(["review", str(seeds_out), "-o", str(page)]) == 0
    dom = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'ud1'}", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    shown = set(re.findall(r'data-m="([^"]+)" data-first', dom))
    assert shown == _mentions(seeds_out), "every mention of the seeds is highlighted in the rendered page"
    assert dom.count('class="block off_topic"') + dom.count('class="block boilerplate"') > 0
    shot = tmp_path / "review.png"
    subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'ud2'}", f"--screenshot={shot}",
                    "--window-size=1100,1400", page.as_uri()], capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 10_000
    print(f"review screenshot: {shot}")


def test_review_against_marks_changes(seeds_out, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(seeds_out, old)
    q = pq.read_table(old / "quantities.parquet")
    pq.write_table(q.slice(1), old / "quantities.parquet")      # the first row is "new" now
    page = build(seeds_out, old)
    first = q.slice(0, 1).to_pylist()[0]
    assert re.search(rf'class="m q added" data-m="q-{first["start"]}-{first["end"]}"', page)


def test_diff_reports_per_table_and_rule(seeds_out, tmp_path, capsys):
    assert cli(["diff", str(seeds_out), str(seeds_out)]) == 0
    old = tmp_path / "old"
    shutil.copytree(seeds_out, old)
    d = pq.read_table(old / "dates.parquet")
    pq.write_table(d.slice(1), old / "dates.parquet")
    capsys.readouterr()
    assert cli(["diff", str(old), str(seeds_out)]) == 1
    out = capsys.readouterr().out
    assert "dates          +1 -0 ~0" in out
    assert d.slice(0, 1).to_pylist()[0]["rule_id"] in out


def test_explain_shows_rules_and_values(capsys):
    assert cli(["explain", str(SEEDS / "001_3335caedc9c9913e.txt"), "--near", "--color", "never"]) == 0
    out = capsys.readouterr().out
    assert "quantities (" in out and "rule" not in out.splitlines()[0]
    assert re.search(r"'5\.58万亿元'\s+\S+: value=5580000000000\.0", out)
    assert "dropped candidates" in out


# --- rules check -----------------------------------------------------------------------------------
@pytest.fixture
def rules_copy(tmp_path):
    d = tmp_path / "rules"
    shutil.copytree(DEFAULT_RULES_DIR, d)
    return d


def _check(rules_dir, capsys, *extra):
    code = cli(["rules", "check", "--rules", str(rules_dir), *extra])
    return code, capsys.readouterr().out


def test_rules_check_passes_on_shipped_rules(capsys):
    code, out = _check(DEFAULT_RULES_DIR, capsys)
    assert code == 0, out
    seconds = float(re.search(r"([\d.]+) s$", out.strip()).group(1))
    print(f"rules check: {out.strip().splitlines()[-1]}")
    assert seconds < 30          # the figure that matters is printed; 5 s is measured in the bench notes


def _plain(node):
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _edit(rules_dir, stem, change):
    """Load a rule file, let `change` edit the first rule it accepts, write it back."""
    from pipeline.rulecheck import rule_nodes
    from pipeline.rules import load_yaml
    path = rules_dir / f"{stem}.yaml"
    data = _plain(load_yaml(path))
    for node in rule_nodes(data):
        if change(node):
            break
    else:
        pytest.skip(f"no rule in {stem}.yaml fits this test")
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def test_rules_check_catches_a_broken_example(rules_copy, capsys):
    def contradict(rule):          # its own example, now also a counter-example: one must fail
        if not rule.get("examples"):
            return False
        ex = rule["examples"][0]
        rule["counter"] = (rule.get("counter") or []) + [{"text": ex["text"], "match": ex["match"]}]
        return True
    _edit(rules_copy, "quantities", contradict)
    code, out = _check(rules_copy, capsys)
    assert code == 1 and "FAIL: quantities.yaml" in out and "must not be" in out


def test_rules_check_catches_a_broken_pattern(rules_copy, capsys):
    def breaks(rule):
        if "pattern" not in rule:
            return False
        rule["pattern"] = "(unclosed"
        return True
    _edit(rules_copy, "dates", breaks)
    code = cli(["rules", "check", "--rules", str(rules_copy)])
    err = capsys.readouterr().err
    assert code == 3 and "dates.yaml" in err and "does not compile" in err


def test_rules_check_catches_a_rule_without_examples(rules_copy, capsys):
    def strip(rule):
        if "id" not in rule or not rule.get("examples"):
            return False
        del rule["examples"]
        return True
    _edit(rules_copy, "turns", strip)
    code, out = _check(rules_copy, capsys)
    assert code == 1 and "has no examples" in out
