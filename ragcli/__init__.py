"""ragcli: a local-first command-line RAG toolkit."""

__version__ = "0.1.0"
