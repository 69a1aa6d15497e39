"""The audit trail you can see: an indexer of the inference registry into SQLite (``indexer``),
its read side (``store``), and a read-only web app over it (``app``: pages, charts, a verify
page, a JSON API). Only ``zkml.cli`` imports this package; FastAPI is imported by ``app`` only.
"""
