"""Inference: the engine host, its process and thread transports, and the client."""
