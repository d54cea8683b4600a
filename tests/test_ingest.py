"""Reading documents: every encoding users meet, and a clear error for what is not text."""
from __future__ import annotations

import pytest

from pipeline.ingest import IngestError, decode, read_document

SIMPLIFIED = "湖北省经济和信息化厅副厅长出席发布会。\r\n今年前三季度全省经济增长5.2%，高于全国0.9个百分点。\r\n"
TRADITIONAL = "中華人民共和國外交部發言人表示，今年前三季度經濟增長5.2%。\r\n臺灣是中國的一部分。\r\n"


@pytest.mark.parametrize("codec,text,expected", [
    ("utf-8", SIMPLIFIED, "utf-8"),
    ("utf-8-sig", SIMPLIFIED, "utf-8-sig"),
    ("gb18030", SIMPLIFIED, "gb18030"),
    ("gbk", SIMPLIFIED, "gb18030"),        # GBK and GB2312 are subsets of GB18030
    ("gb2312", SIMPLIFIED, "gb18030"),
    ("big5", TRADITIONAL, "big5"),
    ("utf-16", SIMPLIFIED, "utf-16-le"),   # Python writes a little-endian BOM
    ("utf-16-be", SIMPLIFIED, None),       # no BOM: rejected below
])
def test_encodings(tmp_path, codec, text, expected):
    data = text.encode(codec)
    if codec == "utf-16-be":
        data = b"\xfe\xff" + data
        expected = "utf-16-be"
    f = tmp_path / f"doc_{codec}.txt"
    f.write_bytes(data)
    doc = read_document(f)
    assert doc.encoding == expected
    assert doc.text == text                 # BOM gone, CRLF kept, offsets are into this
    assert doc.doc_id == f"doc_{codec}"


def test_crlf_offsets_hold(engine, tmp_path):
    f = tmp_path / "crlf.txt"
    f.write_bytes(SIMPLIFIED.encode("gbk"))
    doc = read_document(f)
    result = engine.process_doc(doc)
    for table in ("quantities", "dates", "organisations", "tokens"):
        rows = result[table]
        for r in (rows.to_pylist() if hasattr(rows, "to_pylist") else rows):
            assert doc.text[r["start"]:r["end"]] == r["text"]
    q = [r for r in result["quantities"] if r["text"] == "5.2%"]
    assert q and doc.text[q[0]["start"]:q[0]["end"]] == "5.2%" and q[0]["start"] > SIMPLIFIED.index("\r\n")


@pytest.mark.parametrize("data,needle", [
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "PDF"),
    (b"PK\x03\x04\x14\x00\x06\x00", "ZIP"),
    (b"\x00\x01\x02\x03binary\x00\xff\xfe\xfd", "binary"),
    (bytes(range(128, 256)) * 4, "not valid UTF-8"),
])
def test_not_text_is_a_clear_error(tmp_path, data, needle):
    f = tmp_path / "bad.txt"
    f.write_bytes(data)
    with pytest.raises(IngestError) as e:
        read_document(f)
    assert str(f) in str(e.value) and needle in str(e.value)


def test_unreadable_path(tmp_path):
    with pytest.raises(IngestError) as e:
        read_document(tmp_path / "missing.txt")
    assert "missing.txt" in str(e.value) and "cannot read" in str(e.value)


def test_empty_file_is_ok(tmp_path, engine):
    f = tmp_path / "empty.txt"
    f.write_bytes(b"")
    doc = read_document(f)
    result = engine.process_doc(doc)
    assert result["documents"][0]["status"] == "ok"
    assert result["tokens"].num_rows == 0
    assert all(not result[t] for t in ("blocks", "quantities", "dates", "organisations", "turns"))


def test_decode_never_guesses_on_a_bad_bom():
    with pytest.raises(IngestError, match="byte-order mark"):
        decode(b"\xef\xbb\xbf\xff\xfe\xfa", "x.txt")


def test_width_folding_is_the_table_in_every_implementation():
    """fold_width (C when built), the numpy fallback and str.translate(FOLD_TABLE) agree on every
    code point, and a text whose only wide characters fold away compares equal to plain ASCII
    (CPython compares string storage kinds, so the C result must pick the narrowest one)."""
    from pipeline import document
    every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000)
    want = every.translate(document.FOLD_TABLE)
    assert document.fold_width(every) == want
    assert document._fold_numpy(every) == want
    for text, plain in (("ＡＢ　ｃ\u00a0１", "AB c 1"), ("　", " "), ("", ""), ("中文，", "中文,")):
        assert document.fold_width(text) == plain
        assert hash(document.fold_width(text)) == hash(plain)
        assert {document.fold_width(text): 1}.get(plain) == 1


def test_lut_hits_is_the_same_in_c_and_numpy():
    """document.lut_hits (C when built) and its numpy fallback give the same marked places, entries
    and next entries, on every string storage kind, with bounds inside and beyond the text and
    tables shorter than the code points they are read with (one past the end reads the last)."""
    import numpy as np

    from pipeline import document
    rng = np.random.default_rng(7)
    big = np.zeros(0x10001, np.uint8)
    big[rng.integers(0, 0x10000, 3000)] = rng.integers(1, 256, 3000)
    big[[ord(c) for c in "a,:年月日中国"]] = [3, 8, 8, 1, 2, 4, 5, 6]
    small = np.array([0, 1, 0, 2, 0], np.uint8)            # code points past 4 read 0
    edge = np.array([0, 0, 7], np.uint8)                   # past the end reads 7: every char from 2 on
    texts = ["", "a", "abc,:a", "\x00\x01\x02\x03\x04\x05", "２０２４年５月，中国:a",
             "中国\U0001F600年月日𠀀,", "é" * 20 + "年a", "".join(chr(c) for c in range(0, 0x3000, 7))]
    for text in texts:
        for lut in (big, small, edge):
            for lo, hi in ((0, None), (1, len(text) - 1), (2, 3), (0, len(text) + 5), (5, 2)):
                got = document.lut_hits(text, lut, lo, hi)
                h = len(text) if hi is None else min(hi, len(text))
                want = document._lut_hits_numpy(text, lut, max(0, min(lo, h)), h)
                for g, w in zip(got, want):
                    assert g.tolist() == w.tolist(), (text, lut.size, lo, hi)
    at, vals, nxt = document.lut_hits("xa,b", big)
    assert at.tolist() == [1, 2] and vals.tolist() == [3, 8] and nxt.tolist() == [8, 0]
