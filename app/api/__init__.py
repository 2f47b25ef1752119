"""The OpenAI-compatible HTTP server (no Qt)."""
