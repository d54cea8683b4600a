"""The `pipeline` command line."""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
from pathlib import Path

from . import __version__
from .rules import DEFAULT_RULES_DIR, RuleError
from .segment import BACKENDS, SegmenterError

SEGMENTERS = ("auto", *BACKENDS)

PROJECT = Path(__file__).resolve().parent.parent
EXIT_CODES = """exit status:
  0  every document processed
  1  the tables were written, but some documents failed (see documents.status / error
     and _manifest.json "errors"); with --fail-fast, the first failure stops the run and
     nothing is written
  2  bad command line or input path
  3  a rule file is broken (the message names file, rule and line); nothing was written
"""


def _date(s: str) -> dt.date:
    try:
        return dt.date.fromisoformat(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date (YYYY-MM-DD): {s!r}") from None


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="pipeline", description="Turn Chinese press releases into Parquet "
                                 "tables: documents, blocks, tokens, quantities, dates, organisations, turns.",
                                 epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--version", action="version", version=f"pipeline {__version__}")
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    r = sub.add_parser("run", help="process .txt files and folders, write DIR/<table>.parquet",
                       epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("inputs", nargs="+", metavar="INPUT", help=".txt files or folders (searched recursively)")
    r.add_argument("-o", "--output", required=True, type=Path, metavar="DIR", help="output folder")
    r.add_argument("--rules", type=Path, default=DEFAULT_RULES_DIR, metavar="DIR", help="rules folder")
    r.add_argument("-j", "--jobs", type=int, default=None, help="processes sharing the work, this one included (default: all CPUs)")
    r.add_argument("--reference-date", type=_date, metavar="YYYY-MM-DD",
                   help="reference date for every document (overrides the date found in the text)")
    r.add_argument("--fail-fast", action="store_true", help="stop at the first document that fails")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.add_argument("--force", action="store_true",
                   help="reprocess every document (default: reuse the rows of documents whose content, "
                        "rules, pipeline version and settings are unchanged since the last run into DIR)")
    r.add_argument("--segmenter", choices=SEGMENTERS, default="auto",
                   help="auto: cjieba (the C cut) when built, else rjieba when installed, else jieba; "
                        "all give jieba's tokens (HMM off), proven by tests/test_segment.py")
    r.add_argument("--engine", choices=("local", "dask"), default="local",
                   help="local worker processes, or dask.distributed (writes DIR/<table>/part-*.parquet)")
    r.add_argument("--scheduler", metavar="ADDRESS", help="dask scheduler address (default: a local cluster)")

    s = sub.add_parser("score", help="score an output folder against truth (same figures as shared score.py)")
    s.add_argument("outputs", type=Path, metavar="DIR")
    s.add_argument("--truth", type=Path, default=PROJECT / "tests" / "truth")
    s.add_argument("--json", action="store_true")

    g = sub.add_parser("golden", help="compare seeds output with tests/golden; --update rewrites them")
    g.add_argument("--update", action="store_true", help="rewrite tests/golden from the current rules")
    g.add_argument("--golden", type=Path, default=PROJECT / "tests" / "golden")
    g.add_argument("--seeds", type=Path, default=PROJECT / "seeds")

    rc = sub.add_parser("rules", help="rule author's tools: `pipeline rules check`")
    rsub = rc.add_subparsers(dest="rules_cmd", required=True, metavar="SUBCOMMAND")
    ck = rsub.add_parser("check", help="load, compile and run every rule's examples; non-zero exit on failure")
    ck.add_argument("--rule", metavar="ID", help="only this rule's examples")
    ck.add_argument("--rules", type=Path, default=DEFAULT_RULES_DIR, metavar="DIR")

    ex = sub.add_parser("explain", help="show one document in the terminal, mentions coloured, with rules and values")
    ex.add_argument("file", type=Path)
    ex.add_argument("--near", action="store_true", help="also list dropped candidates and why")
    ex.add_argument("--rules", type=Path, default=DEFAULT_RULES_DIR, metavar="DIR")
    ex.add_argument("--reference-date", type=_date, metavar="YYYY-MM-DD")
    ex.add_argument("--color", choices=("auto", "always", "never"), default="auto")

    rv = sub.add_parser("review", help="write one self-contained HTML page to review an output folder")
    rv.add_argument("outputs", type=Path, metavar="OUTPUTS")
    rv.add_argument("-o", "--output", type=Path, default=Path("review.html"), metavar="FILE")
    rv.add_argument("--against", type=Path, metavar="DIR",
                    help="mark rows added, removed and changed relative to this output or golden folder")

    df = sub.add_parser("diff", help="what changed between two output (or golden) folders, per table and rule")
    df.add_argument("old", type=Path)
    df.add_argument("new", type=Path)
    df.add_argument("--examples", type=int, default=5, help="rows shown per kind of change (default 5)")

    b = sub.add_parser("bench", help="throughput and memory on ../shared/corpus, with raw jieba side by side")
    b.add_argument("--corpus", type=Path, default=None, help="folder with the corpus .jsonl files")
    b.add_argument("--docs", type=int, default=400, help="documents in the sample (default 400; 0: the whole corpus)")
    b.add_argument("--repeat", type=int, default=3, help="runs per figure; medians are reported")
    b.add_argument("--no-jobs", action="store_true", help="skip the --jobs 2 measurements (speed and memory)")
    b.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    b.add_argument("--memory-copies", type=_copies, default=(1, 4), metavar="K,K,...",
                   help="peak memory on K copies of the sample, each against the first (default 1,4)")
    b.add_argument("--large", action="store_true", help="also time one 10 MB, one 100 MB and one 20 MB-line file")
    b.add_argument("--segmenter", choices=SEGMENTERS, default="auto")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.cmd](args)
    except RuleError as e:
        print(f"pipeline: rule error: {e}", file=sys.stderr)
        return 3
    except SegmenterError as e:
        print(f"pipeline: {e}", file=sys.stderr)
        return 2


def cmd_run(args) -> int:
    from .run import DocumentFailed, InputError, RunOptions, run
    opts = RunOptions(rules_dir=args.rules, jobs=args.jobs, reference=args.reference_date,
                      fail_fast=args.fail_fast, progress=False if args.no_progress else None,
                      segmenter=args.segmenter, force=args.force, engine=args.engine,
                      scheduler=args.scheduler)
    try:
        m = run(args.inputs, args.output, opts)
    except InputError as e:
        print(f"pipeline: {e}", file=sys.stderr)
        return 2
    except DocumentFailed as e:
        print(f"pipeline: stopped (--fail-fast): {e}", file=sys.stderr)
        return 1
    n = len(m["inputs"])
    print(f"{n} documents ({m['reused_documents']} unchanged, reused), {len(m['errors'])} failed, "
          f"{m['seconds_wall']:.2f} s -> {args.output}/",
          file=sys.stderr)
    for e in m["errors"][:20]:
        print(f"  error: {e['error']}", file=sys.stderr)
    return 1 if m["errors"] else 0


def cmd_score(args) -> int:
    from . import score
    score.report(score.compute(args.outputs, args.truth), args.json)
    return 0


def cmd_golden(args) -> int:
    from .golden import diff_goldens, write_goldens
    from .run import run
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        run([args.seeds], out, jobs=1, progress=False)
        if args.update:
            write_goldens(out, args.golden)
            print(f"goldens rewritten in {args.golden}; review them with `git diff {args.golden}`")
            return 0
        diffs = diff_goldens(out, args.golden)
    if not diffs:
        print("goldens unchanged")
        return 0
    for d in diffs.values():
        print(d)
    return 1


def cmd_bench(args) -> int:
    from . import bench
    bench.main(args.corpus or bench.CORPUS, args.docs, args.repeat, not args.no_jobs, not args.no_memory,
               args.large, args.segmenter, args.memory_copies)
    return 0


def _copies(value: str) -> tuple[int, ...]:
    try:
        ks = tuple(int(k) for k in value.split(","))
    except ValueError:
        ks = ()
    if len(ks) < 2 or min(ks) < 1 or len(set(ks)) != len(ks):
        raise argparse.ArgumentTypeError(f"{value!r}: two or more distinct whole numbers >= 1, e.g. 1,4")
    return ks


def cmd_rules(args) -> int:
    from .rulecheck import check
    rep = check(args.rules, args.rule, seeds=PROJECT / "seeds", tests_dir=PROJECT / "tests")
    for w in rep.warnings:
        print(f"warning: {w}")
    for e in rep.errors:
        print(f"FAIL: {e}")
    print(f"{rep.examples} examples ({rep.xfails} known gaps), {len(rep.errors)} failures, "
          f"{len(rep.warnings)} warnings, {rep.seconds:.2f} s")
    return 1 if rep.errors else 0


def cmd_explain(args) -> int:
    from .explain import explain
    from .ingest import IngestError
    from .process import Engine
    colour = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    try:
        print(explain(Engine(args.rules, args.reference_date), args.file, args.near, colour))
    except IngestError as e:
        print(f"pipeline: {e}", file=sys.stderr)
        return 2
    return 0


def cmd_review(args) -> int:
    from .review import build
    if not (args.outputs / "documents.parquet").exists() and not (args.outputs / "documents").is_dir():
        print(f"pipeline: {args.outputs}: no documents table; run `pipeline run` first", file=sys.stderr)
        return 2
    args.output.write_text(build(args.outputs, args.against), encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


def cmd_diff(args) -> int:
    from .compare import compare_dirs, summary
    for d in (args.old, args.new):
        if not d.is_dir():
            print(f"pipeline: {d}: not a folder", file=sys.stderr)
            return 2
    diff = compare_dirs(args.old, args.new)
    print(summary(diff, args.examples))
    return 1 if any(v for d in diff.values() for v in d.values()) else 0


COMMANDS = {"run": cmd_run, "score": cmd_score, "golden": cmd_golden, "bench": cmd_bench, "rules": cmd_rules,
            "explain": cmd_explain, "review": cmd_review, "diff": cmd_diff}

if __name__ == "__main__":
    sys.exit(main())
