"""The default generator: offline and deterministic, it writes with the course's own sentences.

Answers are the passages' best-matching sentences, each cited; digests are their most central sentences and key
phrases; quizzes are fill-in-the-blank questions over their key terms. Nothing is invented, so nothing needs
checking beyond what :mod:`smartcourse_ai.quiz_checks` verifies anyway.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from smartcourse_ai.providers.base import (
    DONT_KNOW,
    CourseDigest,
    Difficulty,
    GeneratedAnswer,
    GeneratedQuiz,
    Mode,
    Outcome,
    Passage,
    QuizQuestion,
    StreamItem,
)
from smartcourse_ai.quiz_checks import unsupported_reason
from smartcourse_ai.text.cloze import blank_out, pick_distractors
from smartcourse_ai.text.guards import looks_like_instruction
from smartcourse_ai.text.keyphrases import GENERIC_WORDS, find_phrase, key_phrases, phrase_key
from smartcourse_ai.text.ranking import rank_sentences
from smartcourse_ai.text.sentences import content_stems, is_code_line, split_sentences, tokens
from smartcourse_ai.text.similarity import lexical_scores

Scorer = Callable[[str, Sequence[str]], Sequence[float]]

SEMANTIC_WEIGHT = 0.6
LEXICAL_WEIGHT = 0.25
PASSAGE_WEIGHT = 0.15
MAX_ANSWER_SENTENCES = 3
ANSWER_FLOOR = 0.25  # a further sentence must score this much ...
RELATIVE_FLOOR = 0.55  # ... and this share of the best one
SHORT_SENTENCE_WORDS = 5  # shorter ones are mostly headings and list stubs: they answer little on their own
SHORT_SENTENCE_FACTOR = 0.6
DUPLICATE_OVERLAP = 0.7
SUMMARY_CHARS = 900
QUIZ_MIN_WORDS, QUIZ_MAX_WORDS = 8, 40
HEADING_SEPARATOR = " \u203a "  # as in Passage.heading_path
HARDNESS = {Difficulty.EASY: 0.0, Difficulty.MEDIUM: 0.5, Difficulty.HARD: 1.0}
EXTRACTED_TERMS = 40
_CONTEXT_START = re.compile(r"^(?:it|this|that|these|those|they|he|she|its|their|such|here)\b", re.IGNORECASE)


@dataclass(frozen=True)
class _Sentence:
    passage: int
    position: int
    text: str


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, float(value)))


def _answer_sentences(passages: Sequence[Passage]) -> list[_Sentence]:
    return [_Sentence(p, k, s) for p, passage in enumerate(passages)
            for k, s in enumerate(split_sentences(passage.content))
            if not looks_like_instruction(s) and tokens(s)]


def _overlap(a: str, b: str) -> float:
    sa, sb = set(content_stems(a)), set(content_stems(b))
    return len(sa & sb) / len(sa | sb) if sa and sb else 0.0


def _last_heading(passage: Passage) -> str:
    return passage.heading_path.split(HEADING_SEPARATOR)[-1].strip()


class ExtractiveGenerator:
    """Implements :class:`~smartcourse_ai.providers.base.Generator` without a language model."""

    provider = "extractive"
    model = "extractive-v1"

    def __init__(self, scorer: Scorer | None = None) -> None:
        # The service passes a scorer built on the embedding model; lexical matching is the offline default.
        self._scorer = scorer

    # -- answers ---------------------------------------------------------------------------------------------

    def _dont_know(self) -> GeneratedAnswer:
        return GeneratedAnswer(text=DONT_KNOW, cited_chunk_ids=(), confidence=0.0, provider=self.provider,
                               model=self.model, outcome=Outcome.NO_ANSWER, knows=False)

    def _compose(self, question: str, passages: Sequence[Passage], mode: Mode) -> tuple[list[str], GeneratedAnswer]:
        candidates = _answer_sentences(passages)
        if not candidates:
            return [DONT_KNOW], self._dont_know()
        texts = [c.text for c in candidates]
        lexical = lexical_scores(question, texts)
        semantic = lexical if self._scorer is None else [_clamp(s) for s in self._scorer(question, texts)]
        scores = []
        for c, sem, lex in zip(candidates, semantic, lexical, strict=True):
            score = (SEMANTIC_WEIGHT * sem + LEXICAL_WEIGHT * lex
                     + PASSAGE_WEIGHT * _clamp(passages[c.passage].score))
            if len(tokens(c.text)) < SHORT_SENTENCE_WORDS:
                score *= SHORT_SENTENCE_FACTOR
            scores.append(score)
        order = sorted(range(len(candidates)),
                       key=lambda i: (-scores[i], candidates[i].passage, candidates[i].position))
        best = scores[order[0]]
        chosen = [order[0]]
        for i in order[1:]:
            if len(chosen) == MAX_ANSWER_SENTENCES or scores[i] < max(ANSWER_FLOOR, RELATIVE_FLOOR * best):
                break
            if all(_overlap(texts[i], texts[j]) <= DUPLICATE_OVERLAP for j in chosen):
                chosen.append(i)
        # Read in the material's order: by passage (as retrieved), then as written.
        chosen.sort(key=lambda i: (candidates[i].passage, candidates[i].position))
        numbers: dict[int, int] = {}
        pieces = []
        for i in chosen:
            number = numbers.setdefault(candidates[i].passage, len(numbers) + 1)
            pieces.append(f"{texts[i]} [{number}]")
        deltas = [piece + " " for piece in pieces[:-1]] + [pieces[-1]]
        cited = list(numbers)
        if mode is Mode.INSTRUCTOR:
            sources = "; ".join(f"[{n}] {passages[p].heading_path}" for p, n in numbers.items())
            deltas.append(f"\n\nSources: {sources}")
        confidence = 0.7 * _clamp(best) + 0.3 * max(_clamp(p.score) for p in passages)
        answer = GeneratedAnswer(text="".join(deltas), cited_chunk_ids=tuple(passages[p].chunk_id for p in cited),
                                 confidence=round(_clamp(confidence), 4), provider=self.provider, model=self.model)
        return deltas, answer

    def answer(self, question: str, passages: Sequence[Passage], *, mode: Mode) -> GeneratedAnswer:
        if not passages:
            return self._dont_know()
        return self._compose(question, passages, mode)[1]

    def stream_answer(self, question: str, passages: Sequence[Passage], *, mode: Mode) -> Iterator[StreamItem]:
        if not passages:
            yield DONT_KNOW
            yield self._dont_know()
            return
        deltas, answer = self._compose(question, passages, mode)
        yield from deltas
        yield answer

    # -- digests ---------------------------------------------------------------------------------------------

    def digest(self, course_title: str, passages: Sequence[Passage], *, max_sentences: int = 5,
               max_topics: int = 8) -> CourseDigest:
        sentences = [s for p in passages for s in split_sentences(p.content)
                     if not looks_like_instruction(s) and not is_code_line(s)]
        chosen = rank_sentences(sentences, top_k=max_sentences, max_chars=SUMMARY_CHARS)
        documents = ["\n".join(s for s in split_sentences(p.content) if not looks_like_instruction(s))
                     for p in passages]
        topics = key_phrases(documents, top_k=max_topics, headings=[_last_heading(p) for p in passages])
        return CourseDigest(summary=" ".join(sentences[i] for i in chosen), key_topics=tuple(topics),
                            provider=self.provider, model=self.model)

    # -- quizzes ---------------------------------------------------------------------------------------------

    def quiz(self, course_title: str, passages: Sequence[Passage], key_terms: Sequence[str], *,
             num_questions: int, difficulty: Difficulty) -> GeneratedQuiz:
        questions = _ClozeWriter(passages, key_terms, difficulty).write(num_questions)
        return GeneratedQuiz(questions=tuple(questions), provider=self.provider, model=self.model)


class _ClozeWriter:
    """Fill-in-the-blank questions over the course's own sentences, spread across its passages."""

    def __init__(self, passages: Sequence[Passage], key_terms: Sequence[str], difficulty: Difficulty) -> None:
        self._passages = list(passages)
        self._hardness = HARDNESS[Difficulty(difficulty)]
        documents = ["\n".join(s for s in split_sentences(p.content) if not looks_like_instruction(s))
                     for p in self._passages]
        extracted = key_phrases(documents, top_k=EXTRACTED_TERMS, headings=[_last_heading(p) for p in passages])
        given = [t.strip() for t in key_terms if t.strip()]
        counts = {t: [len(find_phrase(d, t)) for d in documents] for t in dict.fromkeys(given + extracted)}
        # A single word met once is as likely a verb or an adjective as a topic ("reduces", "effective").
        solid = [t for t in extracted if len(phrase_key(t)) > 1 or sum(counts[t]) >= 2]
        # Blanks use the given terms when there are any; distractors come from either list (the less solid
        # extracted terms only when the others run short).
        self._answers = [t for t in dict.fromkeys(given or solid) if self._quizzable(t)]
        self._pool = [t for t in dict.fromkeys(given + solid) if self._quizzable(t)]
        self._reserve = [t for t in extracted if t not in self._pool and self._quizzable(t)]
        # How many passages mention each term: rarer terms make more specific questions.
        self._spread = {t: sum(1 for c in counts[t] if c) for t in self._answers}

    @staticmethod
    def _quizzable(term: str) -> bool:
        key = phrase_key(term)
        return bool(key) and not (len(key) == 1 and tokens(term)[0] in GENERIC_WORDS)

    def _candidates(self, passage: Passage) -> list[str]:
        sentences = [s for s in split_sentences(passage.content)
                     if QUIZ_MIN_WORDS <= len(tokens(s)) <= QUIZ_MAX_WORDS and not s.rstrip().endswith("?")
                     and not looks_like_instruction(s) and not is_code_line(s)]
        # Sentences that lean on the previous one ("It ...", "This ...") make vague questions: ask them last.
        return sorted(sentences, key=lambda s: bool(_CONTEXT_START.match(s)))

    def _terms_in(self, sentence: str) -> list[str]:
        found = [t for t in self._answers if find_phrase(sentence, t)]
        return sorted(found, key=lambda t: (self._spread.get(t, 0), -len(phrase_key(t)), self._answers.index(t)))

    def _question(self, passage: Passage, sentence: str, term: str) -> QuizQuestion | None:
        blanked = blank_out(sentence, term)
        if blanked is None:
            return None
        text, answer = blanked
        distractors = pick_distractors(answer, self._pool, sentence=sentence, count=3, hardness=self._hardness)
        if len(distractors) < 3:
            distractors = pick_distractors(answer, self._pool + self._reserve, sentence=sentence, count=3,
                                           hardness=self._hardness)
        if len(distractors) < 3:
            return None
        index = zlib.crc32(sentence.encode()) % 4
        options = [*distractors[:index], answer, *distractors[index:]]
        question = QuizQuestion(question=f"Fill in the blank: {text}", options=(options[0], options[1], options[2],
                                options[3]), answer_index=index,
                                explanation=f"{sentence} (from {passage.heading_path})",
                                source_chunk_ids=(passage.chunk_id,))
        if unsupported_reason(question, {passage.chunk_id: passage}) is not None:
            return None
        return question

    def write(self, count: int) -> list[QuizQuestion]:
        if count <= 0 or not self._passages:
            return []
        queues = [self._candidates(p) for p in self._passages]
        questions: list[QuizQuestion] = []
        asked: set[str] = set()  # sentences (overlapping chunks repeat them)
        used_terms: set[tuple[str, ...]] = set()
        # First each term once, then (if the material is short of terms) terms again in other sentences.
        for allow_repeats in (False, True):
            pointers = [0] * len(queues)
            progress = True
            while progress and len(questions) < count:
                progress = False
                for p, queue in enumerate(queues):  # round-robin: one sentence of each passage in turn
                    while pointers[p] < len(queue) and len(questions) < count:
                        sentence = queue[pointers[p]]
                        pointers[p] += 1
                        key = " ".join(sentence.casefold().split())
                        if key in asked:
                            continue
                        question = self._first_question(self._passages[p], sentence, used_terms, allow_repeats)
                        if question is not None:
                            asked.add(key)
                            questions.append(question)
                            progress = True
                            break
        return questions

    def _first_question(self, passage: Passage, sentence: str, used_terms: set[tuple[str, ...]],
                        allow_repeats: bool) -> QuizQuestion | None:
        for term in self._terms_in(sentence):
            if phrase_key(term) in used_terms and not allow_repeats:
                continue
            question = self._question(passage, sentence, term)
            if question is not None:
                used_terms.add(phrase_key(term))
                return question
        return None
