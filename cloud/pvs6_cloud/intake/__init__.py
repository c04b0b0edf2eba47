"""The door: the upload contract, the ingest pipeline and backfill."""
