"""Pieces of the one-line error messages: short quotations of values, and close names.

A value may be megabytes long (a config string, a key, an override), so an error
quotes it through ``excerpt``, and only a short word is compared with the
accepted names (a long one resembles none of them, and difflib's work grows with it).
"""
import difflib

# The longest quotation of a value in an error message.
EXCERPT_CHARS = 80
# The longest quotation of another error's message (a component's ValueError).
MESSAGE_CHARS = 300


def shortened(text, limit=EXCERPT_CHARS):
    """``text`` cut to ``limit`` characters plus ``"... (N characters)"`` (N: the
    whole length) when longer."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


def excerpt(value, limit=EXCERPT_CHARS):
    """``repr(value)`` for an error message, cut as ``shortened`` does."""
    return shortened(repr(value), limit)


def close_matches(word, names, n=1, cutoff=0.6):
    """Up to ``n`` of ``names`` that ``word`` resembles (difflib), none for a long ``word``."""
    word = str(word)
    if len(word) > EXCERPT_CHARS:
        return []
    return difflib.get_close_matches(word, names, n=n, cutoff=cutoff)
