"""MiniLM on ONNX Runtime with int8 weights: the encoder the assistant trains and serves with.

Why it exists: MiniLM was 40% of an assistant worker's CPU under load (NumPy float32,
``minilm.MiniLMEncoder``), and a message costs 4-12 ms of it. ONNX Runtime (already installed:
faster-whisper runs on it) with the matrix weights quantised to int8, one scale per output
column, runs the same network 2.5-4.5 times faster on one core.

- The graph is written here from the shipped safetensors, layer for layer as the NumPy forward
  (``build_graph``); ``quantised_model`` quantises its matrix products with ONNX Runtime's own
  dynamic quantiser (weights int8 per channel, activations uint8 per call) and keeps the file
  in a cache folder, so a process after the first loads it in a second.
- One text per call: dynamic quantisation scales the activations of a whole call together, so a
  text batched with others would get a vector that depends on its companions. Alone, a text
  always gets the same vector (the memo, the knowledge base and ``analyse_many`` rely on it),
  and no token is padding.
- The NumPy encoder stays the reference: the int8 vectors keep a cosine of at least 0.96 with
  it, 0.99 on average (tests/unit/test_assistant_minilm_onnx.py), and a model records which
  encoder it was trained with (``ENCODER_NAME``) so it is served with that one.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ssmas.assistant.nlu.minilm import (
    _EPS,
    _HEADS,
    _LAYERS,
    DIM,
    Array,
    _read_safetensors,
)

ENCODER_NAME = "minilm-l6-onnx-int8"
GRAPH_VERSION = 1  # bump when build_graph or the quantiser's options change
_OPSET = 18  # LayerNormalization (17), ReduceL2 with axes as an input (18)
PARALLEL_MIN = 64  # below this many texts one thread encodes (a hand-off costs more)


def available() -> bool:
    """Both ONNX Runtime and the ``onnx`` package (which writes the graph) are installed."""
    return all(importlib.util.find_spec(name) is not None for name in ("onnx", "onnxruntime"))


def cache_dir() -> Path:
    """Where quantised models are kept: the settings' ``model_cache`` (``SSMAS_MODEL_CACHE``),
    else the user's cache folder (``settings.user_cache_dir``)."""
    from ssmas.settings import get_settings, user_cache_dir

    return get_settings().model_cache or user_cache_dir()


def _writable(folder: Path) -> Path:
    """``folder``, created, or a per-user folder in the temporary directory when it cannot be
    written (a read-only home): the model is then rebuilt there, never refused."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        writable = os.access(folder, os.W_OK)
    except OSError:  # a file where a folder should be, a read-only parent
        writable = False
    if writable:
        return folder
    fallback = Path(tempfile.gettempdir()) / f"ssmas-models-{os.getuid()}"
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback


def build_graph(w: dict[str, Array]) -> Any:
    """The float32 ONNX graph of MiniLM-L6 (BERT encoder, mean pooling, L2 norm):
    inputs ``input_ids`` (int64, batch x length) and ``attention_mask`` (float32, same),
    output ``embedding`` (batch x 384)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes: list[Any] = []
    inits: list[Any] = []

    def const(name: str, value: Any) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(kind: str, inputs: list[str], **attrs: Any) -> str:
        out = f"{kind.lower()}_{len(nodes)}"
        nodes.append(helper.make_node(kind, inputs, [out], name=out, **attrs))
        return out

    def scalar(name: str, value: float) -> str:
        return const(name, np.array(value, np.float32))

    def norm(x: str, prefix: str) -> str:
        return op(
            "LayerNormalization",
            [
                x,
                const(f"{prefix}.weight", w[f"{prefix}.weight"]),
                const(f"{prefix}.bias", w[f"{prefix}.bias"]),
            ],
            axis=-1,
            epsilon=_EPS,
        )

    def linear(x: str, prefix: str) -> str:
        weight = const(f"{prefix}.weight", np.ascontiguousarray(w[f"{prefix}.weight"].T))
        return op("Add", [op("MatMul", [x, weight]), const(f"{prefix}.bias", w[f"{prefix}.bias"])])

    # embeddings: word + position (0..length-1) + token type 0
    words = op(
        "Gather", [const("word_embeddings", w["embeddings.word_embeddings.weight"]), "input_ids"]
    )
    length = op("Gather", [op("Shape", ["input_ids"]), const("axis_one", np.array(1, np.int64))])
    positions = op(
        "Range",
        [const("zero", np.array(0, np.int64)), length, const("step", np.array(1, np.int64))],
    )
    placed = op(
        "Gather",
        [const("position_embeddings", w["embeddings.position_embeddings.weight"]), positions],
    )
    token_type = const("token_type_0", w["embeddings.token_type_embeddings.weight"][0])
    x = norm(op("Add", [op("Add", [words, placed]), token_type]), "embeddings.LayerNorm")

    masked = op("Sub", [scalar("one", 1.0), "attention_mask"])
    bias = op("Mul", [masked, scalar("minus_big", -1e9)])
    bias = op("Unsqueeze", [bias, const("axes_1_2", np.array([1, 2], np.int64))])
    head = DIM // _HEADS
    split_heads = const("split_heads", np.array([0, 0, _HEADS, head], np.int64))
    join_heads = const("join_heads", np.array([0, 0, DIM], np.int64))
    scale = scalar("scale", 1 / np.sqrt(head))
    for layer in range(_LAYERS):
        p = f"encoder.layer.{layer}"

        def heads(t: str, perm: list[int]) -> str:
            return op("Transpose", [op("Reshape", [t, split_heads])], perm=perm)

        q = heads(linear(x, f"{p}.attention.self.query"), [0, 2, 1, 3])
        k = heads(linear(x, f"{p}.attention.self.key"), [0, 2, 3, 1])
        v = heads(linear(x, f"{p}.attention.self.value"), [0, 2, 1, 3])
        scores = op(
            "Softmax", [op("Add", [op("Mul", [op("MatMul", [q, k]), scale]), bias])], axis=-1
        )
        context = op("Transpose", [op("MatMul", [scores, v])], perm=[0, 2, 1, 3])
        context = op("Reshape", [context, join_heads])
        attended = op("Add", [linear(context, f"{p}.attention.output.dense"), x])
        x = norm(attended, f"{p}.attention.output.LayerNorm")
        hidden = linear(x, f"{p}.intermediate.dense")
        erf = op("Erf", [op("Mul", [hidden, scalar(f"inv_sqrt2_{layer}", 1 / np.sqrt(2.0))])])
        gelu = op(
            "Mul",
            [
                op("Mul", [hidden, scalar(f"half_{layer}", 0.5)]),
                op("Add", [erf, scalar(f"one_{layer}", 1.0)]),
            ],
        )
        x = norm(op("Add", [linear(gelu, f"{p}.output.dense"), x]), f"{p}.output.LayerNorm")

    weights = op("Unsqueeze", ["attention_mask", const("axis_2", np.array([2], np.int64))])
    axis_1 = const("axes_1", np.array([1], np.int64))
    summed = op("ReduceSum", [op("Mul", [x, weights]), axis_1], keepdims=0)
    count = op(
        "Max", [op("ReduceSum", ["attention_mask", axis_1], keepdims=1), scalar("one_token", 1.0)]
    )
    pooled = op("Div", [summed, count])
    length2 = op("Max", [op("ReduceL2", [pooled, axis_1], keepdims=1), scalar("eps", 1e-12)])
    nodes.append(helper.make_node("Div", [pooled, length2], ["embedding"]))

    graph = helper.make_graph(
        nodes,
        "minilm_l6",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "length"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.FLOAT, ["batch", "length"]),
        ],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", DIM])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _fingerprint(model_dir: Path) -> str:
    import onnxruntime

    weights = model_dir / "model.safetensors"
    stat = weights.stat()
    key = f"{GRAPH_VERSION}|{onnxruntime.__version__}|{stat.st_size}|{int(stat.st_mtime)}"
    return hashlib.blake2b(key.encode(), digest_size=8).hexdigest()


