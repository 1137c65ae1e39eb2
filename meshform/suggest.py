""" "Did you mean": the closest known names to a misspelt one, for messages about unknown modes, kinds
and options."""

from __future__ import annotations

from collections.abc import Iterable


def closest(word: str, known: Iterable[str], limit: int = 3) -> list[str]:
    """Known names that look like `word` (case ignored), best first; [] when none is close."""
    import difflib  # only a misspelt name gets here: not imported by every run

    names = list(dict.fromkeys(known))
    by_folded = {n.casefold(): n for n in reversed(names)}
    found = difflib.get_close_matches(word.casefold(), list(by_folded), n=limit, cutoff=0.7)
    return [by_folded[f] for f in found]


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """` (did you mean 'istio'?)` to append to a message, or "" when nothing is close."""
    found = closest(word, known)
    if not found:
        return ""
    return " (did you mean " + " or ".join(repr(f) for f in found) + "?)"
