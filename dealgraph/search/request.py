"""One search request, built once from the caller's arguments and the settings, and read by every mode:
the query text (checked here, once), the mode, the filters, the embedder and the relevance floor."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from dealgraph.config import Settings
from dealgraph.db.repositories.search import SearchFilters
from dealgraph.errors import BadUserInput
from dealgraph.search.embedders import EmbedderName

MAX_SEARCH_QUERY = 500


class SearchMode(enum.Enum):
    KEYWORD = "keyword"
    SEMANTIC = "semantic"
    HYBRID = "hybrid"


@dataclass(frozen=True, slots=True)
class Search:
    text: str
    mode: SearchMode | None  # None: HYBRID where the server stores vectors, KEYWORD where it cannot
    filters: SearchFilters
    model: EmbedderName
    relevance_floor: float  # least cosine similarity a semantic match needs to count

    @classmethod
    def of(cls, text: str, mode: SearchMode | None, filters: SearchFilters, settings: Settings) -> Search:
        needle = text.strip()
        if not needle or len(needle) > MAX_SEARCH_QUERY:
            raise BadUserInput(f"'query' must be 1 to {MAX_SEARCH_QUERY} characters.")
        return cls(needle, mode, filters, settings.embedding_model, settings.search_relevance_floor)
