"""The configured provider: any OpenAI-compatible endpoint (OpenAI, Azure-style gateways, vLLM, Ollama, ...).

:class:`OpenAICompatibleGenerator` writes answers, quizzes and digests through ``chat.completions``;
:class:`OpenAICompatibleEmbedder` embeds through ``embeddings``. Both talk through the ``openai`` SDK, imported on
first use (the registry imports this module at cold start), with the settings' timeout and no SDK retries: a slow or
failing endpoint costs one timeout, then :class:`~smartcourse_ai.providers.fallback.FallbackGenerator` answers.

The API key is read lazily from Secrets Manager (``AI_OPENAI_SECRET_ARN``: the key itself, or JSON
``{"api_key": "..."}``), re-read when the secrets cache expires so that rotations take effect. It is never logged
and never put into an exception's message.

Guardrails: prompts keep course content as delimited data (:mod:`smartcourse_ai.providers.prompts`); answers
keep only citations of passages actually given; quizzes and digests are parsed and validated (pydantic, then
:func:`smartcourse_ai.quiz_checks.unsupported_reason` per question), re-asked once with the problems found, and
rejected (:class:`ProviderOutputError`) if still invalid.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from smartcourse_ai.providers import prompts
from smartcourse_ai.providers.base import (
    CourseDigest,
    Difficulty,
    GeneratedAnswer,
    GeneratedQuiz,
    Mode,
    Passage,
    QuizQuestion,
    StreamItem,
    TokenUsage,
)

if TYPE_CHECKING:
    from smartcourse.settings import Settings

PROVIDER = "openai-compatible"
DEFAULT_EMBED_BATCH = 128

_CITATION = re.compile(r"\[\s*(\d{1,4}(?:\s*[,;]\s*\d{1,4})*)\s*\]")
_A = "['\u2019`]?"  # an apostrophe, or none
_DONT_KNOW = re.compile(rf"^\W*i\s+(?:do\s+not|don{_A}t|cannot|can{_A}t)\s+(?:know|answer)", re.IGNORECASE)


class ProviderOutputError(ValueError):
    """The model's reply is unusable (malformed, invalid, unsupported, truncated). The message lists problems only:
    never the prompt, the course content or the key."""


class ProviderConfigError(RuntimeError):
    """The provider is not configured (no API key source)."""


# --------------------------------------------------------------------------------------------------- the API key


def secret_api_key_provider(secret_arn: str) -> Callable[[], str]:
    """A callable returning the API key held by ``secret_arn`` (the key, or JSON ``{"api_key": ...}``)."""

    def provide() -> str:
        from smartcourse.secrets import get_secret_string

        return parse_api_key_secret(get_secret_string(secret_arn))

    return provide


def parse_api_key_secret(value: str) -> str:
    """The key in a secret string: the string itself, or the ``api_key`` of a JSON object."""
    text = value.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            raise ProviderConfigError("the API key secret is not valid JSON") from None
        key = data.get("api_key") if isinstance(data, dict) else None
        if not isinstance(key, str) or not key.strip():
            raise ProviderConfigError('the API key secret has no "api_key" string')
        return key.strip()
    if not text:
        raise ProviderConfigError("the API key secret is empty")
    return text


def _key_source(api_key: str | None, api_key_provider: Callable[[], str] | None,
                secret_arn: str | None) -> Callable[[], str]:
    if api_key is not None:
        return lambda: api_key
    if api_key_provider is not None:
        return api_key_provider
    if secret_arn:
        return secret_api_key_provider(secret_arn)

    def missing() -> str:
        raise ProviderConfigError("no API key configured (set AI_OPENAI_SECRET_ARN)")

    return missing


def _settings() -> Settings:
    from smartcourse.settings import get_settings

    return get_settings()


def _client_for(settings: Settings, base_url: str | None, api_key: str | None,
                api_key_provider: Callable[[], str] | None, secret_arn: str | None,
                timeout_seconds: float | None) -> _LazyClient:
    """The lazy client of the arguments given; what is not given comes from the settings (``AI_OPENAI_*``)."""
    if api_key is None and api_key_provider is None and not secret_arn:
        secret_arn = settings.ai_openai_secret_arn
    return _LazyClient(base_url or settings.ai_openai_base_url, _key_source(api_key, api_key_provider, secret_arn),
                       settings.ai_openai_timeout_seconds if timeout_seconds is None else timeout_seconds)


class _LazyClient:
    """One ``openai.OpenAI`` client, built on first use and rebuilt when the key changes (rotation)."""

    def __init__(self, base_url: str | None, key_source: Callable[[], str], timeout_seconds: float) -> None:
        self._base_url = base_url
        self._key_source = key_source
        self._timeout = timeout_seconds
        self._lock = threading.Lock()
        self._client: Any = None
        self._key: str | None = None

    def get(self) -> Any:
        key = self._key_source()
        with self._lock:
            if self._client is None or key != self._key:
                from openai import OpenAI

                self._client = OpenAI(base_url=self._base_url, api_key=key, timeout=self._timeout, max_retries=0)
                self._key = key
            return self._client


# ------------------------------------------------------------------------------------------------ reply parsing


def _usage(response: Any) -> TokenUsage:
    usage = getattr(response, "usage", None)
    if usage is None:
        return TokenUsage()
    return TokenUsage(prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
                      completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0))


def _add(a: TokenUsage, b: TokenUsage) -> TokenUsage:
    return TokenUsage(prompt_tokens=a.prompt_tokens + b.prompt_tokens,
                      completion_tokens=a.completion_tokens + b.completion_tokens)


def _reply_text(response: Any) -> str:
    """The first choice's message content; :class:`ProviderOutputError` when the response has none."""
    try:
        choices = response.choices
    except AttributeError:
        raise ProviderOutputError("the response has no choices") from None
    if not isinstance(choices, list) or not choices:
        raise ProviderOutputError("the response has no choices")
    message = getattr(choices[0], "message", None)
    content = getattr(message, "content", None)
    if not isinstance(content, str) or not content.strip():
        refusal = getattr(message, "refusal", None)
        raise ProviderOutputError("the model refused" if refusal else "the response has no message content")
    return content


