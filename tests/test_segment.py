"""A fast segmenter is used only while its tokens are identical to jieba's (HMM off), on the
seeds and 500 corpus documents, with the run-time lexicon words added the same way. Every fast
backend present is checked: cjieba (pipeline._cjieba, built by setup.py) and rjieba."""
from __future__ import annotations

import pytest

from conftest import SEEDS, corpus_records
from pipeline.ingest import read_document
from pipeline.segment import BACKENDS, Segmenter, _available, make_segmenter

FAST = [b for b in BACKENDS if b != "jieba"]


@pytest.fixture(scope="module")
def reference_segmenter(engine):
    return Segmenter(engine.segmenter.words)  # the lexicon words the pipeline adds at start-up


@pytest.fixture(scope="module", params=FAST)
def pair(request, reference_segmenter):
    if not _available(request.param):
        pytest.skip(f"{request.param} is not installed (or was not built); nothing to compare")
    return reference_segmenter, BACKENDS[request.param](reference_segmenter.words)


def _texts():
    texts = [read_document(p).folded for p in sorted(SEEDS.glob("*.txt"))]
    return texts


def reference(seg: Segmenter, text: str) -> list[tuple[int, int]]:
    """jieba's own tokenize (HMM off), blanks dropped: what every backend must reproduce."""
    return [(s, e) for w, s, e in seg.tk.tokenize(text, HMM=False) if not w.isspace()]


def test_seed_tokens_identical(pair):
    ref, fast = pair
    for t in _texts():
        want = reference(ref, t)
        assert ref.spans(t) == want
        assert fast.spans(t) == want


@pytest.mark.corpus
@pytest.mark.slow
def test_corpus_tokens_identical(pair):
    from pipeline.document import fold_width
    ref, fast = pair
    recs = corpus_records("mfa_spokesperson.jsonl", 250) + corpus_records("xwlb_daily.jsonl", 250)
    assert len(recs) == 500
    for rec in recs:
        t = fold_width(rec["text"])
        assert fast.spans(t) == reference(ref, t), rec["id"]


def test_added_words_are_whole(pair):
    ref, fast = pair
    word = next((w for w in ref.words if len(w) >= 5), None)
    if word is None:
        pytest.skip("no lexicon word of 5+ characters to check")
    text = f"据{word}消息"
    assert (1, 1 + len(word)) in ref.spans(text)
    assert ref.spans(text) == fast.spans(text)


def test_added_word_frequencies_are_jiebas(pair):
    """add_word without a frequency takes suggest_freq's: the fast backend must store the same."""
    ref, fast = pair
    if fast.name != "cjieba":
        pytest.skip("rjieba does not expose its frequencies")
    assert fast.words == ref.words
    assert [fast.tk.freq(w) for w in ref.words] == [ref.tk.FREQ[w] for w in ref.words]
    assert fast.tk.total == ref.tk.total
    assert fast.tk.freq(ref.words[0][:1] + "\ue000") is None       # absent: not a prefix either


def test_cut_keeps_blanks_and_crlf_like_jieba(pair):
    ref, fast = pair
    text = "A股 \r\n3.5%的\t增长\u3000（AT&T）\r\r\nB超2024年\n"
    assert fast.cut(text) == ref.cut(text)


def test_auto_backend_and_settings():
    seg = make_segmenter([], "auto")
    assert seg.settings()["hmm"] is False
    assert seg.name == next(b for b in ("cjieba", "rjieba", "jieba") if _available(b))
    with pytest.raises(ValueError):
        make_segmenter([], "nonsense")


def test_long_texts_cut_in_pieces_give_the_same_tokens(pair, monkeypatch):
    import pipeline.segment as segment
    ref, fast = pair
    text = "".join(_texts())
    one_line = text.replace("\n", "")
    whole = [fast.tokens(text), fast.tokens(one_line)]
    monkeypatch.setattr(segment, "PIECE", 300)          # many pieces, cut at line breaks or punctuation
    assert [fast.tokens(text), fast.tokens(one_line)] == whole
    assert ref.tokens(text) == whole[0]


def test_one_token_per_character_and_long_ascii_runs(pair):
    """More tokens than the C backend first reserves (half the characters), and a long run of
    one-character ASCII words that jieba joins into one token."""
    ref, fast = pair
    text = "。，" * 2000 + "x1" * 500 + "的确\r\n" * 100
    assert fast.spans(text) == ref.spans(text)
    assert len(fast.spans(text)) > len(text) // 2


def test_a_segmenter_that_is_not_there_is_a_clear_error(monkeypatch, tmp_path, capsys):
    import pipeline.segment as segment
    from pipeline.cli import main
    monkeypatch.setattr(segment, "_available", lambda name: name == "jieba")
    rc = main(["run", str(SEEDS), "-o", str(tmp_path / "out"), "--segmenter", "cjieba", "--jobs", "1"])
    assert rc == 2
    assert "segmenter 'cjieba' was not built" in capsys.readouterr().err
    assert not (tmp_path / "out" / "tokens.parquet").exists()


def test_a_trie_past_its_node_limit_is_an_error_not_a_collision():
    # Edge keys hold parent + 1 in 21 bits; a node id past that would alias
    # another node's edges, so the trie must refuse before it gets there.
    native = pytest.importorskip("pipeline._cjieba")
    trie = native.Trie()
    added = []
    with pytest.raises(ValueError, match="trie nodes"):
        for i in range(1 << 16):
            # a two-character prefix no other word has, then 62 nodes of its own
            word = chr(0x4E00 + i % 20000) + chr(0x4E00 + i // 20000) + "".join(
                chr(0x3400 + (i * 7 + k) % 6000) for k in range(62))
            trie.add_word(word, 1 + i)
            added.append((word, 1 + i))
    assert added and len(added) < 1 << 16
    assert all(trie.freq(w) == f for w, f in added[::97] + added[-50:])
