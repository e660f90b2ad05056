"""The triggers function: evaluates triggers, segments, lifecycle and scores on every canonical event."""
