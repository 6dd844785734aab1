"""Key phrases of a course: the 1-3 word terms that its material is about (TF-IDF over chunks, boosted by headings)."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from smartcourse_ai.text.sentences import STOPWORDS, is_code_line, split_sentences, stem, tokens

# Words too vague to be a topic on their own ("function" names no topic of a programming course).
_GENERIC_TEXT = """
example examples thing things way ways use uses used function functions part parts lot lots kind kinds type types
case cases number numbers value values section sections chapter chapters module modules lesson lessons course
courses topic topics introduction overview summary conclusion student students learner learners time times step
steps point points idea ideas question questions answer answers result results information data fact facts
problem problems item items list lists method methods process page pages figure figures table tables note notes
term terms word words area areas level levels form forms group groups set sets kind sort amount amounts order
people person place system systems way work works need needs end start first second third new good great important
different many several various able based called make makes making made take takes show shows see help helps
year years month months day days week weeks following follow follows learn learning understand
understanding know include includes including means mean
"""
GENERIC_WORDS = frozenset(_GENERIC_TEXT.split())
# Words ending in -ly that are not adverbs; other -ly words ("originally deposit") make poor phrase edges.
_LY_WORDS = frozenset({"monthly", "daily", "weekly", "yearly", "quarterly", "hourly", "early", "family", "assembly",
                       "supply", "monopoly", "anomaly", "reply", "italy", "july", "butterfly", "rally", "ally",
                       "oligopoly", "friendly", "holy", "belly", "jelly", "bully"})
# Joining words allowed inside a three-word phrase ("rate of return", "supply and demand").
_JOINERS = frozenset({"of", "and", "on", "for", "in"})
_SEGMENT_BREAK = re.compile(r"[,;:()\[\]{}\"\u201c\u201d!?]|\s[-\u2013\u2014]\s|\.\s|\.$")
_SURFACE_WORD = re.compile(r"[^\W_]+(?:[-'\u2019][^\W_]+)*")
_POSSESSIVE = re.compile(r"['\u2019]s$")
MULTIWORD_BONUS = {1: 1.0, 2: 1.7, 3: 2.0}
HEADING_BOOST = 2.0
PREFER_PHRASE = 0.3  # a phrase replaces a chosen word it contains when it scores at least this share of it

Key = tuple[str, ...]


@dataclass
class _Candidate:
    key: Key
    first_seen: int
    count: int = 0
    in_heading: bool = False
    documents: set[int] = field(default_factory=set)
    forms: Counter[str] = field(default_factory=Counter)  # surface forms away from the start of a sentence
    initial_forms: Counter[str] = field(default_factory=Counter)


def _word_key(word: str) -> str:
    parts = tokens(word)
    return "-".join(stem(p) for p in parts) if parts else ""


def phrase_key(phrase: str) -> Key:
    """The stem sequence of ``phrase``: "Compound Interests" and "compound interest" share it."""
    return tuple(stem(t) for t in tokens(phrase))


def contains_key(outer: Key, inner: Key) -> bool:
    n = len(inner)
    return n > 0 and any(outer[i:i + n] == inner for i in range(len(outer) - n + 1))


def find_phrase(text: str, phrase: str) -> list[tuple[int, int]]:
    """Character spans of ``text`` whose words stem to ``phrase``'s (case, plural and punctuation forgiven)."""
    key = phrase_key(phrase)
    if not key:
        return []
    words = [(m.start(), m.end(), stem(t)) for m in re.finditer(r"[^\W_]+(?:['\u2019][^\W_]+)?", text)
             for t in tokens(m.group()) or [""]]
    spans: list[tuple[int, int]] = []
    n = len(key)
    i = 0
    while i + n <= len(words):
        if tuple(w[2] for w in words[i:i + n]) == key:
            spans.append((words[i][0], words[i + n - 1][1]))
            i += n
        else:
            i += 1
    return spans


def _valid(words: Sequence[str]) -> bool:
    lowered = [w.lower() for w in words]
    first, last = lowered[0], lowered[-1]
    if first in STOPWORDS or last in STOPWORDS or len(first) < 2 or len(last) < 2:
        return False
    if any(w.endswith("ly") and w not in _LY_WORDS for w in (first, last)):
        return False
    # Numbers may complete a phrase ("rule of 72") but not start one ("12 years") or make one up.
    number_ends = last.isdigit() and len(words) > 1
    if not any(c.isalpha() for c in first) or (not any(c.isalpha() for c in last) and not number_ends):
        return False
    if any(w in STOPWORDS and w not in _JOINERS for w in lowered[1:-1]):
        return False
    if len(words) == 1 and (lowered[0] in GENERIC_WORDS or len(lowered[0]) < 3):
        return False
    return not all(w in GENERIC_WORDS or w in STOPWORDS for w in lowered)


