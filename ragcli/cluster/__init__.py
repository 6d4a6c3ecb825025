"""`rag ingest --ray`: parsing, chunking and embedding on a Ray cluster, the catalog written here.

``pool``: the driver's side (joins the cluster, sends files, yields results in order);
``work``: what a task runs on a worker. Ray is an optional extra, imported only by ``pool``.
"""
