#!/usr/bin/env python3
"""Score the pipeline's Parquet tables against hand-made truth (JSON lines).

    pipeline score OUTPUTS --truth tests/truth [--json]

A copy of ../shared/tools/score.py (the shared scorer), so the figures are the same and the
project does not need ../shared to score itself. Keep it in step with the shared copy.

Truth: one <table>.jsonl per table (documents, blocks, quantities, dates,
organisations, turns), fields as in ../shared/SPEC.md.  Outputs: <table>.parquet
(a file or a dataset folder) with the same column names.  Only documents that
appear in the truth are scored.  Exit status 0; the figures are the verdict.
"""
import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import pyarrow.parquet as pq

ENTITY_FIELDS = {
    "quantities": ["value", "value_max", "unit", "dimension", "approx"],
    "dates": ["value_start", "value_end", "grain", "relative", "qualifier"],
    "organisations": ["name", "kind"],
}
TURN_FIELDS = ["speaker", "speaker_role", "speaker_org", "kind"]


def read_truth(path):
    if not path.exists():
        return None
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def read_output(outputs, table):
    for p in (outputs / f"{table}.parquet", outputs / table):
        if p.exists():
            return pq.read_table(p).to_pylist()
    return None


def same(a, b):
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))
    if hasattr(a, "isoformat"):
        a = a.isoformat()
    if hasattr(b, "isoformat"):
        b = b.isoformat()
    return a == b


def prf(tp, n_pred, n_gold):
    p = tp / n_pred if n_pred else (1.0 if not n_gold else 0.0)
    r = tp / n_gold if n_gold else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return round(p, 4), round(r, 4), round(f, 4)


def score_spans(gold, pred, fields):
    docs = {g["doc_id"] for g in gold}
    pred = [p for p in pred if p["doc_id"] in docs]
    key = lambda r: (r["doc_id"], int(r["start"]), int(r["end"]))
    gmap = {key(g): g for g in gold}
    pmap = {key(p): p for p in pred}
    tp = set(gmap) & set(pmap)
    out = {"gold": len(gmap), "pred": len(pmap), "exact": prf(len(tp), len(pmap), len(gmap))}
    # overlap match: a prediction counts if it overlaps a gold span, a gold span if any prediction overlaps it
    def overlapping(span, others):
        return any(o[0] == span[0] and o[1] < span[2] and span[1] < o[2] for o in others)
    p_ok = sum(overlapping(p, gmap) for p in pmap)
    g_ok = sum(overlapping(g, pmap) for g in gmap)
    p_ = p_ok / len(pmap) if pmap else (1.0 if not gmap else 0.0)
    r_ = g_ok / len(gmap) if gmap else 1.0
    out["overlap"] = (round(p_, 4), round(r_, 4), round(2 * p_ * r_ / (p_ + r_), 4) if p_ + r_ else 0.0)
    acc = {}
    for f in fields:
        ok = sum(same(gmap[k].get(f), pmap[k].get(f)) for k in tp)
        acc[f] = round(ok / len(tp), 4) if tp else None
    out["field_accuracy_on_exact"] = acc
    out["missed"] = sorted((k[0], k[1], gmap[k]["text"]) for k in set(gmap) - tp)[:15]
    out["spurious"] = sorted((k[0], k[1], pmap[k].get("text")) for k in set(pmap) - tp)[:15]
    return out


def score_turns(gold, pred):
    docs = {g["doc_id"] for g in gold}
    pred = [p for p in pred if p["doc_id"] in docs]
    used, tp, field_ok = set(), 0, defaultdict(int)
    for g in gold:
        gs, ge = int(g["text_start"]), int(g["text_end"])
        best, best_iou = None, 0.0
        for i, p in enumerate(pred):
            if i in used or p["doc_id"] != g["doc_id"]:
                continue
            ps, pe = int(p["text_start"]), int(p["text_end"])
            inter = max(0, min(ge, pe) - max(gs, ps))
            iou = inter / (max(ge, pe) - min(gs, ps))
            if iou > best_iou:
                best, best_iou = i, iou
        if best is not None and best_iou >= 0.9:
            used.add(best)
            tp += 1
            for f in TURN_FIELDS:
                field_ok[f] += same(g.get(f), pred[best].get(f))
    return {"gold": len(gold), "pred": len(pred), "text_iou90": prf(tp, len(pred), len(gold)),
            "field_accuracy_on_matched": {f: round(field_ok[f] / tp, 4) if tp else None for f in TURN_FIELDS}}


