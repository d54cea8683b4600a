/* jieba 0.42.1's cut with HMM off (Tokenizer.cut(text, HMM=False)), in C, giving token spans.
 *
 * Why: every other backend hands Python one str per token, and building those strings was most
 * of the segment stage. The pipeline only needs offsets, so this returns two int64 buffers.
 *
 * It is the same algorithm as jieba's, step for step, so that its tokens are identical
 * (tests/test_segment.py proves it on the seeds and 500 corpus documents):
 *   - the text is split into runs of [\u4E00-\u9FD5a-zA-Z0-9+#&._%-] (re_han_default); every
 *     other character is a token of its own, except that "\r\n" is one (re_skip_default);
 *   - inside a run, the DAG holds every dictionary word (frequency > 0) starting at each
 *     position, or the single character when there is none (get_DAG);
 *   - the route maximises log(freq or 1) - log(total) + route[x + 1], ties going to the longer
 *     word, as Python's max() over (value, x) tuples does (calc);
 *   - consecutive one-character ASCII letters and digits are joined (__cut_DAG_NO_HMM).
 * The floating-point expression is evaluated in the same order as jieba's, without fused
 * multiply-add (setup.py passes -ffp-contract=off), with the same libm log().
 *
 * The dictionary (jieba's FREQ: every word and each of its prefixes, prefixes at frequency 0) is
 * a trie whose edges live in one open-addressing hash table keyed by (parent node, code point);
 * the root's children below U+10000 are a direct array.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define ROOT_DIRECT 0x10000

typedef struct {
    PyObject_HEAD
    int32_t *root;              /* child of the root for code points < ROOT_DIRECT, or -1 */
    uint64_t *slots;            /* 0 = empty; else edge key (low 42 bits) | child << 42 */
    size_t hcap, hcount;
    int hbits;
    int64_t *freq;              /* per node; 0 for a prefix that is not a word */
    double *logw;               /* log(freq) for a word (freq > 0), -1 for a prefix: one load
                                   tells the hot loop both whether and how much */
    size_t ncount, ncap;
    int64_t total;
    /* scratch for one run, grown as needed */
    Py_UCS4 *cps;
    double *rv;
    int32_t *rx;
    size_t scap;
} Trie;

/* An edge and its child share one 64-bit slot, so a probe touches one cache line. */
#define KEY_BITS 42
#define KEY_MASK ((UINT64_C(1) << KEY_BITS) - 1)
/* edge_key keeps parent + 1 in 21 bits, so node ids stop below 2**21 - 1 */
#define MAX_NODES ((1 << 21) - 1)

static inline uint64_t edge_key(int32_t parent, Py_UCS4 cp) {
    return ((uint64_t)(parent + 1) << 21) | (uint64_t)cp;
}

static inline size_t slot_of(const Trie *t, uint64_t key) {
    return (size_t)((key * 0x9E3779B97F4A7C15ULL) >> (64 - t->hbits));
}

static inline int32_t child(const Trie *t, int32_t node, Py_UCS4 cp) {
    if (node == 0 && cp < ROOT_DIRECT)
        return t->root[cp];
    uint64_t key = edge_key(node, cp);
    size_t mask = t->hcap - 1, i = slot_of(t, key);
    for (;;) {
        uint64_t v = t->slots[i];
        if ((v & KEY_MASK) == key) return (int32_t)(v >> KEY_BITS);
        if (v == 0) return -1;
        i = (i + 1) & mask;
    }
}

static int grow_hash(Trie *t) {
    size_t old_cap = t->hcap;
    uint64_t *old = t->slots;
    int bits = t->hbits + 1;
    size_t cap = (size_t)1 << bits;
    uint64_t *fresh = PyMem_Calloc(cap, sizeof(uint64_t));
    if (!fresh) { PyErr_NoMemory(); return -1; }
    t->slots = fresh; t->hcap = cap; t->hbits = bits;
    for (size_t j = 0; j < old_cap; j++) {
        if (!old[j]) continue;
        size_t i = slot_of(t, old[j] & KEY_MASK);
        while (fresh[i]) i = (i + 1) & (cap - 1);
        fresh[i] = old[j];
    }
    PyMem_Free(old);
    return 0;
}

