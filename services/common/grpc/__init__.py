"""gRPC mechanisms: server bootstrap, interceptors, authentication, clients."""
