"""Journey states in memory (emma.journeys.ports.JourneyStore), with DynamoJourneyStore's versioned writes."""

from __future__ import annotations


class InMemoryJourneyStore:
    """Journey states with the same versioned-write contract as DynamoJourneyStore."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str, str], str] = {}

    def get(self, shop, profile_id, journey):
        from emma.journeys.state import JourneyState

        text = self.items.get((shop, profile_id, journey))
        return JourneyState.model_validate_json(text) if text else None

    def list(self, shop, profile_id):
        return [self.get(s, p, j) for (s, p, j) in sorted(self.items) if (s, p) == (shop, profile_id)]

    def put(self, shop, profile_id, state):
        from emma.journeys.state import StaleJourneyState

        current = self.get(shop, profile_id, state.journey)
        if (current.version if current else 0) != state.version:
            raise StaleJourneyState("changed meanwhile")
        state.version += 1
        self.items[(shop, profile_id, state.journey)] = state.model_dump_json()
