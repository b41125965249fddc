"""The public inference API under /v1/: OpenAI's routes plus the spec's /v1/complete."""
