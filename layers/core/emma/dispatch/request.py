"""A message request: what a journey step or a campaign asks the dispatcher to send (the messages queue's body)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from emma.events.model import SHOP_ID_PATTERN


class MessageRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    key: Annotated[str, Field(min_length=1, max_length=512)] = Field(
        description="idempotency key: one journey execution step entered once"
    )
    shop: Annotated[str, Field(pattern=SHOP_ID_PATTERN)]
    profile_id: Annotated[str, Field(min_length=1, max_length=256)]
    template: Annotated[str, Field(min_length=1, max_length=64)]
    channel: Literal["best", "email", "sms", "push"] = "best"
    transactional: bool = False
    requested_at: AwareDatetime
    journey: str | None = None
    execution: str | None = None
    step: str | None = None
    variant: str | None = None
    exclude_products: tuple[str, ...] = Field((), description="bought within the last 30 days: never offered")
    released: bool = Field(False, description="set when a deferred request comes back: timing is settled")
    campaign: str | None = Field(None, description="the campaign (campaigns/*.yaml) this message is part of")
    run: str | None = Field(None, description="the campaign's run (its day): dispatch honours its pause and cancel")
    subject: Annotated[str, Field(max_length=200)] | dict[str, Annotated[str, Field(max_length=200)]] | None = Field(
        None, description="the subject line instead of the template's (a campaign's A/B test): one, or one per locale"
    )
    test_to: Annotated[str, Field(max_length=320)] | None = Field(
        None, description="a test send: rendered for the profile, sent to this seed address only, nothing decided"
    )
