"""Analyst workflows on top of the engine: classify, translate."""
