"""Pydantic models shared across the API boundary (the worker imports these too)."""
