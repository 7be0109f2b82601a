"""Storage: ports (interfaces), the key layout, and the AWS adapters."""
