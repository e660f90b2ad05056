"""The dispatcher: one message request in, at most one message out, every decision on the record.

    claim the request (idempotency per key) -> plan (consent, suppression, address, cap, timing,
    channel, relevance) -> render -> reserve a cap slot (atomic) -> mark sending -> send -> mark sent
    -> record <channel>.sent on the profile through ingest.

A marketing message reserves its frequency-cap slot before the provider call; any failure before the
provider takes the message (saving links, building the MIME message, recording "sending", a refusal
or a transient error from the provider) releases it, records the failure and raises it.
A duplicate delivery finds the request settled and sends nothing. A crash before the provider call
leaves the claim to lapse and the retry starts over; a crash during the provider call leaves
"sending", which a retry turns into "unknown" without sending again: at most once, never twice.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from emma.campaigns.runs import message_key
from emma.clock import Clock
from emma.dispatch.context import ContextBuilder, DerivedState, TemplateContext
from emma.dispatch.mime import build_email
from emma.dispatch.policy import Plan, address_of, customer_locale, pending_email_grant, plan, trait
from emma.dispatch.ports import (
    CampaignGate,
    CapStore,
    Deferrals,
    Links,
    MessageLog,
    MessageRecord,
    Outgoing,
    Recommender,
    Requeue,
    Sender,
    SendError,
    SendRecorder,
)
from emma.dispatch.request import MessageRequest
from emma.dispatch.tokens import (
    ConfirmToken,
    PreferenceToken,
    UnsubscribeToken,
    coupon_code,
    message_ref,
    sign_confirmation,
    sign_preferences,
    sign_unsubscribe,
)
from emma.errors import ConcurrencyConflict, EmmaError, NotFound, TransientError
from emma.events.model import Channel
from emma.ingest.ports import CatalogRepository
from emma.offers.model import IssuedCoupon
from emma.offers.policy import IncentiveDecision, decide
from emma.offers.ports import CouponUnavailable, ProviderMisconfigured, ProviderRefused, ProviderTransient
from emma.offers.service import CouponIssuer, make_offer
from emma.offers.uplift import UpliftTable, incentive_need
from emma.predict.model import score_profile
from emma.predict.prior import Prior, default_prior
from emma.profiles.model import Profile
from emma.shops import ShopConfig, ShopDirectory
from emma.templates.definitions import Template
from emma.templates.library import TemplateSet
from emma.templates.render import Rendered, Renderer, RenderError

log = logging.getLogger(__name__)
CAMPAIGN_PAUSE_RECHECK = timedelta(minutes=5)  # a paused campaign's queued message is looked at again after
TEST_PROFILE = "p_test-send"  # the profile id a test send's links name: never a profile (ids are p_ + hex)
LEASE = timedelta(minutes=3)  # longer than one dispatch takes; a crashed worker's claim lapses after it
PREVIEW_CHARS = 280
COUPON_PATIENCE = timedelta(hours=48)  # a message whose code the shop has failed to create this long is skipped;
MISCONFIGURED_RETRY = timedelta(hours=1)  # until then it waits (a misconfigured provider: hourly)
_TAG_VALUE = re.compile(r"[A-Za-z0-9_.@-]{1,256}")


class DispatchConfigError(EmmaError):
    """The shop is not set up to send this message (no sender, no signing secret)."""

    status = 422


@dataclass
class DispatchReport:
    key: str
    outcome: str  # sent, skipped, deferred, duplicate, failed
    channel: str | None = None
    reason: str = ""
    provider_id: str | None = None
    decisions: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)  # what the handler reports besides the outcome


def skip_reason(decisions: list[dict[str, Any]]) -> tuple[str, str, str | None]:
    """(stage, reason, channel) of what skipped a message: the last skip decision, except that "no
    channel left" names the first channel's own reason (no consent, suppressed...)."""
    skips = [d for d in decisions if d.get("outcome") == "skip"]
    if not skips:
        return "other", "", None
    last = skips[-1]
    if last.get("stage") == "dispatch" and len(skips) > 1:
        last = skips[0]
    return str(last.get("stage") or "other"), str(last.get("reason") or ""), last.get("channel")


class _Attempt:
    """This delivery's decisions, written to the message log as they are made (each one once)."""

    def __init__(self, log_store: MessageLog, record: MessageRecord, now: datetime) -> None:
        self.log, self.record, self.now = log_store, record, now
        self.decisions: list[dict[str, Any]] = []
        self._written = 0

    def add(self, stage: str, outcome: str, reason: str, channel: Channel | None = None) -> None:
        entry = {"stage": stage, "outcome": outcome, "reason": reason[:1000]}
        if channel:
            entry["channel"] = str(channel)
        self.decisions.append(entry)

    def update(self, status: Any, **fields: Any) -> None:
        self.log.update(self.record, status, self.decisions[self._written :], self.now, **fields)
        self._written = len(self.decisions)