static int32_t new_node(Trie *t) {
    if (t->ncount == MAX_NODES) {
        PyErr_SetString(PyExc_ValueError, "dictionary too large for cjieba (more than 2**21 - 1 trie nodes)");
        return -1;
    }
    if (t->ncount == t->ncap) {
        size_t cap = t->ncap * 2;
        int64_t *f = PyMem_Realloc(t->freq, cap * sizeof(int64_t));
        if (!f) { PyErr_NoMemory(); return -1; }
        t->freq = f;
        double *l = PyMem_Realloc(t->logw, cap * sizeof(double));
        if (!l) { PyErr_NoMemory(); return -1; }
        t->logw = l;
        t->ncap = cap;
    }
    t->freq[t->ncount] = 0;
    t->logw[t->ncount] = -1.0;
    return (int32_t)t->ncount++;
}

/* The node for word[0..n), created with its prefixes (at frequency 0) when missing. */
static int32_t insert_path(Trie *t, const Py_UCS4 *word, Py_ssize_t n) {
    int32_t node = 0;
    for (Py_ssize_t j = 0; j < n; j++) {
        Py_UCS4 cp = word[j];
        int32_t c = child(t, node, cp);
        if (c < 0) {
            int direct = node == 0 && cp < ROOT_DIRECT;
            if (!direct && (t->hcount + 1) * 2 > t->hcap && grow_hash(t) < 0) return -1;
            c = new_node(t);
            if (c < 0) return -1;
            if (direct) {
                t->root[cp] = c;
            } else {
                uint64_t key = edge_key(node, cp);
                size_t i = slot_of(t, key);
                while (t->slots[i]) i = (i + 1) & (t->hcap - 1);
                t->slots[i] = key | ((uint64_t)c << KEY_BITS); t->hcount++;
            }
        }
        node = c;
    }
    return node;
}

/* FREQ[word] = freq; total += freq (jieba's gen_pfdict and add_word both do exactly this). */
static int set_word(Trie *t, const Py_UCS4 *word, Py_ssize_t n, int64_t freq) {
    int32_t node = insert_path(t, word, n);
    if (node < 0) return -1;
    t->freq[node] = freq;
    t->logw[node] = freq > 0 ? log((double)freq) : -1.0;
    t->total += freq;
    return 0;
}

static int Trie_init(Trie *t, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kw, "", kwlist)) return -1;
    if (t->root) { PyErr_SetString(PyExc_RuntimeError, "Trie is already initialised"); return -1; }
    t->root = PyMem_Malloc(ROOT_DIRECT * sizeof(int32_t));
    t->hbits = 16;
    t->hcap = (size_t)1 << t->hbits;
    t->slots = PyMem_Calloc(t->hcap, sizeof(uint64_t));
    t->ncap = 1024;
    t->freq = PyMem_Malloc(t->ncap * sizeof(int64_t));
    t->logw = PyMem_Malloc(t->ncap * sizeof(double));
    if (!t->root || !t->slots || !t->freq || !t->logw) { PyErr_NoMemory(); return -1; }
    memset(t->root, 0xff, ROOT_DIRECT * sizeof(int32_t));
    t->hcount = 0; t->ncount = 0; t->total = 0;
    if (new_node(t) < 0) return -1;                       /* node 0: the root */
    return 0;
}

static void Trie_dealloc(Trie *t) {
    PyMem_Free(t->root); PyMem_Free(t->slots);
    PyMem_Free(t->freq); PyMem_Free(t->logw);
    PyMem_Free(t->cps); PyMem_Free(t->rv); PyMem_Free(t->rx);
    Py_TYPE(t)->tp_free((PyObject *)t);
}