def quantised_model(model_dir: Path, folder: Path | None = None) -> Path:
    """The int8 model file for the weights in ``model_dir``, built once and kept in
    ``folder`` (``cache_dir()``); written to a temporary name and renamed, so processes
    starting together never read half a file."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    wanted = folder or cache_dir()
    name = f"{ENCODER_NAME}-{_fingerprint(model_dir)}.onnx"
    if (wanted / name).is_file():
        return wanted / name
    folder = _writable(wanted)
    path = folder / name
    if path.is_file():
        return path
    graph = build_graph(_read_safetensors(model_dir / "model.safetensors"))
    fd, tmp = tempfile.mkstemp(suffix=".onnx", dir=folder)
    os.close(fd)
    quiet = logging.getLogger()  # the quantiser advises pre-processing through the root logger
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        quantize_dynamic(
            graph,
            tmp,
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
            extra_options={"MatMulConstBOnly": True},
        )
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        quiet.setLevel(level)
        Path(tmp).unlink(missing_ok=True)
    return path


class OnnxMiniLM:
    """``encode(texts) -> (n, 384)`` unit vectors, one ONNX Runtime call a text (see above).

    ``workers``: threads for long lists (training, indexing); ONNX Runtime releases the GIL
    while it computes. A serving process gives 1, as it shares the machine with others."""

    name = ENCODER_NAME

    def __init__(
        self,
        model_dir: Path,
        max_len: int = 128,
        workers: int | None = None,
        folder: Path | None = None,
    ) -> None:
        import onnxruntime as ort

        from ssmas.assistant.nlu.wordpiece import WordPiece

        self.tokenizer = WordPiece.from_file(model_dir / "vocab.txt")
        self.max_len = max_len
        self.workers = max(1, workers if workers is not None else (os.cpu_count() or 1))
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(
            str(quantised_model(model_dir, folder)), options, providers=["CPUExecutionProvider"]
        )

    def _one(self, text: str) -> Array:
        ids = np.asarray([self.tokenizer.encode(text, self.max_len)], dtype=np.int64)
        mask = np.ones(ids.shape, dtype=np.float32)
        out: Array = self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0][0]
        return out

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> Array:
        """``batch_size`` is accepted for the NumPy encoder's signature; texts run one by one."""
        del batch_size
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        if self.workers > 1 and len(texts) >= PARALLEL_MIN:
            with ThreadPoolExecutor(self.workers) as pool:
                for i, vector in enumerate(pool.map(self._one, texts)):
                    out[i] = vector
            return out
        for i, text in enumerate(texts):
            out[i] = self._one(text)
        return out
