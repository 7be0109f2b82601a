"""Infrastructure as code: the deployable template (Chalice package + table and bucket)."""
