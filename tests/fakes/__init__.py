"""Test doubles: a scripted engine backend and a hand-driven transport."""
