"""Transcript search in one package: keyword (full text), semantic (embeddings) and hybrid (both, fused), the
embedders, utterance windows, the embedding job pool and `dealgraph reembed`."""