/* UTF-8 decoding of one dictionary word; returns its length in code points or -1. */
static Py_ssize_t decode_utf8(const unsigned char *s, Py_ssize_t n, Py_UCS4 *out) {
    Py_ssize_t i = 0, k = 0;
    while (i < n) {
        unsigned char c = s[i];
        Py_UCS4 cp; int more;
        if (c < 0x80) { cp = c; more = 0; }
        else if ((c & 0xe0) == 0xc0) { cp = c & 0x1f; more = 1; }
        else if ((c & 0xf0) == 0xe0) { cp = c & 0x0f; more = 2; }
        else if ((c & 0xf8) == 0xf0) { cp = c & 0x07; more = 3; }
        else return -1;
        for (int m = 1; m <= more; m++) {
            if (i + m >= n || (s[i + m] & 0xc0) != 0x80) return -1;
            cp = (cp << 6) | (s[i + m] & 0x3f);
        }
        out[k++] = cp;
        i += more + 1;
    }
    return k;
}

static int is_strip(unsigned char c) {         /* bytes.strip()'s ASCII whitespace */
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\x0b' || c == '\x0c';
}

/* load_dict(data: bytes): jieba's gen_pfdict over a dict.txt held in memory. */
static PyObject *Trie_load_dict(Trie *t, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    const unsigned char *s = view.buf;
    Py_ssize_t n = view.len, pos = 0, lineno = 0;
    Py_UCS4 word[1024];
    while (pos < n) {
        Py_ssize_t end = pos;
        while (end < n && s[end] != '\n') end++;
        lineno++;
        Py_ssize_t a = pos, z = end;
        pos = end + 1;
        while (a < z && is_strip(s[a])) a++;
        while (z > a && is_strip(s[z - 1])) z--;
        Py_ssize_t sp = a;
        while (sp < z && s[sp] != ' ') sp++;
        Py_ssize_t fa = sp + 1, fz = fa;
        while (fz < z && s[fz] != ' ') fz++;
        int64_t freq = 0;
        int ok = sp > a && sp < z && fz > fa && sp - a < (Py_ssize_t)(sizeof word / sizeof word[0]);
        for (Py_ssize_t j = fa; ok && j < fz; j++) {
            if (s[j] < '0' || s[j] > '9') ok = 0;
            else freq = freq * 10 + (s[j] - '0');
        }
        Py_ssize_t len = ok ? decode_utf8(s + a, sp - a, word) : -1;
        if (len <= 0) {
            PyBuffer_Release(&view);
            PyErr_Format(PyExc_ValueError, "dictionary line %zd is not 'word frequency [tag]'", lineno);
            return NULL;
        }
        if (set_word(t, word, len, freq) < 0) { PyBuffer_Release(&view); return NULL; }
    }
    PyBuffer_Release(&view);
    Py_RETURN_NONE;
}

static Py_UCS4 *ucs4_of(PyObject *s, Py_ssize_t *n) {
    if (!PyUnicode_Check(s)) { PyErr_SetString(PyExc_TypeError, "expected str"); return NULL; }
    *n = PyUnicode_GET_LENGTH(s);
    return PyUnicode_AsUCS4Copy(s);
}

/* add_word(word, freq): jieba's Tokenizer.add_word with an explicit frequency. */
static PyObject *Trie_add_word(Trie *t, PyObject *args) {
    PyObject *w; long long freq;
    if (!PyArg_ParseTuple(args, "UL", &w, &freq)) return NULL;
    Py_ssize_t n;
    Py_UCS4 *u = ucs4_of(w, &n);
    if (!u) return NULL;
    if (n == 0 || freq < 0) {
        PyMem_Free(u);
        PyErr_SetString(PyExc_ValueError, n ? "negative frequency" : "empty word");
        return NULL;
    }
    int r = set_word(t, u, n, freq);
    PyMem_Free(u);
    if (r < 0) return NULL;
    Py_RETURN_NONE;
}

/* freq(word): FREQ[word] (0 for a prefix), or None when the word is not in FREQ at all. */
static PyObject *Trie_freq(Trie *t, PyObject *w) {
    Py_ssize_t n;
    Py_UCS4 *u = ucs4_of(w, &n);
    if (!u) return NULL;
    int32_t node = n ? 0 : -1;
    for (Py_ssize_t j = 0; j < n && node >= 0; j++) node = child(t, node, u[j]);
    PyMem_Free(u);
    if (node < 0) Py_RETURN_NONE;
    return PyLong_FromLongLong(t->freq[node]);
}