def _segments(text: str) -> list[tuple[list[str], bool]]:
    """Word runs not crossing punctuation, each flagged when it starts a sentence (capitals mean little there)."""
    runs = []
    for sentence in split_sentences(text):
        if is_code_line(sentence):
            continue
        for k, part in enumerate(_SEGMENT_BREAK.split(sentence)):
            words = [_POSSESSIVE.sub("", w) for w in _SURFACE_WORD.findall(part)]
            if words:
                runs.append((words, k == 0))
    return runs


def _collect(candidates: dict[Key, _Candidate], text: str, doc: int | None, position: int) -> int:
    for words, sentence_start in _segments(text):
        keys = [_word_key(w) for w in words]
        for n in (1, 2, 3):
            for i in range(len(words) - n + 1):
                gram = words[i:i + n]
                if not _valid(gram):
                    continue
                key = tuple(keys[i:i + n])
                candidate = candidates.get(key)
                if candidate is None:
                    candidate = candidates[key] = _Candidate(key, position)
                position += 1
                surface = " ".join(gram)
                if doc is None:
                    candidate.in_heading = True
                    candidate.initial_forms[surface] += 1
                    continue
                candidate.count += 1
                candidate.documents.add(doc)
                (candidate.initial_forms if sentence_start and i == 0 else candidate.forms)[surface] += 1
    return position


def _display(candidate: _Candidate) -> str:
    """The form used in running text; a capital that only ever starts a sentence (or a heading) is dropped."""
    if candidate.forms:
        return min(candidate.forms.items(), key=lambda item: (-item[1], item[0]))[0]
    form = min(candidate.initial_forms.items(), key=lambda item: (-item[1], item[0]))[0]
    words = form.split()
    return " ".join(w[0].lower() + w[1:] if w[1:] == w[1:].lower() else w for w in words)


def key_phrases(documents: Sequence[str], *, top_k: int, headings: Sequence[str] = ()) -> list[str]:
    """Up to ``top_k`` key phrases of ``documents`` (chunks of one course), best first, as written in them."""
    if top_k <= 0:
        return []
    candidates: dict[Key, _Candidate] = {}
    position = 0
    for doc, text in enumerate(documents):
        position = _collect(candidates, text, doc, position)
    for heading in dict.fromkeys(h.strip() for h in headings if h.strip()):
        position = _collect(candidates, heading, None, position)
    heading_keys = [k for k, c in candidates.items() if c.in_heading]
    n_docs = max(1, len(documents))

    def score(c: _Candidate) -> float:
        tf = c.count + (1 if c.in_heading else 0)
        idf = 1.0 + math.log((n_docs + 1) / (len(c.documents) + 1))
        boost = HEADING_BOOST if any(contains_key(h, c.key) for h in heading_keys) else 1.0
        return tf * idf * MULTIWORD_BONUS[len(c.key)] * boost

    scored = {k: score(c) for k, c in candidates.items()}
    # A phrase said once is usually an accident of wording; such phrases only fill up a short list.
    def reliable(c: _Candidate) -> bool:
        return len(c.key) == 1 or c.count >= 2 or c.in_heading

    ordered = sorted(candidates.values(), key=lambda c: (not reliable(c), -scored[c.key], c.first_seen))

    chosen: list[_Candidate] = []
    for candidate in ordered:
        if len(chosen) == top_k and len(candidate.key) == 1:
            continue
        clash = [c for c in chosen if contains_key(c.key, candidate.key) or contains_key(candidate.key, c.key)]
        if not clash:
            if len(chosen) < top_k:
                chosen.append(candidate)
            continue
        # Prefer the informative phrase over a single word it contains, when the phrase is not much rarer.
        if (reliable(candidate) and len(clash) == 1 and len(clash[0].key) == 1 and len(candidate.key) > 1
                and scored[candidate.key] >= PREFER_PHRASE * scored[clash[0].key]):
            chosen[chosen.index(clash[0])] = candidate
    return [_display(c) for c in chosen[:top_k]]
