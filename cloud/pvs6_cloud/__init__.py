"""PVS6 Sentinel cloud side: ingest, parse, enrich, sink, detect, notify, and the scheduled jobs.

Heavy libraries (pandas, pvlib, matplotlib, googleapiclient) are imported only inside the functions that need
them, so the Cloud Function's cold start stays short.
"""

__version__ = "0.1.0"