static PyObject *Trie_total(Trie *t, void *closure) {
    return PyLong_FromLongLong(t->total);
}

static inline int is_han(Py_UCS4 c) {
    return (c >= 0x4E00 && c <= 0x9FD5) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
        || (c >= '0' && c <= '9') || c == '+' || c == '#' || c == '&' || c == '.' || c == '_'
        || c == '%' || c == '-';
}

static inline int is_eng(Py_UCS4 c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* The two output buffers, as bytes objects grown on demand: about one token per two characters,
 * so reserving one per character would double the peak memory of a huge document. */
typedef struct { PyObject *S, *E; int64_t *s, *e; Py_ssize_t n, cap; } Out;

static int reserve(Out *o, Py_ssize_t extra) {
    if (o->n + extra <= o->cap) return 0;
    Py_ssize_t cap = o->cap + o->cap / 2;
    if (cap < o->n + extra) cap = o->n + extra;
    if (_PyBytes_Resize(&o->S, cap * 8) < 0 || _PyBytes_Resize(&o->E, cap * 8) < 0) return -1;
    o->s = (int64_t *)PyBytes_AS_STRING(o->S);
    o->e = (int64_t *)PyBytes_AS_STRING(o->E);
    o->cap = cap;
    return 0;
}

static inline void emit(Out *o, Py_ssize_t a, Py_ssize_t z) {
    o->s[o->n] = a; o->e[o->n] = z; o->n++;
}

static int ensure_scratch(Trie *t, size_t n) {
    if (n <= t->scap) return 0;
    size_t cap = t->scap ? t->scap : 256;
    while (cap < n) cap *= 2;
    PyMem_Free(t->cps); PyMem_Free(t->rv); PyMem_Free(t->rx);
    t->cps = PyMem_Malloc(cap * sizeof(Py_UCS4));
    t->rv = PyMem_Malloc(cap * sizeof(double));
    t->rx = PyMem_Malloc(cap * sizeof(int32_t));
    t->scap = t->cps && t->rv && t->rx ? cap : 0;
    if (!t->scap) { PyErr_NoMemory(); return -1; }
    return 0;
}

/* One run of re_han_default characters, text[a..b): calc over get_DAG, then the forward walk. */
static void cut_run(Trie *t, int kind, const void *data, Py_ssize_t a, Py_ssize_t b, Out *o) {
    Py_ssize_t N = b - a;
    Py_UCS4 *cps = t->cps;
    double *rv = t->rv;
    int32_t *rx = t->rx;
    for (Py_ssize_t j = 0; j < N; j++) cps[j] = PyUnicode_READ(kind, data, a + j);
    double logtotal = log((double)t->total);
    rv[N] = 0.0;
    for (Py_ssize_t idx = N - 1; idx >= 0; idx--) {
        int32_t node = 0, bx = -1;
        double best = 0.0;
        for (Py_ssize_t i = idx; i < N; i++) {
            node = child(t, node, cps[i]);
            if (node < 0) break;
            double lw = t->logw[node];
            if (lw >= 0.0) {
                double v = lw - logtotal + rv[i + 1];
                if (bx < 0 || v >= best) { best = v; bx = (int32_t)i; }
            }
        }
        if (bx < 0) { best = 0.0 - logtotal + rv[idx + 1]; bx = (int32_t)idx; }
        rv[idx] = best;
        rx[idx] = bx;
    }
    Py_ssize_t x = 0, buf = -1;
    while (x < N) {
        Py_ssize_t y = rx[x] + 1;
        if (y - x == 1 && is_eng(cps[x])) {
            if (buf < 0) buf = x;
        } else {
            if (buf >= 0) { emit(o, a + buf, a + x); buf = -1; }
            emit(o, a + x, a + y);
        }
        x = y;
    }
    if (buf >= 0) emit(o, a + buf, a + N);
}

/* spans(text, blanks=False) -> (starts, ends): int64 buffers of the token spans in code points.
 * Blank tokens (whitespace, "\r\n") are left out unless `blanks` is true. */
static PyObject *Trie_spans(Trie *t, PyObject *args) {
    PyObject *text;
    int blanks = 0;
    if (!PyArg_ParseTuple(args, "U|p", &text, &blanks)) return NULL;
    if (t->total <= 0) { PyErr_SetString(PyExc_ValueError, "no dictionary loaded"); return NULL; }
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t cap = n / 2 + 64;
    Out o = {PyBytes_FromStringAndSize(NULL, cap * 8), PyBytes_FromStringAndSize(NULL, cap * 8),
             NULL, NULL, 0, cap};
    PyObject *r = NULL;
    if (!o.S || !o.E) goto done;
    o.s = (int64_t *)PyBytes_AS_STRING(o.S);
    o.e = (int64_t *)PyBytes_AS_STRING(o.E);
    Py_ssize_t i = 0;
    while (i < n) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (is_han(c)) {
            Py_ssize_t j = i + 1;
            while (j < n && is_han(PyUnicode_READ(kind, data, j))) j++;
            if (ensure_scratch(t, (size_t)(j - i) + 1) < 0 || reserve(&o, j - i) < 0) goto done;
            cut_run(t, kind, data, i, j, &o);      /* at most one token per character */
            i = j;
            continue;
        }
        if (reserve(&o, 1) < 0) goto done;
        if (c == '\r' && i + 1 < n && PyUnicode_READ(kind, data, i + 1) == '\n') {
            if (blanks) emit(&o, i, i + 2);
            i += 2;
        } else {
            if (blanks || !Py_UNICODE_ISSPACE(c)) emit(&o, i, i + 1);
            i++;
        }
    }
    if (_PyBytes_Resize(&o.S, o.n * 8) < 0 || _PyBytes_Resize(&o.E, o.n * 8) < 0) goto done;
    r = PyTuple_Pack(2, o.S, o.E);
done:
    Py_XDECREF(o.S); Py_XDECREF(o.E);
    return r;
}

