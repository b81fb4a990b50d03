"""Tiny obfuscation helpers used by the hand-written attack files.

Only "light templating": every payload string is still written by hand in
attacks_*.py; these helpers just encode it (base64, reversal, spacing,
homoglyph substitution) so the stored text is exact and reproducible.
"""
import base64

# Latin -> visually identical Cyrillic / other-script characters.
_HOMO = {
    "a": "\u0430", "e": "\u0435", "o": "\u043e", "p": "\u0440", "c": "\u0441",
    "x": "\u0445", "y": "\u0443", "i": "\u0456", "s": "\u0455", "A": "\u0410",
    "E": "\u0415", "O": "\u041e", "P": "\u0420", "C": "\u0421", "T": "\u0422",
    "H": "\u041d", "M": "\u041c", "B": "\u0412", "K": "\u041a",
}


def homoglyph(s: str) -> str:
    return "".join(_HOMO.get(ch, ch) for ch in s)


def b64(s: str) -> str:
    return base64.b64encode(s.encode("utf-8")).decode("ascii")


def rev(s: str) -> str:
    return s[::-1]


def spaced(s: str, sep: str = " ") -> str:
    """'hola mundo' -> 'h o l a   m u n d o' (word gaps become triple)."""
    return "   ".join(sep.join(w) for w in s.split(" "))
