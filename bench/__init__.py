"""Benchmarks: harnesses that drive the pipeline, the server, the edge runtime and the web page."""