/* utf8_pieces(text, starts, ends) -> (offsets, data): the UTF-8 bytes of text[starts[i]:ends[i]]
 * for every i, concatenated, and the int32 offsets (n + 1 of them) that make them an Arrow string
 * array. Lone surrogates are written as 3-byte sequences, as "surrogatepass" does. Raises
 * OverflowError when the text might pass 2**31 bytes (the caller then uses 64-bit offsets). */
#define PUT_UTF8(c)                                                                         \
    do {                                                                                    \
        if ((c) < 0x80) out[at++] = (unsigned char)(c);                                     \
        else if ((c) < 0x800) { out[at++] = 0xc0 | ((c) >> 6); out[at++] = 0x80 | ((c) & 0x3f); } \
        else if ((c) < 0x10000) {                                                           \
            out[at++] = 0xe0 | ((c) >> 12); out[at++] = 0x80 | (((c) >> 6) & 0x3f);          \
            out[at++] = 0x80 | ((c) & 0x3f);                                                \
        } else {                                                                            \
            out[at++] = 0xf0 | ((c) >> 18); out[at++] = 0x80 | (((c) >> 12) & 0x3f);         \
            out[at++] = 0x80 | (((c) >> 6) & 0x3f); out[at++] = 0x80 | ((c) & 0x3f);         \
        }                                                                                   \
    } while (0)

/* one loop per storage kind: PyUnicode_READ would switch on the kind for every character */
#define PIECES(T)                                                                           \
    do {                                                                                    \
        const T *p = (const T *)d;                                                          \
        for (Py_ssize_t i = 0; i < n; i++) {                                                \
            for (int64_t k = S[i]; k < E[i]; k++) { Py_UCS4 c = p[k]; PUT_UTF8(c); }        \
            o[i + 1] = (int32_t)at;                                                         \
        }                                                                                   \
    } while (0)

