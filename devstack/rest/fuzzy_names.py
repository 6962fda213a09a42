"""The closest name to a misspelled one, for the "Perhaps you meant ..." hints of PostgREST's
errors, matched as the fuzzyset library PostgREST uses matches it: a name found regardless of
case is itself; else the candidates sharing n-grams (of 3, else of 2 characters) with it, the
50 most similar by cosine, rescored by normalized Levenshtein similarity, the best scoring at
least 0.33. Equal scores keep the candidates' order (PostgREST's follow a hash map's)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable

MIN_SCORE = 0.33
GRAM_SIZES = (3, 2)
RESCORED = 50


def _normalized(text: str) -> str:
    return "".join(c for c in text.lower() if c.isalnum() or c.isspace() or c == ",")


def _grams(text: str, size: int) -> Counter[str]:
    padded = f"-{_normalized(text)}-"
    return Counter(padded[i : i + size] for i in range(len(padded) - size + 1))


def _norm(vector: Counter[str]) -> float:
    return math.sqrt(sum(count * count for count in vector.values()))


def _levenshtein_similarity(a: str, b: str) -> float:
    if not a and not b:
        return 1.0
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b))
            )
        previous = current
    return 1 - previous[-1] / max(len(a), len(b))


def ranked(candidates: Iterable[str], name: str) -> list[tuple[float, str]]:
    """The candidates close to `name`, best first, with their scores (1.0: the same name)."""
    originals: dict[str, str] = {}
    for candidate in reversed(list(candidates)):  # fuzzyset adds a list from its end
        originals.setdefault(candidate.lower(), candidate)
    key = name.lower()
    if key in originals:
        return [(1.0, originals[key])]
    for size in GRAM_SIZES:
        query = _grams(key, size)
        query_norm = _norm(query)
        by_cosine = []
        for entry in originals:
            vector = _grams(entry, size)
            dot = sum(count * vector[gram] for gram, count in query.items())
            if dot:
                by_cosine.append((dot / (query_norm * _norm(vector)), entry))
        by_cosine.sort(key=lambda scored: -scored[0])
        rescored = [(_levenshtein_similarity(key, e), e) for _, e in by_cosine[:RESCORED]]
        rescored.sort(key=lambda scored: -scored[0])
        found = [(score, originals[e]) for score, e in rescored if score >= MIN_SCORE]
        if found:
            return found
    return []


def closest(candidates: Iterable[str], name: str) -> str | None:
    """The candidate `name` most likely misspells, if any is close enough."""
    found = ranked(candidates, name)
    return found[0][1] if found else None
