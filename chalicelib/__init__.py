"""The registry's Lambda code: everything that ships besides app.py."""