class DispatchService:
    def __init__(
        self,
        *,
        profiles: Callable[[str, str], Profile],
        shops: ShopDirectory,
        templates: TemplateSet,
        log_store: MessageLog,
        caps: CapStore,
        deferrals: Deferrals,
        links: Links,
        senders: Callable[[ShopConfig, Channel], Sender],
        recorder: SendRecorder,
        catalog: CatalogRepository,
        recommender: Recommender,
        clock: Clock,
        public_url: str,
        campaigns: CampaignGate | None = None,
        coupons: CouponIssuer | None = None,
        priors: Callable[[str], Prior] | None = None,
        uplift: Callable[[str], Mapping[str, UpliftTable]] | None = None,
        derived: DerivedState | None = None,
    ) -> None:
        self._profiles = profiles
        self._coupons = coupons
        self._priors = priors
        self._uplift = uplift
        self._campaigns = campaigns
        self._shops = shops
        self._templates = templates
        self._renderer = Renderer(templates)
        self._log = log_store
        self._caps = caps
        self._deferrals = deferrals
        self._links = links
        self._senders = senders
        self._recorder = recorder
        # derived: the rules' conclusions (loyalty tier, lifecycle stage, segments) for the template context
        self._contexts = ContextBuilder(catalog, recommender, public_url, derived)
        self._clock = clock
        self._public_url = public_url.rstrip("/")

    # ---- the pipeline ---------------------------------------------------------------------------

    def dispatch(self, request: MessageRequest) -> DispatchReport:
        if request.test_to is not None:
            return self._test_send(request)
        now = self._clock.now()
        record = self._log.claim(request, now, now + LEASE)
        if record is None:
            return DispatchReport(request.key, "duplicate", reason="already settled, or deferred to later")
        if record.status == "sent":  # a re-delivery after the send: make sure the profile counted it
            self._recorder.record_sent(record, Channel(record.channel or "email"), record.provider_id or "", now)
            return DispatchReport(request.key, "duplicate", record.channel, "already sent", record.provider_id)
        attempt = _Attempt(self._log, record, now)
        try:
            return self._dispatch(request, attempt)
        except Exception as exc:
            if attempt.record.status == "processing":  # let the retry start at once, not after the lease
                attempt.add("dispatch", "fail", f"{type(exc).__name__}: {exc}")
                try:
                    attempt.update("failed")
                except EmmaError:
                    log.warning("could not record the failure of %s", request.key)
            raise

    def _dispatch(self, request: MessageRequest, attempt: _Attempt) -> DispatchReport:
        now = attempt.now
        try:
            shop = self._shops.get(request.shop)
            template = self._templates.get(request.shop, request.template)
            profile = self._profiles(request.shop, request.profile_id)
        except NotFound as exc:  # nothing to send, and retrying will not change that
            attempt.add("dispatch", "skip", str(exc))
            self._skipped(attempt)
            return DispatchReport(request.key, "skipped", reason=str(exc), decisions=attempt.decisions)
        if request.campaign is not None and request.run is not None:
            if profile.profile_id != request.profile_id:  # merged since the run chose it: the merged profile's key
                return self._handed_on(request, attempt, profile)
            held = self._campaign_holds(request, attempt) if self._campaigns is not None else None
            if held is not None:
                return held
        if template.confirmation:
            handed_on = self._confirmation_once(request, attempt, shop, profile)
            if handed_on is not None:
                return handed_on
            request = request.model_copy(update={"transactional": True})
        recent = list(self._caps.recent_sends(request.shop, profile.profile_id).values())
        push_ready = bool(shop.dispatch.push_application_arn) or shop.dispatch.providers.get(Channel.PUSH) == "webhook"
        decided = plan(request, profile, template, shop, now, recent, push_ready=push_ready)
        attempt.decisions += [d.as_dict() for d in decided.decisions]
        reason = decided.decisions[-1].reason
        if decided.outcome == "skip":
            self._skipped(attempt)
            return DispatchReport(request.key, "skipped", reason=reason, decisions=attempt.decisions)
        if decided.outcome == "defer":
            assert decided.not_before is not None
            self._deferrals.defer(request, decided.not_before)
            attempt.update("deferred", not_before=decided.not_before)
            return DispatchReport(request.key, "deferred", reason=reason, decisions=attempt.decisions)
        return self._send(request, attempt, shop, template, profile, decided)

    def _handed_on(self, request: MessageRequest, attempt: _Attempt, profile: Profile) -> DispatchReport:
        """A campaign's recipient merged into another profile after the run chose them: the message goes under the
        merged profile's own key, so a customer chosen twice (once per profile merged) gets it once."""
        assert request.campaign is not None and request.run is not None
        reason = f"merged into {profile.profile_id}: handed on under its key"
        attempt.add("dispatch", "skip", reason)
        self._skipped(attempt)
        merged = request.model_copy(
            update={
                "profile_id": profile.profile_id,
                "key": message_key(request.campaign, request.run, profile.profile_id),
            }
        )
        return self.dispatch(merged)

    def _campaign_holds(self, request: MessageRequest, attempt: _Attempt) -> DispatchReport | None:
        """A campaign's message while its run is cancelled (skipped) or paused (deferred: looked at again)."""
        assert self._campaigns is not None and request.campaign is not None and request.run is not None
        status = self._campaigns.status(request.shop, request.campaign, request.run)
        name = f"campaign {request.campaign} run {request.run}"
        if status is None or status == "cancelled":
            reason = f"{name} was cancelled" if status else f"{name} does not exist"
            attempt.add("dispatch", "skip", reason)
            self._skipped(attempt)
            return DispatchReport(request.key, "skipped", reason=reason, decisions=attempt.decisions)
        if status == "paused":
            until = attempt.now + CAMPAIGN_PAUSE_RECHECK
            reason = f"{name} is paused; looked at again at {until.isoformat()}"
            attempt.add("timing", "defer", reason)
            self._deferrals.defer(request, until)
            attempt.update("deferred", not_before=until)
            return DispatchReport(request.key, "deferred", reason=reason, decisions=attempt.decisions)
        attempt.add("dispatch", "pass", f"{name} is {status}")
        return None

    def _test_send(self, request: MessageRequest) -> DispatchReport:
        """A campaign's test send: the template rendered for the profile as it would be sent, to the seed address
        only. No decision, nothing on the customer's record; its links name no customer (TEST_PROFILE) and its
        SES tags no shop, so nothing a seed does with it reaches a profile or the analytics."""
        assert request.test_to is not None
        now = self._clock.now()
        try:
            shop = self._shops.get(request.shop)
            template = self._templates.get(request.shop, request.template)
            customer = self._profiles(request.shop, request.profile_id)
        except NotFound as exc:
            return DispatchReport(request.key, "skipped", reason=str(exc))
        profile = customer.model_copy(update={"profile_id": TEST_PROFILE})
        if not shop.signing_secret or not shop.dispatch.sender:
            raise DispatchConfigError(f"shop {shop.shop!r} needs a signing_secret and a dispatch.sender to send tests")
        locale = customer_locale(customer, shop.dispatch)
        unsubscribe_url = self._unsubscribe_url(shop, profile, Channel.EMAIL, request.key)
        context = self._context(
            request, shop, template, profile, locale, Channel.EMAIL, {}, unsubscribe_url, now, preview=True
        )
        rendered = self._renderer.render(request.shop, template.template, locale, Channel.EMAIL, context.variables())
        rendered = replace(rendered, subject=f"[Test] {subject_for(request, locale) or rendered.subject}")
        outgoing = self._outgoing(
            request, shop, profile, Channel.EMAIL, request.test_to, rendered, unsubscribe_url, test=True
        )
        provider_id = self._senders(shop, Channel.EMAIL).send(outgoing)
        return DispatchReport(request.key, "sent", "email", provider_id=provider_id, reason="test send")

    def _confirmation_once(
        self, request: MessageRequest, attempt: _Attempt, shop: ShopConfig, profile: Profile
    ) -> DispatchReport | None:
        """A confirmation is sent once per grant: a request under any other key (a journey's step, the
        same grant restated by a source) is handed on under the grant's own key, whose message-log
        claim lets exactly one through. None: this request is that one (or nothing awaits confirmation,
        which its plan says)."""
        pending = pending_email_grant(profile, shop.dispatch)
        if pending is None:
            return None
        key = confirmation_key(profile.profile_id, pending.started)
        if request.key == key:
            return None
        report = self.dispatch(request.model_copy(update={"key": key, "transactional": True}))
        attempt.add(
            "dispatch",
            "skip",
            f"a confirmation goes once per grant: handed on as {key} ({report.outcome}"
            + (f": {report.reason}" if report.reason else "")
            + ")",
        )
        attempt.update("skipped")  # no message.skipped: the request lives on under the grant's key, counted there
        report.decisions = attempt.decisions + report.decisions
        return report

    def _send(
        self,
        request: MessageRequest,
        attempt: _Attempt,
        shop: ShopConfig,
        template: Template,
        profile: Profile,
        decided: Plan,
    ) -> DispatchReport:
        channel, address, now = decided.channel, decided.address, attempt.now
        assert channel is not None and address is not None
        links: dict[str, dict[str, Any]] = {}
        incentive = self._incentive(request, attempt, shop, template, profile)
        if isinstance(incentive, DispatchReport):
            return incentive
        decision, coupon = incentive
        referred = self._referral_code(request, attempt, shop, template, profile)
        if isinstance(referred, DispatchReport):
            return referred
        profile = referred
        try:
            if not shop.signing_secret:
                raise DispatchConfigError(
                    f"shop {shop.shop!r} has no signing_secret: unsubscribe links cannot be signed"
                )
            if channel == Channel.EMAIL and not shop.dispatch.sender:
                raise DispatchConfigError(f"shop {shop.shop!r} has no dispatch.sender email address")
            unsubscribe_url = self._unsubscribe_url(shop, profile, channel, request.key)
            context = self._context(
                request, shop, template, profile, decided.locale, channel, links, unsubscribe_url, now, coupon=coupon
            )
            rendered = self._renderer.render(
                request.shop, template.template, decided.locale, channel, context.variables()
            )
        except (RenderError, DispatchConfigError) as exc:  # nothing sent; retried, then parked in the DLQ
            attempt.add("render", "fail", str(exc), channel)
            attempt.update("failed")
            raise
        if template.content is not None and not context.blocks:  # nothing new to tell this reader
            reason = "no content block left for this customer (all sent before, or none for their devices)"
            attempt.add("relevance", "skip", reason, channel)
            self._skipped(attempt)
            return DispatchReport(request.key, "skipped", reason=reason, decisions=attempt.decisions)
        subject = subject_for(request, rendered.locale)
        if subject and channel == Channel.EMAIL:  # a campaign's A/B subject line
            rendered = replace(rendered, subject=subject)
        attempt.add("render", "pass", f"{template.template} ({rendered.locale})", channel)
        marketing = not request.transactional
        if marketing and not self._caps.reserve(request.shop, profile.profile_id, request.key, now, shop.dispatch.caps):
            attempt.add("frequency", "skip", "the cap filled up meanwhile (another message took the last slot)")
            self._skipped(attempt)
            return DispatchReport(request.key, "skipped", reason="frequency cap", decisions=attempt.decisions)
        # From here a marketing message holds a cap slot. Every failure before the provider takes the
        # message gives it back (and is recorded and raised); once the provider may have it (sent,
        # or an unexpected error during the call), the slot stays taken: the customer may have it.
        stage = "links"
        try:
            if links:  # named on the message log before they exist: an erasure finds them, whatever fails next
                attempt.update(attempt.record.status, links=sorted(links))
            for code, link in links.items():
                self._links.save(request.shop, code, link)
            stage = "message"
            outgoing = self._outgoing(request, shop, profile, channel, address, rendered, unsubscribe_url)
            stage = "record"
            attempt.update("sending", channel=str(channel), locale=rendered.locale, lease_until=now + LEASE)
            stage = "send"
            provider_id = self._senders(shop, channel).send(outgoing)
        except Exception as exc:
            if stage == "send" and not isinstance(exc, SendError | TransientError):
                raise  # the provider may have taken it: "sending" stays, a retry marks it "unknown"
            if stage == "record" and isinstance(exc, ConcurrencyConflict):
                raise  # another worker holds the message now (a lapsed lease), and with it the slot
            self._give_back(request, profile, marketing, attempt, stage, exc, channel)
            raise
        attempt.add("send", "send", f"{channel} to {_masked(address)}", channel)
        recommended = [{"product_id": r.product_id, "url": r.url} for r in context.recommendations]
        content = [{"block_id": b.id, "url": b.target, "topics": b.topics} for b in context.blocks]
        attempt.update(
            "sent",
            subject=rendered.subject or rendered.push_title or None,
            preview=rendered.body[:PREVIEW_CHARS],
            provider_id=provider_id,
            coupon=context.coupon.code if context.coupon else attempt.record.coupon,
            incentive=decision.as_dict() if decision else None,
            recommended=recommended or None,
            content=content or None,
        )
        record = attempt.record
        record.channel, record.provider_id, record.recommended = str(channel), provider_id, recommended
        record.content = content
        record.coupon = context.coupon.code if context.coupon else None  # the sent event carries it to analytics
        record.incentive = decision.as_dict() if decision else None  # and the incentive arm
        self._recorder.record_sent(record, channel, provider_id, now, profile)
        report = DispatchReport(request.key, "sent", str(channel), provider_id=provider_id, decisions=attempt.decisions)
        if coupon is not None and coupon.remaining is not None:
            report.metrics["CouponPoolLow"] = 1.0 if coupon.low else 0.0
        return report

    # ---- the incentive ------------------------------------------------------------------------

    def _scores(
        self, shop: ShopConfig, profile: Profile, now: datetime, template: str
    ) -> tuple[bool | None, float | None, str | None]:
        """(would buy without an incentive, P(order within the horizon), method), scored now with the shop's
        prior (the numbers the rules store, as of this moment); where the template's measured uplift covers the
        customer's band (emma.offers.uplift), the uplift decides, else the propensity."""
        prior = self._priors(shop.shop) if self._priors is not None else default_prior()
        scores = score_profile(profile, now, prior)
        if scores.insufficient_data:  # no order yet: nothing says they would buy without one
            return None, None, None
        table = self._uplift(shop.shop).get(template) if self._uplift is not None else None
        would_buy, method = incentive_need(scores.p_buy_within_horizon, table)
        return would_buy, scores.p_buy_within_horizon, method

    def _incentive(
        self, request: MessageRequest, attempt: _Attempt, shop: ShopConfig, template: Template, profile: Profile
    ) -> tuple[IncentiveDecision | None, IssuedCoupon | None] | DispatchReport:
        """Whether this message carries its template's coupon (emma.offers.policy), and the code, created in
        the shop before the message names it. A code the shop cannot create now defers the message (skips it
        once COUPON_PATIENCE is over, or at once when refused for good): never a message with a dead code."""
        spec = template.coupon
        if spec is None:
            return None, None
        now = attempt.now
        earlier = attempt.record.incentive
        if earlier:  # a retry keeps the first attempt's decision (and its code): P(buy) and the table may have moved
            decision = IncentiveDecision(
                policy=str(earlier.get("policy")),
                arm=earlier.get("arm"),  # type: ignore[arg-type]
                reason="decided at an earlier attempt",
                p=earlier.get("p"),
                band=earlier.get("band"),
                method=earlier.get("method"),
            )
            attempt.add("incentive", "pass", f"{decision.arm}: as decided at an earlier attempt")
        elif shop.coupons is None:
            decision = IncentiveDecision(
                template.incentive or "always", "unavailable", "the shop has no coupon provider"
            )
            attempt.add("incentive", "pass", "unavailable: the shop has no coupon provider; sent without a code")
        else:
            would_buy, p, method = self._scores(shop, profile, now, template.template)
            decision = decide(
                template.incentive or "always",
                shop=shop.shop,
                template=template.template,
                customer=profile.customer_id or profile.email or profile.profile_id,
                would_buy=would_buy,
                p=p,
                method=method,
                config=shop.incentives,
                promised=spec.kind == "reward",
            )
            attempt.add("incentive", "pass", f"{decision.arm}: {decision.reason}")
        if not earlier:  # on the log before anything is created: every retry finds it
            attempt.update(attempt.record.status, incentive=decision.as_dict())
            attempt.record.incentive = decision.as_dict()
        if not decision.coupon:
            return decision, None
        if self._coupons is None:
            raise DispatchConfigError("the dispatcher has no coupon issuer")
        if not shop.signing_secret:  # before the shop is asked for a code the send would then fail without
            raise DispatchConfigError(f"shop {shop.shop!r} has no signing_secret: coupon codes cannot be derived")
        offer = make_offer(
            shop=shop.shop,
            code=coupon_code(shop.signing_secret or "", shop.shop, request.key),
            template=template.template,
            reference=f"{template.template}:{message_ref(request.key)}",
            kind=spec.kind,
            percent=spec.percent,
            valid_days=spec.valid_days,
            minimum_order=spec.minimum_order,
            now=now,
            customer_email=profile.email,
            customer_id=profile.customer_id,
        )
        try:
            coupon = self._coupons.issue(shop, offer, profile.profile_id, request.key, now, attempt.record.coupon)
        except (ProviderTransient, CouponUnavailable) as exc:
            return self._no_coupon(request, attempt, shop, exc)
        attempt.add("incentive", "pass", f"code {coupon.code} created by {coupon.provider} ({coupon.provider_id})")
        attempt.update(attempt.record.status, coupon=coupon.code)  # named on the log before it is sent
        attempt.record.coupon = coupon.code
        return decision, coupon

    def _referral_code(
        self, request: MessageRequest, attempt: _Attempt, shop: ShopConfig, template: Template, profile: Profile
    ) -> Profile | DispatchReport:
        """For a template showing the customer's referral code (template.referral): the code, created through the
        shop's coupon provider once per customer (many uses, once per friend) and kept as the trait
        referral_code, before the message names it. A code the customer already has (Emma's, or the shop's own
        programme's) is used as it is; a provider that refuses referral codes (Shopware's single-use individual
        codes) lets the message go without one (the template links to the shop's referral page instead)."""
        spec = template.referral
        if spec is None:
            return profile
        held = trait(profile, "referral_code")
        if held:
            attempt.add("incentive", "pass", f"referral code {held} (the customer's)")
            return profile
        if shop.coupons is None or self._coupons is None:
            attempt.add("incentive", "pass", "no coupon provider: the message goes without a referral code")
            return profile
        if not shop.signing_secret:  # the code is derived with it: never an unkeyed, guessable one
            raise DispatchConfigError(f"shop {shop.shop!r} has no signing_secret: referral codes cannot be derived")
        now, owner = attempt.now, referral_key(profile.profile_id)
        offer = make_offer(
            shop=shop.shop,
            code=coupon_code(shop.signing_secret or "", shop.shop, owner),
            template=template.template,
            reference=f"referral:{message_ref(owner)}",
            kind="referral",
            percent=spec.percent,
            valid_days=365,
            minimum_order=spec.minimum_order,
            now=now,
            customer_email=None,
            customer_id=None,
        )
        try:
            issued = self._coupons.issue(shop, offer, profile.profile_id, owner, now, None)
        except ProviderRefused as exc:
            attempt.add("incentive", "pass", f"no referral code ({exc}): the message goes without one")
            return profile
        except (ProviderTransient, CouponUnavailable) as exc:
            return self._no_coupon(request, attempt, shop, exc)
        self._recorder.record_traits(profile, {"referral_code": issued.code}, now, f"dispatch:{owner}:code")
        attempt.add("incentive", "pass", f"referral code {issued.code} created by {issued.provider}")
        return self._profiles(shop.shop, profile.profile_id)  # with the trait the template reads

    def _no_coupon(
        self, request: MessageRequest, attempt: _Attempt, shop: ShopConfig, exc: Exception
    ) -> DispatchReport:
        """The shop could not create the code: wait for it (a busy or misconfigured provider) within
        COUPON_PATIENCE of the request, else skip; a refusal for good skips at once."""
        now = attempt.now
        metrics = {"CouponProviderFailures": 1.0} if isinstance(exc, ProviderMisconfigured) else {}
        waiting = isinstance(exc, ProviderTransient | ProviderMisconfigured)
        since = _waiting_since(attempt.record.decisions) or now  # the first time this message's code failed
        if waiting and now - since < COUPON_PATIENCE:
            delay = timedelta(seconds=exc.retry_after) if isinstance(exc, ProviderTransient) else MISCONFIGURED_RETRY
            until = now + delay
            reason = f"no working code yet: {exc}; tried again at {until.isoformat()}"
            attempt.add("incentive", "defer", reason)
            attempt.decisions[-1]["since"] = since.isoformat()
            self._deferrals.defer(request, until)
            attempt.update("deferred", not_before=until)
            return DispatchReport(request.key, "deferred", reason=reason, decisions=attempt.decisions, metrics=metrics)
        reason = f"no working code: {exc}" + (f" (waited since {since.isoformat()})" if waiting else "")
        attempt.add("incentive", "skip", reason)
        self._skipped(attempt)
        return DispatchReport(request.key, "skipped", reason=reason, decisions=attempt.decisions, metrics=metrics)

    def _skipped(self, attempt: _Attempt) -> None:
        """Publish message.skipped for analytics, then settle the record as skipped: a crash between the
        two publishes again on the retry (analytics counts a message once), never not at all."""
        stage, reason, channel = skip_reason(attempt.decisions)
        self._recorder.record_skipped(attempt.record, stage, reason, channel, attempt.now)
        attempt.update("skipped")

    def _give_back(
        self,
        request: MessageRequest,
        profile: Profile,
        marketing: bool,
        attempt: _Attempt,
        stage: str,
        exc: Exception,
        channel: Channel,
    ) -> None:
        """A failure before the provider took the message: the cap slot is released, the failure
        recorded (status failed: the retry starts over). The caller raises ``exc`` on."""
        try:
            if marketing:
                self._caps.release(request.shop, profile.profile_id, request.key)
        finally:
            what = {"links": "saving its links", "message": "building the message", "record": "recording it"}
            detail = f"{type(exc).__name__}: {exc}" if stage != "send" else str(exc)
            attempt.add("send", "fail", f"{what[stage]}: {detail}" if stage in what else detail, channel)
            if attempt.record.status in ("processing", "sending"):
                try:
                    attempt.update("failed")
                except EmmaError:
                    log.warning("could not record the failure of %s", request.key)

    def preview(
        self, shop_id: str, template_name: str, profile: Profile, channel: Channel, locale: str | None = None
    ) -> tuple[Rendered, bytes]:
        """Render a template for a profile exactly as a send would (no decisions, nothing stored or
        sent): the rendered parts and, for email, the raw message."""
        shop = self._shops.get(shop_id)
        template = self._templates.get(shop_id, template_name)
        now = self._clock.now()
        request = MessageRequest(
            key=f"preview:{template_name}",
            shop=shop_id,
            profile_id=profile.profile_id,
            template=template_name,
            channel=str(channel),
            requested_at=now,
            journey="preview",  # type: ignore[arg-type]
        )
        address, _ = address_of(profile, channel)  # a preview shows an invalid address's message too
        decided = Plan(
            outcome="send",
            channel=channel,
            address=address or ("preview@example.com" if channel == Channel.EMAIL else "preview"),
            locale=locale or customer_locale(profile, shop.dispatch),
        )
        unsubscribe_url = self._unsubscribe_url(shop, profile, channel, request.key)
        context = self._context(
            request, shop, template, profile, decided.locale, channel, {}, unsubscribe_url, now, preview=True
        )
        rendered = self._renderer.render(shop_id, template_name, decided.locale, channel, context.variables())
        raw = b""
        if channel == Channel.EMAIL:
            raw = self._outgoing(
                request, shop, profile, channel, decided.address or "", rendered, unsubscribe_url
            ).raw_email
        return rendered, raw

    # ---- building the message -----------------------------------------------------------------

    def _context(
        self,
        request: MessageRequest,
        shop: ShopConfig,
        template: Template,
        profile: Profile,
        locale: str,
        channel: Channel,
        links: dict[str, dict[str, Any]],
        unsubscribe_url: str,
        now: datetime,
        *,
        preview: bool = False,
        coupon: IssuedCoupon | None = None,
    ) -> TemplateContext:
        """The template's variables, with the message's signed links (preference centre, confirmation;
        the survey's score links are built with the context, valid from ``now``). A preview (and a test send)
        shows a sample code: it is not created in the shop."""
        if preview and template.coupon is not None and coupon is None:
            coupon = IssuedCoupon(coupon_code(shop.signing_secret or "", shop.shop, request.key), "preview", "")
        return self._contexts.build(
            request,
            shop,
            template,
            profile,
            locale,
            channel,
            links,
            unsubscribe_url,
            self._preferences_url(shop, profile, request.key, now),
            self._confirm_url(shop, template, profile, locale, now, preview=preview),
            now=now,
            library=self._templates.content,
            coupon=coupon,
        )

    def _unsubscribe_url(self, shop: ShopConfig, profile: Profile, channel: Channel, key: str) -> str:
        token = UnsubscribeToken(shop.shop, profile.profile_id, str(channel), message_ref(key))
        return f"{self._public_url}/v1/unsubscribe?t={sign_unsubscribe(shop.signing_secret or '', token)}"

    def _preferences_url(self, shop: ShopConfig, profile: Profile, key: str, now: datetime) -> str:
        expires = now + timedelta(days=shop.dispatch.preference_link_days)
        token = PreferenceToken(shop.shop, profile.profile_id, message_ref(key), expires)
        return f"{self._public_url}/v1/preferences?t={sign_preferences(shop.signing_secret or '', token)}"

    def _confirm_url(
        self, shop: ShopConfig, template: Template, profile: Profile, locale: str, now: datetime, preview: bool = False
    ) -> str | None:
        """The double opt-in link of a confirmation: names the grant it confirms and the version of the
        wording the customer reads (the template, a hash of its content in this locale, the locale)."""
        if not template.confirmation:
            return None
        grant = pending_email_grant(profile, shop.dispatch)
        if grant is None and not preview:
            raise DispatchConfigError("nothing awaits confirmation")  # the plan skips before this
        token = ConfirmToken(
            shop.shop,
            profile.profile_id,
            grant.started if grant else now,
            wording_version(template, locale),
            now + timedelta(days=shop.dispatch.confirm_link_days),
        )
        return f"{self._public_url}/v1/confirm?t={sign_confirmation(shop.signing_secret or '', token)}"

    def _outgoing(
        self,
        request: MessageRequest,
        shop: ShopConfig,
        profile: Profile,
        channel: Channel,
        address: str,
        rendered: Rendered,
        unsubscribe_url: str,
        *,
        test: bool = False,
    ) -> Outgoing:
        tags = {
            "emma-shop": shop.shop,
            "emma-profile": profile.profile_id,
            "emma-template": request.template,
            "emma-message": message_ref(request.key),
        }
        for tag, value in (
            ("emma-journey", request.journey),
            ("emma-step", request.step),
            ("emma-variant", request.variant),
        ):
            if value and _TAG_VALUE.fullmatch(value):  # SES tag values: [A-Za-z0-9_.@-], 256 characters
                tags[tag] = value
        if test:  # a test send: SES's events about it name no shop, so they reach no profile
            tags = {"emma-test": shop.shop, "emma-template": request.template}
        common = {
            "shop": shop.shop,
            "profile_id": profile.profile_id,
            "key": request.key,
            "channel": channel,
            "to": address,
            "template": request.template,
            "journey": request.journey,
            "transactional": request.transactional,
            "tags": tags,
        }
        if channel == Channel.EMAIL:
            sender = shop.dispatch.sender
            if not sender:
                raise DispatchConfigError(f"shop {shop.shop!r} has no dispatch.sender email address")
            raw = build_email(
                rendered=rendered,
                sender=sender,
                sender_name=shop.dispatch.sender_name or shop.name,
                to=address,
                reply_to=shop.dispatch.reply_to,
                unsubscribe_url=unsubscribe_url,
                tags=tags,
                sent_at=self._clock.now(),
            )
            return Outgoing(
                **common, subject=rendered.subject, text=rendered.text, html=rendered.html, raw_email=raw, sender=sender
            )
        if channel == Channel.SMS:
            return Outgoing(**common, sms=rendered.sms)
        return Outgoing(**common, push_title=rendered.push_title, push_body=rendered.push_body)


