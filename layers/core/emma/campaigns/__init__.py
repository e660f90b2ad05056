"""Campaigns and newsletters: one-off or recurring sends to a segment or to the subscribers of a topic."""
