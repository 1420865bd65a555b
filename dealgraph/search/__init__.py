"""Transcript search in one package: one request (`request.Search`, built once, filters included) that
every mode reads, keyword (full text, `keyword`), semantic and hybrid (embeddings, fused by rank:
`modes`), the hits they all return with their relevance (`hits`), the embedders, utterance windows, the
embedding job pool and `dealgraph reembed`."""
