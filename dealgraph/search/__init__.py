"""Semantic and hybrid transcript search: embedders, utterance windows, the embedding queue and rank fusion."""