static PyObject *utf8_pieces(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *text;
    Py_buffer sb, eb;
    if (!PyArg_ParseTuple(args, "Uy*y*", &text, &sb, &eb)) return NULL;
    PyObject *offsets = NULL, *data = NULL, *r = NULL;
    Py_ssize_t n = sb.len / 8, len = PyUnicode_GET_LENGTH(text), chars = 0;
    const int64_t *S = sb.buf, *E = eb.buf;
    int kind = PyUnicode_KIND(text);
    const void *d = PyUnicode_DATA(text);
    if (eb.len != sb.len) { PyErr_SetString(PyExc_ValueError, "starts and ends differ in length"); goto done; }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (S[i] < 0 || S[i] > E[i] || E[i] > len) { PyErr_SetString(PyExc_IndexError, "span out of range"); goto done; }
        chars += E[i] - S[i];
    }
    /* room for the widest encoding of the text's kind (UCS1: 2 bytes, UCS2: 3, UCS4: 4), cut
     * to size after */
    Py_ssize_t room = chars * (kind == PyUnicode_1BYTE_KIND ? 2 : kind == PyUnicode_2BYTE_KIND ? 3 : 4);
    if (room >= ((Py_ssize_t)1 << 31)) { PyErr_SetString(PyExc_OverflowError, "more than 2**31 bytes"); goto done; }
    offsets = PyBytes_FromStringAndSize(NULL, (n + 1) * 4);
    data = PyBytes_FromStringAndSize(NULL, room);
    if (!offsets || !data) goto done;
    int32_t *o = (int32_t *)PyBytes_AS_STRING(offsets);
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(data);
    Py_ssize_t at = 0;
    o[0] = 0;
    if (kind == PyUnicode_1BYTE_KIND) PIECES(Py_UCS1);
    else if (kind == PyUnicode_2BYTE_KIND) PIECES(Py_UCS2);
    else PIECES(Py_UCS4);
    if (_PyBytes_Resize(&data, at) < 0) goto done;
    r = PyTuple_Pack(2, offsets, data);
done:
    Py_XDECREF(offsets); Py_XDECREF(data);
    PyBuffer_Release(&sb); PyBuffer_Release(&eb);
    return r;
}

/* fold(text): document.fold_width in one pass (FOLD_TABLE there is the definition):
 * U+FF01..U+FF5E -> U+0021..U+007E, U+3000 and U+00A0 -> space. Same length, so offsets hold. */
static inline Py_UCS4 fold_cp(Py_UCS4 c) {
    if (c >= 0xFF01 && c <= 0xFF5E) return c - 0xFEE0;
    if (c == 0x3000 || c == 0xA0) return 0x20;
    return c;
}

/* One loop per storage kind, so the compiler can vectorise it (PyUnicode_READ switches per char). */
#define FOLD_SCAN(T)                                                                        \
    do {                                                                                    \
        const T *p = (const T *)d;                                                          \
        for (Py_ssize_t i = 0; i < n; i++) {                                                \
            Py_UCS4 c = p[i], f = fold_cp(c);                                               \
            changed |= f != c;                                                              \
            maxc = f > maxc ? f : maxc;                                                     \
        }                                                                                   \
    } while (0)

static PyObject *fold(PyObject *self, PyObject *text) {
    (void)self;
    if (!PyUnicode_Check(text)) { PyErr_SetString(PyExc_TypeError, "expected str"); return NULL; }
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *d = PyUnicode_DATA(text);
    Py_UCS4 maxc = 0;
    int changed = 0;
    if (kind == PyUnicode_1BYTE_KIND) FOLD_SCAN(Py_UCS1);
    else if (kind == PyUnicode_2BYTE_KIND) FOLD_SCAN(Py_UCS2);
    else FOLD_SCAN(Py_UCS4);
    if (!changed) { Py_INCREF(text); return text; }
    /* the result's storage must fit its largest character exactly (CPython compares kinds) */
    PyObject *r = PyUnicode_New(n, maxc);
    if (!r) return NULL;
    int rk = PyUnicode_KIND(r);
    void *rd = PyUnicode_DATA(r);
    if (rk == kind && kind == PyUnicode_2BYTE_KIND) {
        const Py_UCS2 *p = d;
        Py_UCS2 *q = rd;
        for (Py_ssize_t i = 0; i < n; i++) q[i] = (Py_UCS2)fold_cp(p[i]);
    } else {
        for (Py_ssize_t i = 0; i < n; i++) PyUnicode_WRITE(rk, rd, i, fold_cp(PyUnicode_READ(kind, d, i)));
    }
    return r;
}