def cited_numbers(text: str) -> list[int]:
    """The passage numbers cited as ``[n]`` / ``[n, m]`` in ``text``, in order of first appearance."""
    seen: dict[int, None] = {}
    for match in _CITATION.finditer(text):
        for part in re.split(r"[,;]", match.group(1)):
            seen.setdefault(int(part), None)
    return list(seen)


def says_dont_know(text: str) -> bool:
    return bool(_DONT_KNOW.match(text.strip()))


def build_answer(text: str, passages: Sequence[Passage], *, model: str, usage: TokenUsage) -> GeneratedAnswer:
    """The answer of ``text``: ``[n]`` mapped to the passages' chunk ids (unknown numbers dropped), best first."""
    text = text.strip()
    numbers = [n for n in cited_numbers(text) if 1 <= n <= len(passages)]
    if not text or says_dont_know(text) or not numbers:
        return GeneratedAnswer(text=text or prompts.DONT_KNOW_REPLY, cited_chunk_ids=(), confidence=0.0,
                               provider=PROVIDER, model=model, usage=usage, knows=False)
    cited = sorted((passages[n - 1] for n in numbers), key=lambda p: -p.score)
    ids = tuple(dict.fromkeys(p.chunk_id for p in cited))
    confidence = max(0.0, min(1.0, max(p.score for p in cited)))
    return GeneratedAnswer(text=text, cited_chunk_ids=ids, confidence=confidence, provider=PROVIDER, model=model,
                           usage=usage, knows=True)


def _json_object(text: str) -> Any:
    """The JSON of a reply (tolerating a Markdown code fence around it)."""
    body = text.strip()
    fence = re.match(r"^```(?:json)?\s*(.*?)\s*```$", body, re.DOTALL | re.IGNORECASE)
    if fence:
        body = fence.group(1)
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise ProviderOutputError(f"the reply is not valid JSON ({exc.msg} at char {exc.pos})") from None


def _pydantic_problems(error: Any) -> list[str]:
    problems = []
    for item in error.errors(include_url=False, include_input=False)[:20]:
        where = ".".join(str(part) for part in item.get("loc", ())) or "(root)"
        problems.append(f"{where}: {item.get('msg', 'invalid')}")
    return problems


