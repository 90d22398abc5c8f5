"""A TF Serving-compatible model server: REST and gRPC, versions, hot reload, batching, metrics."""