/* lut_hits(text, lut, lo, hi): the characters of text[lo:hi] that a lookup table marks, in one
 * pass (numpy needs a code point copy, a take and a nonzero for the same). lut is a uint8 table
 * over code points; a code point past its end reads its last entry. Returns three buffers over
 * the marked places: their positions in text (int64), their entries (uint8), and the entry of
 * the character right after each (uint8, 0 at hi): what the pair scans of the dates gate and
 * of turns read. */
static int grow_hits(int64_t **pos, uint8_t **val, Py_ssize_t *cap) {
    Py_ssize_t n = *cap ? *cap * 2 : 1024;
    int64_t *p = PyMem_Realloc(*pos, n * sizeof(int64_t));
    if (!p) { PyErr_NoMemory(); return -1; }
    *pos = p;
    uint8_t *v = PyMem_Realloc(*val, n);
    if (!v) { PyErr_NoMemory(); return -1; }
    *val = v;
    *cap = n;
    return 0;
}

static PyObject *lut_hits(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *text, *r = NULL, *P = NULL, *V = NULL, *N = NULL;
    Py_buffer lb;
    Py_ssize_t lo = 0, hi = PY_SSIZE_T_MAX;
    if (!PyArg_ParseTuple(args, "Uy*|nn", &text, &lb, &lo, &hi)) return NULL;
    int64_t *pos = NULL;
    uint8_t *val = NULL, *nxt;
    Py_ssize_t k = 0, cap = 0, len = PyUnicode_GET_LENGTH(text);
    const uint8_t *L = lb.buf;
    if (lb.len < 1) { PyErr_SetString(PyExc_ValueError, "empty lookup table"); goto done; }
    Py_UCS4 last = (Py_UCS4)(lb.len - 1 > 0x10FFFF ? 0x10FFFF : lb.len - 1);
    if (lo < 0) lo = 0;
    if (hi > len) hi = len;
    if (hi < lo) hi = lo;
    int kind = PyUnicode_KIND(text);
    const void *d = PyUnicode_DATA(text);
    /* pass 1, one loop per storage kind: positions and entries */
#define HITS1(T)                                                                            \
    do {                                                                                    \
        const T *p = (const T *)d;                                                          \
        for (Py_ssize_t i = lo; i < hi; i++) {                                              \
            Py_UCS4 c = p[i];                                                               \
            uint8_t v = L[c < last ? c : last];                                             \
            if (v) {                                                                        \
                if (k == cap && grow_hits(&pos, &val, &cap) < 0) goto done;                \
                pos[k] = i; val[k++] = v;                                                   \
            }                                                                               \
        }                                                                                   \
    } while (0)
    if (kind == PyUnicode_1BYTE_KIND) HITS1(Py_UCS1);
    else if (kind == PyUnicode_2BYTE_KIND) HITS1(Py_UCS2);
    else HITS1(Py_UCS4);
    P = PyBytes_FromStringAndSize((const char *)pos, k * sizeof(int64_t));
    V = PyBytes_FromStringAndSize((const char *)val, k);
    N = PyBytes_FromStringAndSize(NULL, k);
    if (!P || !V || !N) goto done;
    nxt = (uint8_t *)PyBytes_AS_STRING(N);
    /* pass 2: the entry after each marked place (only those: a few in ten characters) */
    for (Py_ssize_t j = 0; j < k; j++) {
        Py_ssize_t i = pos[j] + 1;
        if (i >= hi) { nxt[j] = 0; continue; }
        Py_UCS4 c = PyUnicode_READ(kind, d, i);
        nxt[j] = L[c < last ? c : last];
    }
    r = PyTuple_Pack(3, P, V, N);
done:
    Py_XDECREF(P); Py_XDECREF(V); Py_XDECREF(N);
    PyMem_Free(pos); PyMem_Free(val);
    PyBuffer_Release(&lb);
    return r;
}