def _waiting_since(decisions: list[dict[str, Any]]) -> datetime | None:
    """When an earlier attempt of the message first deferred it for want of a code (COUPON_PATIENCE counts from
    then: a message paused or deferred for long before is not skipped at its first failure)."""
    for d in decisions:
        if d.get("stage") == "incentive" and d.get("outcome") == "defer" and d.get("since"):
            try:
                return datetime.fromisoformat(str(d["since"]))
            except ValueError:
                return None
    return None


def referral_key(profile_id: str) -> str:
    """What a customer's referral code is issued (and its record kept) under: one per customer."""
    return f"referral:{profile_id}"


def subject_for(request: MessageRequest, locale: str) -> str | None:
    """The subject line a request asks for instead of the template's, in the message's locale."""
    if isinstance(request.subject, dict):
        return request.subject.get(locale)
    return request.subject


def confirmation_key(profile_id: str, grant: datetime) -> str:
    """The message key of the confirmation of one email grant: the same however often it is requested."""
    return f"doi:{profile_id}:{grant.astimezone(UTC).isoformat()}"


def wording_version(template: Template, locale: str) -> str:
    """``<template>@<hash of its subject and HTML in the locale>/<locale>``: changes with the wording."""
    content = template.locales.get(locale) or next(iter(template.locales.values()))  # type: ignore[call-overload]
    digest = hashlib.sha256(f"{content.subject}\n{content.html}".encode()).hexdigest()[:10]
    return f"{template.template}@{digest}/{locale}"


def _masked(address: str) -> str:
    """Enough of an address to recognise it in the log, not enough to harvest it."""
    if "@" in address:
        local, _, domain = address.partition("@")
        return f"{local[:2]}***@{domain}"
    return f"{address[:4]}***{address[-2:]}" if len(address) > 8 else "***"


def release_due(deferrals: Deferrals, queue: Requeue, now: datetime, limit: int = 500) -> int:
    """Put deferred requests that are due back on the messages queue (the scheduled job calls this)."""
    due = deferrals.due(now, limit)
    done = []
    for timer_id, request in due:
        queue.request(request.model_copy(update={"released": True}))
        done.append(timer_id)
    deferrals.remove(done)
    return len(done)
