"""'Did you mean …?' for misspelled keys and names, aware of the unit suffixes in field names."""

from __future__ import annotations

import difflib
import re
from typing import Iterable

_UNIT_SUFFIX = re.compile(r"_(mm|cm|m|um|s|ms|min|h|N|n|kN|g|kg|deg|rad|pct)$")


def _stem(word: str) -> str:
    return _UNIT_SUFFIX.sub("", word)


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate that ``word`` most likely meant, or None.

    A candidate with the same stem but another unit (``time_limit_min`` → ``time_limit_s``) wins over spelling
    similarity, because writing the wrong unit is the likelier mistake there.
    """
    candidates = sorted(set(candidates))
    if not candidates:
        return None
    same_stem = [c for c in candidates if _stem(c) == _stem(word) and c != word]
    if same_stem:
        return same_stem[0]
    matches = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    if not matches:
        matches = difflib.get_close_matches(word.lower(), candidates, n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """`` Did you mean 'x'?`` (a sentence with its leading space, to follow another) or an empty string."""
    match = closest(word, candidates)
    return f" Did you mean '{match}'?" if match else ""
