"""Ingest: MQTT consumer, validation, batch writer, schema migrations, dead letters."""
