"""What the Lambda handlers share at the edge: Powertools plumbing, no domain logic.

Only handlers (functions/*) import this package; no domain package, port or adapter does.
"""
