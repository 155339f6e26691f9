"""Vigil's shared contract: metrics, wire messages, topics and pure alert logic.

Imports pydantic only, so every component (edge, ingest, api, simulators) can depend on it.
"""

__version__ = "0.1.0"
