"""Journeys: typed definitions (journeys/*.yaml), their validation, and (next) their compilation to
Step Functions state machines."""
