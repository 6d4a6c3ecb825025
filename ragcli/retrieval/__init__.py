"""Finding the passages for a query: dense and lexical candidates, fused and shaped."""
