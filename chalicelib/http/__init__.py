"""HTTP concerns: request parsing, headers, and OCI error rendering (Chalice-aware)."""