def parse_quiz(text: str, passages: Sequence[Passage], num_questions: int) -> tuple[list[QuizQuestion], list[str]]:
    """The questions of a quiz reply and the problems found (empty: valid). Source ids are mapped to chunk ids."""
    from pydantic import BaseModel, ConfigDict, Field, ValidationError

    from smartcourse_ai.quiz_checks import unsupported_reason

    class _Item(BaseModel):
        model_config = ConfigDict(extra="ignore")
        question: str = Field(min_length=1)
        options: list[str] = Field(min_length=4, max_length=4)
        answer_index: int = Field(ge=0, le=3)
        explanation: str = ""
        source_ids: list[int] = Field(min_length=1)

    class _Quiz(BaseModel):
        model_config = ConfigDict(extra="ignore")
        questions: list[_Item] = Field(min_length=1)

    try:
        data = _json_object(text)
    except ProviderOutputError as exc:
        return [], [str(exc)]
    try:
        quiz = _Quiz.model_validate(data)
    except ValidationError as exc:
        return [], _pydantic_problems(exc)

    by_id = {p.chunk_id: p for p in passages}
    questions: list[QuizQuestion] = []
    problems: list[str] = []
    seen_questions: set[str] = set()
    for number, item in enumerate(quiz.questions[:max(1, num_questions)], start=1):
        options = tuple(o.strip() for o in item.options)
        if any(not o for o in options) or len({o.casefold() for o in options}) != 4:
            problems.append(f"question {number}: the four options must be non-empty and distinct")
            continue
        key = item.question.strip().casefold()
        if key in seen_questions:
            problems.append(f"question {number}: repeats an earlier question")
            continue
        seen_questions.add(key)
        known = [n for n in item.source_ids if 1 <= n <= len(passages)]  # unknown ids are dropped
        if not known:
            problems.append(f"question {number}: source_ids {item.source_ids[:5]} name no passage "
                            f"(ids are 1..{len(passages)})")
            continue
        sources = tuple(dict.fromkeys(passages[n - 1].chunk_id for n in known))
        question = QuizQuestion(question=item.question.strip(), options=(options[0], options[1], options[2],
                                options[3]), answer_index=item.answer_index,
                                explanation=item.explanation.strip(), source_chunk_ids=sources)
        reason = unsupported_reason(question, by_id)
        if reason:
            problems.append(f"question {number}: {reason}")
            continue
        questions.append(question)
    return questions, problems


def parse_digest(text: str, max_topics: int) -> tuple[tuple[str, tuple[str, ...]] | None, list[str]]:
    """(summary, key topics) of a digest reply, or None and the problems found."""
    from pydantic import BaseModel, ConfigDict, Field, ValidationError

    class _Digest(BaseModel):
        model_config = ConfigDict(extra="ignore")
        summary: str = Field(min_length=1)
        key_topics: list[str] = Field(default_factory=list)

    try:
        data = _json_object(text)
    except ProviderOutputError as exc:
        return None, [str(exc)]
    try:
        digest = _Digest.model_validate(data)
    except ValidationError as exc:
        return None, _pydantic_problems(exc)
    summary = digest.summary.strip()
    if not summary:
        return None, ["summary: must not be empty"]
    topics = tuple(dict.fromkeys(t.strip() for t in digest.key_topics if t.strip()))[:max(0, max_topics)]
    return (summary, topics), []


# --------------------------------------------------------------------------------------------------- generator


