"""Batched analytics (example 4): per-user buffers, timed flushes, database fallback."""
