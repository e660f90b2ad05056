"""The template context: the model a send builds has the names and shape of the samples every template
is validated with, and carries the customer, shop, purchase, cart, coupon and links as before."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from emma.dispatch.context import ContextBuilder, DerivedState, TemplateContext
from emma.dispatch.recorder import IngestRecorder
from emma.dispatch.request import MessageRequest
from emma.dispatch.service import DispatchService
from emma.errors import TransientError
from emma.events.model import Channel
from emma.offers.model import IssuedCoupon
from emma.recommend.service import RecommendationService
from emma.rules.loader import load_definitions
from emma.rules.service import RulesService
from emma.templates.context import ALLOWED_VARIABLES, sample_contexts, samples
from emma.templates.render import Renderer
from emma_local.fakes import InMemoryPublisher, InMemoryRulesStore
from tests.factories import event, order

from .conftest import NOW, ROOT, SHOP, TEMPLATES, World

RULES = load_definitions(ROOT)

PRODUCTS = (("pixel-9", "Pixel 9", "699.00"), ("case-1", "Case", "19.99"), ("charger-1", "Charger", "24.50"))


def shape(value: Any) -> Any:
    """The names a template can reach: keys of mappings (traits' own keys aside), one list item's shape."""
    if isinstance(value, dict):
        return {k: None if k == "traits" else shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return None


def customer_with_history(world: World) -> str:
    for product_id, name, price in PRODUCTS:
        world.catalog.upsert_product(
            event(
                "catalog.product_upserted",
                customer={},
                source="shopify",
                id=f"p-{product_id}",
                product={
                    "product_id": product_id,
                    "name": name,
                    "price": price,
                    "currency": "EUR",
                    "url": f"https://shop.example/{product_id}",
                    "brand": "Acme",
                },
            )
        )
    phone, case = {"product_id": "pixel-9", "price": "699.00"}, {"product_id": "case-1", "price": "19.99"}
    for n in range(3):  # others bought the phone with a case: the model learns it
        world.ingest.ingest([order(f"o-x{n}", "718.99", customer={"customer_id": f"x-{n}"}, items=[phone, case])])
    pid = world.customer(plan="plus", last_name="Schmidt", city="Berlin")
    world.ingest.ingest(
        [
            order("o-1", "699.00", customer={"customer_id": "c-1"}, at=NOW - timedelta(days=40), items=[phone]),
            event(
                "cart.updated",
                customer={"customer_id": "c-1"},
                at=NOW - timedelta(hours=3),
                cart_id="k1",
                value="44.49",
                currency="EUR",
                items=[{"product_id": "charger-1", "quantity": 2}],
                recovery_url="https://shop.example/cart/k1",
            ),
        ]
    )
    world.build_model()
    return pid


def concluded(world: World) -> InMemoryRulesStore:
    """What the rules function concluded from everything the world's customers did (their derived states)."""
    store = InMemoryRulesStore(world.repo)
    rules = RulesService(store, InMemoryPublisher(), RULES, world.clock, sleep=lambda s: None)
    for published in list(world.publisher.published):
        rules.on_event(published)
    return store


def build(
    world: World,
    request: MessageRequest,
    channel: Channel,
    links: dict[str, Any],
    coupon: IssuedCoupon | None = None,
    derived: DerivedState | None = None,
) -> TemplateContext:
    builder = ContextBuilder(
        world.catalog, RecommendationService(world.models, world.catalog, world.clock), "https://api.example/", derived
    )
    template = TEMPLATES.get("elektro-emma", request.template)
    profile = world.ingest.resolve("elektro-emma", request.profile_id)
    return builder.build(
        request,
        SHOP,
        template,
        profile,
        "de",
        channel,
        links,
        "https://u.example/x",
        library=TEMPLATES.content,
        coupon=coupon,
    )


ISSUED = IssuedCoupon("EMMA-7K2P-Q9XD", "shopify", "gid://shopify/DiscountCodeNode/1", NOW + timedelta(days=7))


def test_a_send_and_the_samples_give_templates_the_same_names(world):
    pid = customer_with_history(world)
    derived = concluded(world).derived
    real = build(world, world.request(pid, template="cross-sell"), Channel.EMAIL, {}, derived=derived).variables()
    assert real["customer"]["segments"]  # the rules' conclusions are there to compare
    (_, sample), *_ = sample_contexts("de")
    assert set(real) == set(sample) == ALLOWED_VARIABLES - {"preheader"}  # the renderer adds the preheader
    assert real["recommendations"] and real["last_purchase"] and real["cart"]  # every part is there to compare
    coupon = build(world, world.request(pid, template="cart-coupon"), Channel.EMAIL, {}, ISSUED).variables()["coupon"]
    newsletter = build(world, world.request(pid, template="personalised-newsletter"), Channel.EMAIL, {}).variables()
    assert newsletter["blocks"]  # the content library's blocks for this reader
    assert shape({**real, "coupon": coupon, "blocks": newsletter["blocks"]}) == shape(sample)
    assert callable(real["link"]) and callable(sample["link"])


def test_the_context_of_a_send(world):
    pid = customer_with_history(world)
    links: dict[str, Any] = {}
    request = world.request(pid, template="cart-coupon")
    context = build(world, request, Channel.SMS, links, ISSUED)
    assert context.customer.model_dump() == {
        "first_name": "Anna",
        "last_name": "Schmidt",
        "name": "Anna Schmidt",
        "email": "c-1@example.com",
        "city": "Berlin",
        "country": None,
        "locale": "de",
        "traits": context.customer.traits,
        "orders_count": 1,
        "tier": None,  # no rules' store given: no tier, stage or segments
        "lifecycle_stage": None,
        "segments": [],
    }
    assert context.customer.traits["plan"] == "plus"
    assert (context.shop.name, context.shop.url, context.shop.address) == (
        "Elektro Emma",
        "https://shop.example",
        "Hauptstraße 1, Berlin",
    )
    assert context.last_purchase is not None and context.last_purchase.title == "Pixel 9"
    assert context.cart is not None and [(line.title, line.quantity) for line in context.cart.items] == [("Charger", 2)]
    assert context.cart.value == "44,49 €" and context.cart.items[0].price == "24,50 €"
    assert context.coupon is not None and context.coupon.code == "EMMA-7K2P-Q9XD"  # the code the shop created
    assert context.coupon.valid_until == (NOW + timedelta(days=7)).strftime("%d.%m.%Y")  # when the shop's code ends
    without = build(world, request, Channel.EMAIL, {})
    assert without.coupon is None  # withheld by the incentive policy: the template's branch without a code
    assert context.message.model_dump() == {"channel": "sms", "template": "cart-coupon", "journey": "abandoned-cart"}
    assert context.recommendations == []  # the template asks for none
    short = context.link("https://shop.example/cart")
    assert short.startswith("https://api.example/v1/r/elektro-emma/")
    assert links[short.rsplit("/", 1)[1]]["channel"] == "sms"
    email = build(world, request, Channel.EMAIL, links)
    assert email.link("https://shop.example/cart") == "https://shop.example/cart"  # SES tracks email clicks


def test_every_sample_is_a_template_context_that_renders_as_its_variables():
    renderer = Renderer(TEMPLATES)
    for (name, context), (same, variables) in zip(samples("en", "sms"), sample_contexts("en", "sms"), strict=True):
        assert name == same and isinstance(context, TemplateContext)
        assert shape(context.variables()) == shape(variables)
        rendered = renderer.render("elektro-emma", "cart-reminder", "en", Channel.SMS, context.variables())
        assert rendered == renderer.render("elektro-emma", "cart-reminder", "en", Channel.SMS, variables)


def test_the_customer_carries_the_tier_stage_and_segments_the_rules_concluded(world):
    pid = customer_with_history(world)
    store = concluded(world)
    request = world.request(pid, template="cross-sell")
    customer = build(world, request, Channel.EMAIL, {}, derived=store.derived).customer
    state = store.derived("elektro-emma", pid)
    assert (customer.tier, customer.lifecycle_stage) == ("tier-silver", state.lifecycle_stage)  # 699 this year
    assert customer.lifecycle_stage is not None and customer.lifecycle_stage in customer.segments
    assert customer.segments == sorted(state.segments) and "tier-silver" in customer.segments
    world.ingest.ingest([order("o-2", "850.00", customer={"customer_id": "c-1"}, at=NOW - timedelta(days=2))])
    gold = build(world, request, Channel.EMAIL, {}, derived=concluded(world).derived).customer
    assert gold.tier == "tier-gold" and "tier-silver" not in gold.segments  # 1,549 this year

    def unreadable(shop: str, profile_id: str):
        raise TransientError("throttled")

    assert build(world, request, Channel.EMAIL, {}, derived=unreadable).customer.tier is None  # sent without


def test_the_samples_have_a_tier_and_the_new_customer_none():
    for locale in ("de", "en"):
        (_, known), (_, new), _ = samples(locale)
        assert known.customer.tier == "tier-silver" and known.customer.tier in known.customer.segments
        assert known.customer.lifecycle_stage in known.customer.segments
        assert (new.customer.tier, new.customer.lifecycle_stage, new.customer.segments) == (None, None, [])


def test_a_dispatched_loyalty_welcome_names_the_tier(world):
    pid = world.customer()
    for n in range(3):
        world.ingest.ingest([order(f"o-{n}", "40.00", customer={"customer_id": "c-1"}, at=NOW - timedelta(days=n + 1))])
    service = DispatchService(
        profiles=world.ingest.resolve,
        shops=world.shops,
        templates=TEMPLATES,
        log_store=world.log,
        caps=world.caps,
        deferrals=world.deferrals,
        links=world.links,
        senders=lambda shop, channel: world.senders[str(channel)],
        recorder=IngestRecorder(world.ingest, world.publisher),
        catalog=world.catalog,
        recommender=RecommendationService(world.models, world.catalog, world.clock),
        clock=world.clock,
        public_url="https://api.example/",
        derived=concluded(world).derived,
    )
    request = world.request(pid, template="loyalty-welcome", journey="loyalty-welcome")
    assert service.dispatch(request).outcome == "sent"
    (mail,) = world.sent()
    assert mail.subject == "Anna, willkommen im Silber-Status"
    assert "Silber-Status" in mail.html and "Rabatt" in mail.html and "%" not in mail.subject