static PyMethodDef module_methods[] = {
    {"lut_hits", lut_hits, METH_VARARGS, "lut_hits(text, lut, lo=0, hi=len) -> (int64 positions, uint8 entries, uint8 next entries)"},
    {"fold", fold, METH_O, "fold(text): full-width ASCII and the two wide spaces to ASCII, same length"},
    {"utf8_pieces", utf8_pieces, METH_VARARGS, "utf8_pieces(text, starts, ends) -> (int32 offsets, utf-8 data)"},
    {NULL}
};

/* rmatches(text, words): for a trie of REVERSED words whose frequencies are 1 + their index in
 * `words`, the words found in text from right to left: at each place the longest word ending
 * there, the next one ending at or before where it began (a left-to-right regex scan of the
 * reversed text with the words longest first finds the same). A list of (start, end, word),
 * right to left; `word` is the object from `words`. */
static PyObject *Trie_rmatches(Trie *t, PyObject *args) {
    PyObject *text, *words;
    if (!PyArg_ParseTuple(args, "UO!", &text, &PyList_Type, &words)) return NULL;
    int kind = PyUnicode_KIND(text);
    const void *d = PyUnicode_DATA(text);
    Py_ssize_t e = PyUnicode_GET_LENGTH(text), nwords = PyList_GET_SIZE(words);
    PyObject *out = PyList_New(0);
    if (!out) return NULL;
    while (e > 0) {
        int32_t node = 0;
        Py_ssize_t best = 0;
        int64_t id = 0;
        for (Py_ssize_t p = e - 1; p >= 0; p--) {
            node = child(t, node, PyUnicode_READ(kind, d, p));
            if (node < 0) break;
            if (t->freq[node] > 0) { best = e - p; id = t->freq[node]; }
        }
        if (!best) { e--; continue; }
        if (id > nwords) { PyErr_SetString(PyExc_IndexError, "word id beyond the word list"); goto fail; }
        PyObject *row = Py_BuildValue("(nnO)", e - best, e, PyList_GET_ITEM(words, id - 1));
        if (!row || PyList_Append(out, row) < 0) { Py_XDECREF(row); goto fail; }
        Py_DECREF(row);
        e -= best;
    }
    return out;
fail:
    Py_DECREF(out);
    return NULL;
}

static PyMethodDef Trie_methods[] = {
    {"rmatches", (PyCFunction)Trie_rmatches, METH_VARARGS, "rmatches(text, words) -> [(start, end, word)], right to left (a trie of reversed words)"},
    {"load_dict", (PyCFunction)Trie_load_dict, METH_O, "load_dict(data: bytes): add jieba dict.txt lines"},
    {"add_word", (PyCFunction)Trie_add_word, METH_VARARGS, "add_word(word, freq): FREQ[word] = freq"},
    {"freq", (PyCFunction)Trie_freq, METH_O, "freq(word): FREQ.get(word) (None when absent)"},
    {"spans", (PyCFunction)Trie_spans, METH_VARARGS, "spans(text, blanks=False) -> (starts, ends) int64 bytes"},
    {NULL}
};

static PyGetSetDef Trie_getset[] = {
    {"total", (getter)Trie_total, NULL, "sum of all frequencies set (jieba's Tokenizer.total)", NULL},
    {NULL}
};

static PyTypeObject TrieType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pipeline._cjieba.Trie",
    .tp_basicsize = sizeof(Trie),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "jieba's prefix dictionary and its HMM-off cut",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Trie_init,
    .tp_dealloc = (destructor)Trie_dealloc,
    .tp_methods = Trie_methods,
    .tp_getset = Trie_getset,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, .m_name = "_cjieba", .m_doc = "jieba's HMM-off cut in C", .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__cjieba(void) {
    if (PyType_Ready(&TrieType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Py_INCREF(&TrieType);
    if (PyModule_AddObject(m, "Trie", (PyObject *)&TrieType) < 0) { Py_DECREF(&TrieType); Py_DECREF(m); return NULL; }
    return m;
}
