"""Read one input file into a Doc: decode (UTF-8 or a legacy Chinese encoding), id, hash.

Decoding is a strict ladder, not a guess: a byte-order mark decides; otherwise strict UTF-8;
otherwise charset-normalizer chooses among the legacy Chinese encodings (GB18030 covers GBK
and GB2312; Big5) by how plausible the decoded text is. Anything that decodes under none of
them, or looks binary, is an IngestError naming the file and the problem.
"""
from __future__ import annotations

import codecs
import hashlib
from pathlib import Path

from .document import Doc

MAX_BYTES = 512 * 1024 * 1024     # a single document larger than this is refused, not read
LEGACY = ("gb18030", "big5")

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig", "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16", "utf-16-le"),   # the 'utf-16' codec consumes the BOM
    (codecs.BOM_UTF16_BE, "utf-16", "utf-16-be"),
)
_MAGIC = {
    b"%PDF": "a PDF file",
    b"PK\x03\x04": "a ZIP archive (or .docx/.xlsx)",
    b"\xd0\xcf\x11\xe0": "an OLE document (.doc/.xls)",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"\x1f\x8b": "a gzip archive",
}


class IngestError(Exception):
    """A document that cannot be read; the message names the file and the problem."""


def doc_id_for(path: Path) -> str:
    return path.stem


def decode(data: bytes, name: str) -> tuple[str, str]:
    """Return (text, encoding name) or raise IngestError naming `name`."""
    for bom, codec, label in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(codec), label
            except UnicodeDecodeError as e:
                raise IngestError(f"{name}: starts with a {label} byte-order mark but is not valid "
                                  f"{label} at byte {e.start}") from None
    for magic, what in _MAGIC.items():
        if data.startswith(magic):
            raise IngestError(f"{name}: not a text file, it is {what}")
    if b"\x00" in data[:65536]:
        raise IngestError(f"{name}: binary data (NUL bytes) and no UTF-16 byte-order mark; not a text file")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as utf8_error:
        first_bad = utf8_error.start
    text_enc = _legacy(data)
    if text_enc is None:
        raise IngestError(f"{name}: not valid UTF-8 (first bad byte at offset {first_bad}) and not "
                          f"decodable as {' or '.join(LEGACY)}; binary or corrupt")
    return text_enc


def _legacy(data: bytes) -> tuple[str, str] | None:
    ok: list[tuple[str, str]] = []
    for enc in LEGACY:
        try:
            ok.append((data.decode(enc), enc))
        except UnicodeDecodeError:
            pass
    if len(ok) <= 1:
        return ok[0] if ok else None
    # Both decode: let charset-normalizer judge which reading is language, not mojibake.
    from charset_normalizer import from_bytes
    best = from_bytes(data, cp_isolation=list(LEGACY)).best()
    if best is not None:
        enc = "big5" if "big5" in best.encoding else "gb18030"
        for text, e in ok:
            if e == enc:
                return text, e
    return ok[0]


def read_document(path: Path) -> Doc:
    name = str(path)
    try:
        size = path.stat().st_size
    except OSError as e:
        raise IngestError(f"{name}: cannot read: {e.strerror or e}") from None
    if size > MAX_BYTES:
        raise IngestError(f"{name}: {size} bytes is larger than the limit of {MAX_BYTES} bytes")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise IngestError(f"{name}: cannot read: {e.strerror or e}") from None
    text, encoding = decode(data, name)
    return Doc(doc_id=doc_id_for(path), text=text, path=name, encoding=encoding,
               sha256=hashlib.sha256(data).hexdigest())


def doc_from_text(text: str, doc_id: str = "text") -> Doc:
    """A Doc from a string (rule examples, tests, corpus records)."""
    return Doc(doc_id=doc_id, text=text, path="", encoding="utf-8",
               sha256=hashlib.sha256(text.encode("utf-8")).hexdigest())
