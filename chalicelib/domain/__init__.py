"""Pure domain: error codes, name rules, digests and the registry use cases.

Nothing here imports boto3 or Chalice.
"""
