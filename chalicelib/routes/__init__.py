"""Chalice blueprints, one per API area; thin: parse, call one use case, render."""
