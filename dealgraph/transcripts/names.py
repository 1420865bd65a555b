"""How a person's name is matched: a speaker label, a person's name and a name an agent gave are one key."""

from __future__ import annotations

import unicodedata


def name_key(name: str) -> str:
    """A name as matched: "Dána  O'Neil" and "dana o neil" are one name (accents, case, punctuation folded)."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    letters = "".join(c if c.isalnum() else " " for c in decomposed if not unicodedata.combining(c))
    return " ".join(letters.split())[:200]