def score_blocks(gold, pred, texts):
    """Character-level labels over non-blank characters of the scored documents."""
    docs = {g["doc_id"] for g in gold}
    total = ok = 0
    conf = defaultdict(int)
    for d in sorted(docs):
        n = max(int(g["end"]) for g in gold if g["doc_id"] == d)
        glab = [None] * n
        plab = [None] * n
        for g in gold:
            if g["doc_id"] == d:
                for i in range(int(g["start"]), int(g["end"])):
                    glab[i] = g["label"]
        for p in pred:
            if p["doc_id"] == d:
                for i in range(int(p["start"]), min(n, int(p["end"]))):
                    plab[i] = p["label"]
        text = texts.get(d)
        for i in range(n):
            if glab[i] is None or (text is not None and text[i].isspace()):
                continue
            total += 1
            ok += glab[i] == plab[i]
            conf[(glab[i], plab[i])] += 1
    kept = {lab: prf(conf[(lab, lab)], sum(v for (g, p), v in conf.items() if p == lab),
                     sum(v for (g, p), v in conf.items() if g == lab))
            for lab in ("main", "off_topic", "boilerplate")}
    return {"chars": total, "char_accuracy": round(ok / total, 4) if total else None, "per_label_prf": kept}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--outputs", type=Path, required=True)
    ap.add_argument("--truth", type=Path, required=True)
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a report")
    a = ap.parse_args(argv)
    result = compute(a.outputs, a.truth)
    report(result, a.json)
    return 0


def compute(outputs, truth):
    """The scores as a dict (what --json prints)."""
    a = argparse.Namespace(outputs=Path(outputs), truth=Path(truth))
    docs_out = read_output(a.outputs, "documents") or []
    texts = {}
    for d in docs_out:
        if d.get("path") and Path(d["path"]).exists():
            try:
                texts[d["doc_id"]] = Path(d["path"]).read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                pass
    result = {}
    for table, fields in ENTITY_FIELDS.items():
        gold = read_truth(a.truth / f"{table}.jsonl")
        if gold is None:
            continue
        pred = read_output(a.outputs, table)
        result[table] = score_spans(gold, pred or [], fields) if pred is not None else {"error": "no table"}
    gold = read_truth(a.truth / "turns.jsonl")
    if gold is not None:
        pred = read_output(a.outputs, "turns")
        result["turns"] = score_turns(gold, pred) if pred is not None else {"error": "no table"}
    gold = read_truth(a.truth / "blocks.jsonl")
    if gold is not None:
        pred = read_output(a.outputs, "blocks")
        result["blocks"] = score_blocks(gold, pred, texts) if pred is not None else {"error": "no table"}
    gold = read_truth(a.truth / "documents.jsonl")
    if gold is not None:
        pmap = {d["doc_id"]: d for d in docs_out}
        ok = sum(same(g.get("published"), pmap.get(g["doc_id"], {}).get("published")) for g in gold)
        result["documents"] = {"gold": len(gold), "published_accuracy": round(ok / len(gold), 4) if gold else None}
    return result


def report(result, as_json=False):
    if as_json:
        print(json.dumps(result, ensure_ascii=False, default=str))
        return
    for table, r in result.items():
        if "error" in r:
            print(f"{table:14s} MISSING: {r['error']}")
            continue
        if table in ENTITY_FIELDS:
            p, rr, f = r["exact"]
            print(f"{table:14s} gold {r['gold']:4d} pred {r['pred']:4d}  exact P {p:.3f} R {rr:.3f} F1 {f:.3f}"
                  f"  overlap F1 {r['overlap'][2]:.3f}  fields {r['field_accuracy_on_exact']}")
            for kind in ("missed", "spurious"):
                if r[kind]:
                    print(f"{'':14s} {kind}: " + "; ".join(f"{d}@{s}:{t}" for d, s, t in r[kind][:8]))
        elif table == "turns":
            p, rr, f = r["text_iou90"]
            print(f"{table:14s} gold {r['gold']:4d} pred {r['pred']:4d}  text IoU>=0.9 P {p:.3f} R {rr:.3f} F1 {f:.3f}"
                  f"  fields {r['field_accuracy_on_matched']}")
        elif table == "blocks":
            print(f"{table:14s} chars {r['chars']}  char accuracy {r['char_accuracy']}  per label P/R/F1 {r['per_label_prf']}")
        else:
            print(f"{table:14s} {r}")


if __name__ == "__main__":
    sys.exit(main())
