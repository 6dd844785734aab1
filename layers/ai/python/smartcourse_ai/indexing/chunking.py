"""Chunks that follow the document's structure and fit the embedder's window. Pure: no I/O.

Headings start new chunks; within a section, blocks are packed until the next would overflow
``max_tokens`` (counted with the embedder's own tokenizer, on the text that is embedded: the heading path
and the content). A block too long on its own is split at sentence ends, and a sentence too long at words.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from smartcourse_ai.indexing.documents import Section

PATH_SEPARATOR = " \u203a "  # "Module > Asset > Heading", with a typographic angle quote
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


@dataclass(frozen=True)
class Chunk:
    index: int
    heading_path: str
    content: str
    token_count: int

    @property
    def embedded_text(self) -> str:
        return embedded_text(self.heading_path, self.content)


def embedded_text(heading_path: str, content: str) -> str:
    """What the embedder reads: the heading path gives a short paragraph its context."""
    return f"{heading_path}\n{content}" if heading_path else content


def heading_path(*parts: str) -> str:
    """The parts joined; a part repeating the one before (an article whose first heading is its title) once."""
    kept: list[str] = []
    for part in (p.strip() for p in parts if p and p.strip()):
        if not kept or kept[-1].casefold() != part.casefold():
            kept.append(part)
    return PATH_SEPARATOR.join(kept)


def _pieces(block: str, fits: Callable[[str], bool]) -> list[str]:
    """``block`` cut into pieces that each fit: at sentence ends first, then at words."""
    if fits(block):
        return [block]
    out: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(block):
        candidate = f"{current} {sentence}".strip()
        if fits(candidate):
            current = candidate
            continue
        if current:
            out.append(current)
        if fits(sentence):
            current = sentence
            continue
        current = ""
        for word in sentence.split():
            candidate = f"{current} {word}".strip()
            if fits(candidate) or not current:
                current = candidate
            else:
                out.append(current)
                current = word
    if current:
        out.append(current)
    return out


def bounded_path(parts: Sequence[str], count_tokens: Callable[[str], int], budget: int) -> str:
    """The heading path, cut to ``budget`` tokens: a path as long as the window would leave no room for text."""
    path = heading_path(*parts)
    if count_tokens(path) <= budget:
        return path
    words = path.split()
    while len(words) > 1 and count_tokens(" ".join(words)) > budget:
        words = words[:max(1, len(words) * 3 // 4)]
    return " ".join(words)


def chunk_sections(sections: Sequence[Section], base_path: Sequence[str], count_tokens: Callable[[str], int],
                   max_tokens: int) -> list[Chunk]:
    """Chunks of an article: ``base_path`` (module and asset titles) prefixes every heading path, which takes at
    most half of the window."""
    chunks: list[Chunk] = []
    for section in sections:
        path = bounded_path([*base_path, *section.headings], count_tokens, max_tokens // 2)

        def tokens(content: str, path: str = path) -> int:
            return count_tokens(embedded_text(path, content))

        def fits(content: str, tokens: Callable[[str], int] = tokens) -> bool:
            return tokens(content) <= max_tokens

        current = ""
        for block in section.blocks:
            for piece in _pieces(block, fits):
                candidate = f"{current}\n{piece}" if current else piece
                if current and not fits(candidate):
                    chunks.append(Chunk(len(chunks), path, current, tokens(current)))
                    current = piece
                else:
                    current = candidate
        if current:
            chunks.append(Chunk(len(chunks), path, current, tokens(current)))
    return chunks


def media_chunks(base_path: Sequence[str], title: str, description: str | None,
                 count_tokens: Callable[[str], int], max_tokens: int) -> list[Chunk]:
    """A video, PDF, link or quiz is indexed by its title and description."""
    text = f"{title}. {description}".strip() if description else title
    return chunk_sections([Section(headings=(), blocks=[text])], base_path, count_tokens, max_tokens)
