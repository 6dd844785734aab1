"""Sentence splitting, tokens and a light stemmer.

The stemmer is deliberately small: it only has to make "rates", "rated" and "rating" meet, predictably, so that
matching, ranking and quiz checks agree with each other. It is not a linguistic tool.
"""

from __future__ import annotations

import re

_STOPWORD_TEXT = """
a about above after again against all almost also although always am among an and another any anyone anything
are aren't around as at be because been before being below between both but by can cannot could couldn't did
didn't do does doesn't doing don't done down during each either else enough etc even ever every few for from
further get gets getting given gives go goes going got had hadn't has hasn't have haven't having he her here hers
herself him himself his how however i if in into is isn't it it's its itself just least less let like likely may
maybe me might more most much must mustn't my myself namely neither never no nor not now of off often on once
one only onto or other others otherwise our ours ourselves out over own per perhaps quite rather really same
shall she should shouldn't since so some something sometimes still such than that that's the their theirs them
themselves then there there's therefore these they they're this those though through thus to too toward towards
under until up upon us usually very via was wasn't we we're were weren't what what's whatever when whenever where
whereas whether which while who whom whose why will with within without won't would wouldn't yet you you're your
yours yourself yourselves
"""
STOPWORDS: frozenset[str] = frozenset(_STOPWORD_TEXT.split())

_IRREGULAR = {"used": "use", "using": "use", "uses": "use", "data": "data", "does": "do", "done": "do"}

# A period after one of these does not end a sentence.
_ABBREVIATION_TEXT = (
    "e.g i.e mr mrs ms dr prof sr jr st vs cf al approx dept est inc ltd co corp jan feb mar apr jun jul aug sep "
    "sept oct nov dec mt ft vol ed eds rev gen col lt sgt capt")
_ABBREVIATIONS = frozenset(_ABBREVIATION_TEXT.split())
# ... and after these only when a number follows ("see Fig. 3", "No. 5").
_NUMBERED = frozenset(("no", "nos", "fig", "figs", "p", "pp", "eq", "eqs", "ch", "sec", "art", "nr", "ex"))

_BOUNDARY = re.compile(r"([.!?…]+)([\"'\u201d\u2019)\]]*)\s+(?=\S)")
_BULLET = re.compile(r"^\s*(?:[-*+•▪‣◦●]|\d{1,3}[.)]|[a-zA-Z][)])\s+(?=\S)")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+")
_RULE = re.compile(r"^\s*(?:[-=*_~]\s*){3,}$")
_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)?")
_CODE_START = re.compile(
    r"^(?:\$ |>>> |#!|#include\b|(?:def|class|function|const|let|var|import|public|private|return|SELECT|INSERT)\s"
    r"|[A-Za-z_][\w.]*\s*(?:=|\+=|-=|:=)\s*\S.*[^.]$)")  # an assignment; a formula in prose ends in "."
_CODE_TOKENS = ("==", "!=", "=>", "->", "&&", "||", "();", "{}", "</", "/>", "::")


def tokens(text: str) -> list[str]:
    """Lower-case words; a possessive "'s" is dropped and other apostrophes are removed ("don't" -> "dont")."""
    words = []
    for word in _WORD.findall(text.lower()):
        word = word.replace("\u2019", "'")
        if word.endswith("'s"):
            word = word[:-2]
        words.append(word.replace("'", ""))
    return words


def _has_vowel(word: str) -> bool:
    return any(c in "aeiouy" for c in word)


def stem(word: str) -> str:
    """A light, predictable English stemmer: plurals, then one of -ing/-ed/-ly, then a trailing e."""
    word = word.lower()
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith(("sses", "ches", "shes", "xes", "zzes")):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    stripped = False
    if word.endswith("ing") and len(word) >= 6 and _has_vowel(word[:-3]):
        word, stripped = word[:-3], True
    elif word.endswith("ied") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("ed") and not word.endswith("eed") and len(word) >= 5 and _has_vowel(word[:-2]):
        word, stripped = word[:-2], True
    elif word.endswith("ly") and len(word) >= 6 and not word.endswith(("ply", "ily")):
        word = word[:-2]
    # "running" -> "run", "stopped" -> "stop", but "called" and "passed" keep their double letter.
    if stripped and len(word) >= 4 and word[-1] == word[-2] and word[-1] not in "aeioulsz":
        word = word[:-1]
    if len(word) >= 4 and word.endswith("e"):
        word = word[:-1]
    return word


