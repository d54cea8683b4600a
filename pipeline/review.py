"""`pipeline review`: one self-contained HTML page (inline CSS and JS, no network) to review output.

Each document shows its text with blocks shaded by label (off-topic and boilerplate greyed),
mentions highlighted by type with a tooltip (rule_id and normalised value), the turns as a
transcript, and its counts. With `against`, rows added, removed and changed relative to another
output or golden folder are marked.
"""
from __future__ import annotations

import html
from collections import defaultdict
from pathlib import Path

from .compare import compare_dirs, key_of, load_rows
from .ingest import IngestError, read_document

TYPES = {"quantities": "q", "dates": "d", "organisations": "o", "turns": "t"}
VALUE_FIELDS = {
    "quantities": ("value", "value_max", "unit", "dimension", "approx"),
    "dates": ("value_start", "value_end", "grain", "relative", "qualifier"),
    "organisations": ("name", "kind"),
    "turns": ("speaker", "speaker_role", "speaker_org", "kind", "cue"),
}

CSS = """
body{font:15px/1.7 system-ui,"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:0;background:#fafafa;color:#222}
header{position:sticky;top:0;background:#fff;border-bottom:1px solid #ddd;padding:8px 16px;z-index:2}
header label{margin-right:14px;cursor:pointer}
main{padding:8px 16px;max-width:1100px}
section.doc{background:#fff;border:1px solid #ddd;border-radius:6px;margin:14px 0;padding:10px 16px}
h2{font-size:16px;margin:4px 0}
.meta{color:#666;font-size:13px}
.block{white-space:pre-wrap;margin:6px 0;padding:2px 6px;border-left:3px solid #9bd}
.block.off_topic,.block.boilerplate{color:#999;background:#f0f0f0;border-left-color:#ccc}
.m{border-radius:3px;padding:0 1px;cursor:help}
.m.q{background:#ffe58a}.m.d{background:#9ee6f0}.m.o{background:#b7eb8f}.m.t{background:#f3b7f0}
.m.added{outline:2px solid #2a2}.m.changed{outline:2px solid #f80}.m.removed{outline:2px dashed #d22;text-decoration:line-through}
body.hide-q .m.q,body.hide-d .m.d,body.hide-o .m.o,body.hide-t .m.t{background:none;outline:none}
table{border-collapse:collapse;font-size:13px;margin:6px 0}td,th{border:1px solid #ddd;padding:2px 6px;vertical-align:top}
.legend span{padding:0 6px;margin-right:6px}
"""
JS = """
document.querySelectorAll('header input[data-hide]').forEach(function(box){
  box.addEventListener('change',function(){document.body.classList.toggle('hide-'+box.dataset.hide,!box.checked);});
});
"""


def _tooltip(table: str, r: dict) -> str:
    vals = ", ".join(f"{f}={r.get(f)}" for f in VALUE_FIELDS[table] if r.get(f) is not None)
    return f"{table} · {r.get('rule_id')} · {vals}"


def _mentions(tables: dict, doc_id: str, marks: dict) -> list[tuple[int, int, str, str, str]]:
    """(start, end, type letter, tooltip, extra class) for every mention of one document."""
    out = []
    for table, letter in TYPES.items():
        for r in tables.get(table, {}).get(doc_id, []):
            if r.get("start") is None:
                continue
            mark = marks.get((table, key_of(table, r)), "")
            out.append((r["start"], r["end"], letter, _tooltip(table, r), mark))
    return out


def _render_text(text: str, blocks: list[dict], mentions: list) -> str:
    parts = []
    for b in sorted(blocks, key=lambda b: b["start"]):
        bs, be = b["start"], b["end"]
        inside = [m for m in mentions if bs <= m[0] and m[1] <= be]
        cuts = sorted({bs, be, *(m[0] for m in inside), *(m[1] for m in inside)})
        pieces = []
        for a, z in zip(cuts, cuts[1:]):
            seg = html.escape(text[a:z])
            for m in inside:
                if m[0] <= a and z <= m[1]:
                    first = " data-first" if a == m[0] else ""
                    seg = (f'<span class="m {m[2]} {m[4]}" data-m="{m[2]}-{m[0]}-{m[1]}"{first} '
                           f'title="{html.escape(m[3])}">{seg}</span>')
            pieces.append(seg)
        parts.append(f'<div class="block {b["label"]}" title="{html.escape(b["label"] + ": " + (b.get("reason") or ""))}">'
                     + "".join(pieces) + "</div>")
    return "\n".join(parts)


