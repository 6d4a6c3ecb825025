"""On-disk index: a SQLite catalog (the source of truth) and a FAISS file derived from it."""
