"""`rag serve` and `rag mcp`: one index with its models loaded once, for the shell, agents and scripts.

``service`` (framework-free: the queue for the model, requests, cancelling) <- ``web`` (Starlette
HTTP API) and ``tools`` (MCP tools, stdio or at /mcp); ``access`` decides who may ask; ``running``
starts uvicorn. Imported only by those two commands: Starlette, uvicorn and the MCP SDK stay out of
`rag --help` and `rag search`.
"""
