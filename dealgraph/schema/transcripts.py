"""Transcripts of sales calls, their utterances, and full-text search hits."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay
from strawberry.dataloader import DataLoader

from dealgraph.db import models
from dealgraph.db.repositories.search import SearchFilters
from dealgraph.schema.common import LoadedNode, UserError
from dealgraph.schema.connections import Connection, FetchedPages, LoadedList, Pages
from dealgraph.schema.context import Context
from dealgraph.schema.enums import SearchMode, TranscriptFormat
from dealgraph.schema.rows import FromRow, column
from dealgraph.search import modes as search_service
from dealgraph.search.hits import SearchRow
from dealgraph.search.request import Search

if TYPE_CHECKING:
    from dealgraph.schema.analyses import Analysis
    from dealgraph.schema.corrections import ResultCorrection
    from dealgraph.schema.deals import Deal
    from dealgraph.schema.people import CallMetrics, Speaker

DealType = Annotated["Deal", strawberry.lazy("dealgraph.schema.deals")]
AnalysisType = Annotated["Analysis", strawberry.lazy("dealgraph.schema.analyses")]
ResultCorrectionType = Annotated["ResultCorrection", strawberry.lazy("dealgraph.schema.corrections")]
SpeakerType = Annotated["Speaker", strawberry.lazy("dealgraph.schema.people")]
CallMetricsType = Annotated["CallMetrics", strawberry.lazy("dealgraph.schema.people")]
MAX_UTTERANCES_PAGE = 1000


@strawberry.enum(description="Whether a transcript can be found by semantic search yet.")
class SearchStatus(enum.Enum):
    PENDING = "PENDING"
    READY = "READY"
    OUTDATED = "OUTDATED"
    FAILED = "FAILED"
    UNAVAILABLE = "UNAVAILABLE"


@strawberry.enum(description="Which ranking found a search hit.")
class SearchSignal(enum.Enum):
    KEYWORD = "keyword"
    SEMANTIC = "semantic"


@strawberry.type
class Utterance(FromRow):
    index: int = strawberry.field(description="Position in the transcript, from 0.", metadata=column("position"))
    speaker: str
    start: float | None = strawberry.field(
        description="Seconds from the start of the call.", metadata=column("start_seconds")
    )
    end: float | None = strawberry.field(metadata=column("end_seconds"))
    text: str
    row: strawberry.Private[models.TranscriptUtterance]


@strawberry.type
class Transcript(LoadedNode, relay.Node):
    id: relay.NodeID[str]
    title: str
    occurred_at: datetime
    source_format: TranscriptFormat
    language: str
    participants: list[str]
    content_hash: str = strawberry.field(description="SHA-256 of the normalized original text.")
    utterance_count: int
    created_at: datetime
    row: strawberry.Private[models.Transcript]

    @classmethod
    def node_loader(cls, info: strawberry.Info[Context, None]) -> DataLoader[uuid.UUID, Any]:
        return info.context.loaders.transcript

    @strawberry.field
    async def deal(self, info: strawberry.Info[Context, None]) -> DealType:
        from dealgraph.schema.deals import Deal

        return Deal.from_row(await info.context.loaders.deal.load(self.row.deal_id))

    @strawberry.field(
        description="PENDING until its utterances are embedded (in the background after addTranscript), then READY; "
        "OUTDATED after a model change until `dealgraph reembed`; UNAVAILABLE where the server has no pgvector."
    )
    async def search_status(self, info: strawberry.Info[Context, None]) -> SearchStatus:
        model = info.context.settings.embedding_model
        return SearchStatus(await search_service.search_status(info.context.tenant, self.row.id, model))

    @strawberry.field(description="The transcript exactly as uploaded.")
    async def original_text(self, info: strawberry.Info[Context, None]) -> str:
        return await info.context.loaders.transcript_text.load(self.row.id) or ""

    @relay.connection(
        Connection[Utterance],
        description=f"Utterances in call order (up to {MAX_UTTERANCES_PAGE} per page).",
        max_results=MAX_UTTERANCES_PAGE,
    )
    async def utterances(self, info: strawberry.Info[Context, None]) -> Pages[Utterance]:
        rows = await info.context.loaders.utterances_by_transcript.load(self.row.id)
        return LoadedList(rows, Utterance.from_row, "utterances")

    @strawberry.field(description="Each speaker label, in order of first appearance, and the person it is.")
    async def speakers(self, info: strawberry.Info[Context, None]) -> list[SpeakerType]:
        from dealgraph.schema.people import speakers_of

        return await speakers_of(info, self.row)

    @strawberry.field(description="Conversation metrics; null for transcripts added before metrics existed.")
    async def metrics(self, info: strawberry.Info[Context, None]) -> CallMetricsType | None:
        from dealgraph.schema.people import CallMetrics

        stored = (await info.context.loaders.deal_calls.load(self.row.deal_id)).metrics.get(self.row.id)
        return CallMetrics.of(stored) if stored else None

    @relay.connection(Connection[AnalysisType], description="Analyses of this transcript, newest first.")
    async def analyses(self, info: strawberry.Info[Context, None]) -> Pages[AnalysisType]:
        from dealgraph.schema.analyses import Analysis

        rows = await info.context.loaders.analyses_by_transcript.load(self.row.id)
        return LoadedList(rows, Analysis.from_row, "transcript-analyses")

    @strawberry.field(
        description="People's corrections of the agents' results on this call (the expected answers), by agent, "
        "target and field; they outlive re-analysis."
    )
    async def corrections(self, info: strawberry.Info[Context, None]) -> list[ResultCorrectionType]:
        from dealgraph.schema.corrections import ResultCorrection

        return [
            ResultCorrection.of(row) for row in await info.context.loaders.corrections_by_transcript.load(self.row.id)
        ]


@strawberry.type(description="An utterance matching a search, with the matched words in <mark> tags.")
class SearchHit:
    transcript: Transcript
    utterance: Utterance
    rank: float = strawberry.field(description="KEYWORD: full-text rank; SEMANTIC and HYBRID: the fused RRF score.")
    relevance: float = strawberry.field(
        description="How well the utterance answers the query, from 0 to 1, comparable across queries and modes "
        "(`rank` is only an order): the stronger of its signals, the cosine `similarity` of its window to the query "
        "(SEMANTIC and HYBRID return no semantic match below the server's relevance floor) and the full-text rank "
        "scaled as rank / (rank + 1) (keyword matches)."
    )
    snippet: str
    matched_by: list[SearchSignal] = strawberry.field(description="The rankings that found this utterance.")
    similarity: float | None = strawberry.field(
        description="Cosine similarity of its window to the query, if SEMANTIC matched."
    )

    @classmethod
    def from_row(cls, row: SearchRow) -> SearchHit:
        return cls(
            transcript=Transcript.from_row(row.transcript),
            utterance=Utterance.from_row(row.utterance),
            rank=row.rank,
            relevance=row.relevance,
            snippet=row.snippet,
            matched_by=[SearchSignal(m) for m in row.matched_by],
            similarity=row.similarity,
        )


def search_hits(
    info: strawberry.Info[Context, None], query: str, mode: SearchMode | None, filters: SearchFilters
) -> Pages[SearchHit]:
    """searchTranscripts and Deal.moments alike: the request is built (and its query checked) once, then
    each page the connection asks for is searched with it."""
    search = Search.of(query, mode, filters, info.context.settings)
    return FetchedPages(lambda page: search_service.search(info.context.tenant, search, page), SearchHit.from_row)


@strawberry.input
class AddTranscriptInput:
    deal_id: relay.GlobalID
    title: str
    content: str = strawberry.field(description="Plain 'Speaker: text' lines, WebVTT, SRT or a JSON list.")
    format: TranscriptFormat | None = strawberry.field(
        default=None, description="Detected from the content when left out."
    )
    occurred_at: datetime | None = strawberry.field(default=None, description="Defaults to now.")
    language: str | None = strawberry.field(default=None, description="ISO 639-1; guessed when left out.")


@strawberry.type
class TranscriptPayload:
    transcript: Transcript | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)
