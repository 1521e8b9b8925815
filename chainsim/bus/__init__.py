"""Bus clients: the `Bus` protocol, its errors, and the two dialects' clients."""
