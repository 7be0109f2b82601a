"""The OCI core every layer may use: digests, repository and tag names, the error
codes with their fixed statuses, media types. Pure; it imports nothing of ours.
"""
