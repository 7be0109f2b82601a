"""Authentication and authorisation: tokens, scopes, policy, passwords (pure)."""