class OpenAICompatibleGenerator:
    """:class:`~smartcourse_ai.providers.base.Generator` over an OpenAI-compatible ``chat.completions`` endpoint.

    Give the key as ``api_key``, an ``api_key_provider`` callable, or a Secrets Manager ``secret_arn`` (read on first
    use). Errors of the endpoint propagate (wrap in a ``FallbackGenerator``); unusable replies raise
    :class:`ProviderOutputError`.
    """

    def __init__(self, *, model: str | None = None, base_url: str | None = None, api_key: str | None = None,
                 api_key_provider: Callable[[], str] | None = None, secret_arn: str | None = None,
                 timeout_seconds: float | None = None, temperature: float = 0.2, max_answer_tokens: int = 800,
                 max_quiz_tokens: int = 3000, max_digest_tokens: int = 800) -> None:
        settings = _settings()
        self._model = model or settings.ai_openai_chat_model
        self._client = _client_for(settings, base_url, api_key, api_key_provider, secret_arn, timeout_seconds)
        self._temperature = temperature
        self._max_answer_tokens = max_answer_tokens
        self._max_quiz_tokens = max_quiz_tokens
        self._max_digest_tokens = max_digest_tokens

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> OpenAICompatibleGenerator:
        """``AI_OPENAI_CHAT_MODEL`` at ``AI_OPENAI_BASE_URL``, key at ``AI_OPENAI_SECRET_ARN``."""
        settings = settings or _settings()
        return cls(model=settings.ai_openai_chat_model, base_url=settings.ai_openai_base_url,
                   secret_arn=settings.ai_openai_secret_arn, timeout_seconds=settings.ai_openai_timeout_seconds)

    @property
    def provider(self) -> str:
        return PROVIDER

    @property
    def model(self) -> str:
        return self._model

    def _complete(self, messages: list[dict[str, str]], *, max_tokens: int,
                  response_format: dict[str, Any] | None = None) -> tuple[str, TokenUsage]:
        kwargs: dict[str, Any] = {"model": self._model, "messages": messages, "temperature": self._temperature,
                                  "max_tokens": max_tokens}
        if response_format is not None:
            kwargs["response_format"] = response_format
        response = self._client.get().chat.completions.create(**kwargs)
        return _reply_text(response), _usage(response)

    def answer(self, question: str, passages: Sequence[Passage], *, mode: Mode) -> GeneratedAnswer:
        text, usage = self._complete(prompts.answer_messages(question, passages, mode),
                                     max_tokens=self._max_answer_tokens)
        return build_answer(text, passages, model=self._model, usage=usage)

    def stream_answer(self, question: str, passages: Sequence[Passage], *, mode: Mode) -> Iterator[StreamItem]:
        stream = self._client.get().chat.completions.create(
            model=self._model, messages=prompts.answer_messages(question, passages, mode),
            temperature=self._temperature, max_tokens=self._max_answer_tokens, stream=True,
            stream_options={"include_usage": True})
        parts: list[str] = []
        usage = TokenUsage()
        finished = False
        try:
            for chunk in stream:
                chunk_usage = getattr(chunk, "usage", None)
                if chunk_usage is not None:
                    usage = _usage(chunk)
                for choice in getattr(chunk, "choices", None) or ():
                    delta = getattr(getattr(choice, "delta", None), "content", None)
                    if delta:
                        parts.append(delta)
                        yield delta
                    if getattr(choice, "finish_reason", None):
                        finished = True
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        if not finished:
            raise ProviderOutputError("the stream ended before the model finished")
        yield build_answer("".join(parts), passages, model=self._model, usage=usage)

    def quiz(self, course_title: str, passages: Sequence[Passage], key_terms: Sequence[str], *,
             num_questions: int, difficulty: Difficulty) -> GeneratedQuiz:
        messages = prompts.quiz_messages(course_title, passages, num_questions, difficulty, key_terms=key_terms)
        usage = TokenUsage()
        problems: list[str] = []
        for attempt in range(2):
            try:
                text, used = self._complete(messages, max_tokens=self._max_quiz_tokens,
                                            response_format=prompts.QUIZ_RESPONSE_FORMAT)
            except ProviderOutputError as exc:
                if attempt:
                    raise
                text, used, problems = "", TokenUsage(), [str(exc)]
                questions: list[QuizQuestion] = []
            else:
                questions, problems = parse_quiz(text, passages, num_questions)
            usage = _add(usage, used)
            if not problems:
                return GeneratedQuiz(questions=tuple(questions), provider=PROVIDER, model=self._model, usage=usage)
            messages = prompts.retry_messages(messages, text, problems)
        raise ProviderOutputError("the quiz is still invalid after a re-ask: " + "; ".join(problems[:5]))

    def digest(self, course_title: str, passages: Sequence[Passage], *, max_sentences: int = 5,
               max_topics: int = 8) -> CourseDigest:
        messages = prompts.digest_messages(course_title, passages, max_sentences=max_sentences,
                                           max_topics=max_topics)
        usage = TokenUsage()
        problems: list[str] = []
        for attempt in range(2):
            try:
                text, used = self._complete(messages, max_tokens=self._max_digest_tokens,
                                            response_format=prompts.DIGEST_RESPONSE_FORMAT)
            except ProviderOutputError as exc:
                if attempt:
                    raise
                text, used, parsed, problems = "", TokenUsage(), None, [str(exc)]
            else:
                parsed, problems = parse_digest(text, max_topics)
            usage = _add(usage, used)
            if parsed is not None and not problems:
                summary, topics = parsed
                return CourseDigest(summary=summary, key_topics=topics, provider=PROVIDER, model=self._model,
                                    usage=usage)
            messages = prompts.retry_messages(messages, text, problems)
        raise ProviderOutputError("the digest is still invalid after a re-ask: " + "; ".join(problems[:5]))


