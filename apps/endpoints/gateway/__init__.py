"""The public inference API under /v1/: OpenAI's routes plus /v1/complete (docs/PRODUCT.md 6.2)."""