def _by_doc(rows: list[dict] | None) -> dict[str, list[dict]]:
    out = defaultdict(list)
    for r in rows or []:
        out[r["doc_id"]].append(r)
    return out


def build(outputs: Path, against: Path | None = None) -> str:
    docs = load_rows(outputs, "documents") or []
    tables = {t: _by_doc(load_rows(outputs, t)) for t in ("blocks", *TYPES)}
    marks: dict = {}
    removed = defaultdict(list)
    if against is not None:
        diff = compare_dirs(against, outputs)
        for t, d in diff.items():
            for r in d["added"]:
                marks[(t, key_of(t, r))] = "added"
            for _, r, _ in d["changed"]:
                marks[(t, key_of(t, r))] = "changed"
            for r in d["removed"]:
                if t in TYPES:
                    removed[r["doc_id"]].append((t, r))
    sections = []
    for d in sorted(docs, key=lambda d: d["doc_id"]):
        did = d["doc_id"]
        counts = {t: len(tables[t].get(did, [])) for t in TYPES}
        head = (f'<h2>{html.escape(did)} — {html.escape(d.get("title") or "")}</h2>'
                f'<div class="meta">published {d.get("published")} ({html.escape(str(d.get("published_source")))}) · '
                f'{d.get("encoding")} · {d.get("n_chars")} chars · blocks main {d.get("n_main")} / off_topic '
                f'{d.get("n_off_topic")} / boilerplate {d.get("n_boilerplate")} · ' +
                " · ".join(f"{t} {n}" for t, n in counts.items()) + "</div>")
        if d.get("status") != "ok":
            sections.append(f'<section class="doc">{head}<p>error: {html.escape(str(d.get("error")))}</p></section>')
            continue
        try:
            text = read_document(Path(d["path"])).text
        except (IngestError, TypeError) as e:
            sections.append(f'<section class="doc">{head}<p>cannot show the text: {html.escape(str(e))}</p></section>')
            continue
        ments = _mentions(tables, did, marks)
        ments += [(r["start"], r["end"], TYPES[t], "removed: " + _tooltip(t, r), "removed")
                  for t, r in removed.get(did, []) if r.get("start") is not None]
        body = _render_text(text, tables["blocks"].get(did, []), ments)
        turns = tables["turns"].get(did, [])
        rows = "".join(
            f"<tr><td>{t['turn_index']}</td><td>{html.escape(str(t.get('speaker') or ''))}</td>"
            f"<td>{html.escape(str(t.get('speaker_label') or ''))}</td><td>{html.escape(str(t.get('speaker_role') or ''))}</td>"
            f"<td>{html.escape(str(t.get('speaker_org') or ''))}</td><td>{t.get('kind')}</td>"
            f"<td>{html.escape(text[t['text_start']:t['text_end']][:160])}…</td></tr>" for t in turns)
        transcript = (f"<details><summary>turns ({len(turns)})</summary><table><tr><th>#</th><th>speaker</th>"
                      f"<th>label</th><th>role</th><th>org</th><th>kind</th><th>text</th></tr>{rows}</table></details>"
                      if turns else "")
        sections.append(f'<section class="doc" id="{html.escape(did)}">{head}{transcript}{body}</section>')
    legend = ('<span class="legend"><span class="m q">quantity</span><span class="m d">date</span>'
              '<span class="m o">organisation</span><span class="m t">speaker</span></span>')
    boxes = "".join(f'<label><input type="checkbox" checked data-hide="{l}"> {t}</label>' for t, l in TYPES.items())
    title = f"Review of {outputs}" + (f" against {against}" if against else "")
    return (f'<!doctype html><html lang="zh"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{CSS}</style></head><body><header><b>{html.escape(title)}</b> · {len(docs)} documents · "
            f"{legend} {boxes}</header><main>{''.join(sections)}</main><script>{JS}</script></body></html>")
