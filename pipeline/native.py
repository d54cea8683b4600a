"""The optional compiled part, pipeline._cjieba (jieba's cut, token texts, width folding in C):
the module, or None when setup.py found no C compiler. Every user falls back to Python then."""
try:
    from . import _cjieba as cjieba
except ImportError:
    cjieba = None
