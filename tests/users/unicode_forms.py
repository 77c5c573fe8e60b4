"""Other Unicode spellings of ASCII text, written as code (ruff flags them as literals)."""


def full_width(ascii_text: str) -> str:
    """``ascii_text`` in full-width forms (U+FF01..U+FF5E): NFKC turns it back."""
    return "".join(chr(ord(char) + 0xFEE0) for char in ascii_text)