def content_stems(text: str) -> list[str]:
    """Stems of the words of ``text`` that are not stopwords, in order."""
    return [stem(t) for t in tokens(text) if t not in STOPWORDS]


def is_code_line(line: str) -> bool:
    """A heuristic: shell prompts, statements, assignments and lines dense with operators are code, not prose."""
    s = line.strip()
    if not s:
        return False
    if s.startswith("```") or _CODE_START.match(s):
        return True
    if s.endswith((";", "{", "}")) or any(t in s for t in _CODE_TOKENS):
        return True
    symbols = sum(1 for c in s if c in "{}[]()<>=;$\\|`_/*")
    return len(s) >= 8 and symbols / len(s) > 0.12


def _ends_sentence(text: str, match: re.Match[str]) -> bool:
    punct = match.group(1)
    if "!" in punct or "?" in punct:
        return True
    nxt = text[match.end()]
    if nxt.islower():
        return False
    before = text[: match.start()]
    word = before.rsplit(None, 1)[-1] if before.strip() else ""
    word = word.lstrip("(\"'\u201c\u2018[").lower()
    if not word or punct.startswith("..") or punct == "…":
        return bool(word)
    if word in _ABBREVIATIONS:
        return False
    if word in _NUMBERED and nxt.isdigit():
        return False
    # Initialisms ("U.S.", "e.g.") and single initials ("J. Smith").
    return not (re.fullmatch(r"(?:[a-z]\.)+[a-z]", word) or (len(word) == 1 and word.isalpha()))


def _split_prose(text: str) -> list[str]:
    text = " ".join(text.split())
    out, start = [], 0
    for match in _BOUNDARY.finditer(text):
        if _ends_sentence(text, match):
            end = match.end(2)
            out.append(text[start:end].strip())
            start = match.end()
    out.append(text[start:].strip())
    return [s for s in out if s]


def _is_title_line(line: str) -> bool:
    """A short, unpunctuated, mostly capitalised line (a heading of extracted text, not a wrapped sentence)."""
    words = line.split()
    if not 1 <= len(words) <= 8 or line.rstrip()[-1] in ".,;:!?":
        return False
    capitalised = sum(1 for w in words if w[0].isupper() or w[0].isdigit())
    return capitalised >= max(1, (len(words) + 1) // 2) and words[0][0].isupper()


def split_sentences(text: str) -> list[str]:
    """Sentences of prose; list items, headings and code lines are sentences of their own (markers stripped)."""
    out: list[str] = []
    paragraph: list[str] = []
    bullet: list[str] = []
    in_fence = False

    def flush() -> None:
        for block in (paragraph, bullet):
            if block:
                out.extend(_split_prose(" ".join(block)))
                block.clear()

    lines = text.splitlines()
    for i, raw in enumerate(lines):
        line = raw.strip()
        if line.startswith("```"):
            flush()
            in_fence = not in_fence
            continue
        if in_fence or is_code_line(raw) or (line.startswith("|") and line.endswith("|")):
            flush()
            if line:
                out.append(line)
            continue
        if not line or _RULE.match(line):
            flush()
            continue
        if _HEADING.match(raw):
            flush()
            out.append(_HEADING.sub("", raw).strip().rstrip("#").strip())
            continue
        if _BULLET.match(raw):
            flush()
            bullet.append(_BULLET.sub("", raw))
            continue
        if bullet and raw[:1].isspace():  # an indented continuation of a list item
            bullet.append(line)
            continue
        if bullet:
            flush()
        nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if not paragraph and _is_title_line(line) and (not nxt or nxt[0].isupper()):
            out.append(line)
            continue
        paragraph.append(line)
    flush()
    return [s for s in out if s]