# ---------------------------------------------------------------------------------------------------- embedder


class OpenAICompatibleEmbedder:
    """:class:`~smartcourse_ai.providers.base.Embedder` over an OpenAI-compatible ``embeddings`` endpoint.

    Rows are L2-normalised float32 of ``dimensions`` (requested with the ``dimensions`` parameter). Token counts
    come from ``count_tokens`` (a local tokenizer's; the endpoint's own is not available offline).
    """

    def __init__(self, *, model: str, count_tokens: Callable[[str], int], max_tokens: int, dimensions: int = 384,
                 base_url: str | None = None, api_key: str | None = None,
                 api_key_provider: Callable[[], str] | None = None, secret_arn: str | None = None,
                 timeout_seconds: float | None = None, batch_size: int = DEFAULT_EMBED_BATCH) -> None:
        settings = _settings()
        self._model = model
        self._count_tokens = count_tokens
        self._max_tokens = max_tokens
        self._dimensions = dimensions
        self._batch_size = max(1, batch_size)
        self._client = _client_for(settings, base_url, api_key, api_key_provider, secret_arn, timeout_seconds)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, *, count_tokens: Callable[[str], int],
                      max_tokens: int, dimensions: int = 384) -> OpenAICompatibleEmbedder:
        """``AI_OPENAI_EMBEDDING_MODEL`` at ``AI_OPENAI_BASE_URL``, key at ``AI_OPENAI_SECRET_ARN``."""
        settings = settings or _settings()
        if not settings.ai_openai_embedding_model:
            raise ProviderConfigError("AI_OPENAI_EMBEDDING_MODEL is not set")
        return cls(model=settings.ai_openai_embedding_model, count_tokens=count_tokens, max_tokens=max_tokens,
                   dimensions=dimensions, base_url=settings.ai_openai_base_url,
                   secret_arn=settings.ai_openai_secret_arn, timeout_seconds=settings.ai_openai_timeout_seconds)

    @property
    def model(self) -> str:
        return self._model

    @property
    def dimensions(self) -> int:
        return self._dimensions

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def count_tokens(self, text: str) -> int:
        return self._count_tokens(text)

    def embed(self, texts: Sequence[str]) -> Any:
        import numpy as np

        rows: list[Any] = []
        items = list(texts)
        for start in range(0, len(items), self._batch_size):
            batch = items[start:start + self._batch_size]
            response = self._client.get().embeddings.create(model=self._model, input=batch,
                                                            dimensions=self._dimensions)
            data = getattr(response, "data", None)
            if not isinstance(data, list) or len(data) != len(batch):
                raise ProviderOutputError("the embeddings response does not hold one vector per input")
            ordered = sorted(data, key=lambda item: int(getattr(item, "index", 0)))
            try:
                block = np.asarray([item.embedding for item in ordered], dtype=np.float32)
            except (AttributeError, TypeError, ValueError):
                raise ProviderOutputError("the embeddings response holds malformed vectors") from None
            if block.ndim != 2 or block.shape[1] != self._dimensions:
                raise ProviderOutputError(f"the endpoint returned vectors of shape {block.shape}, "
                                          f"not (n, {self._dimensions})")
            rows.append(block)
        if not rows:
            return np.zeros((0, self._dimensions), dtype=np.float32)
        matrix = np.concatenate(rows, axis=0)
        if not np.all(np.isfinite(matrix)):
            raise ProviderOutputError("the embeddings response holds non-finite values")
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return (matrix / np.maximum(norms, 1e-12)).astype(np.float32)
