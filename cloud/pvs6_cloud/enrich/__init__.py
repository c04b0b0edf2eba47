"""Enrichment: the weather, the sun's position and the output each reading should show."""
