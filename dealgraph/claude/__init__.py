"""The Claude client: requests built from each model's documented capabilities, streamed, folded and retried."""
