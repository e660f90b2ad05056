"""The shop's admins import their catalog: PUT /v1/catalog/products (what `emma catalog import` sends).

Order of checks: admin key (401), the named shop (403), the whole body (400/422; nothing is stored
when any product is invalid), then each product becomes a catalog.product_upserted event, ingested
like a shop's product webhook: stored in the catalog table, idempotent, published on the bus.

Event ids are derived from the product's content (``import:<sha256 of its canonical JSON>[:32]``):
importing the same product again is a duplicate, a changed product is an update.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import ValidationError

from emma.errors import Forbidden, InvalidPayload, InvalidProducts
from emma.events.model import CatalogEvent, CatalogProps, EventType, ProductInfo, Source, SourceKind
from ingest import deps
from ingest.http import admin_shop, json_response, raw_body
from ingest.schemas import CATALOG_RESPONSES

router = APIGatewayHttpRouter()
metrics = Metrics()

MAX_PRODUCTS = 100
MAX_ERRORS = 10  # named in one response; the rest are counted
SOURCE_NAME = "catalog-import"


def _canonical(product: ProductInfo) -> str:
    """The product's JSON with sorted keys and a normalised price: equal products, equal text."""
    data = product.model_dump(mode="json", exclude_none=True)
    if product.price is not None:
        data["price"] = format(product.price.normalize(), "f")  # 649.00 and 649 are one price
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def import_event_id(product: ProductInfo) -> str:
    return "import:" + hashlib.sha256(_canonical(product).encode("utf-8")).hexdigest()[:32]


def _field(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def validate_products(items: Any) -> list[ProductInfo]:
    """Every product or an error naming each bad item and field (products[3].price: ...)."""
    if not isinstance(items, list):
        raise InvalidProducts("products: expected a list of products")
    if not 1 <= len(items) <= MAX_PRODUCTS:
        raise InvalidProducts(f"products: send 1 to {MAX_PRODUCTS} products per request, got {len(items)}")
    products: list[ProductInfo] = []
    problems: list[str] = []
    first_seen: dict[str, int] = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            problems.append(f"products[{i}]: expected an object, got {type(item).__name__}")
            continue
        try:
            product = ProductInfo.model_validate(item)
        except ValidationError as exc:
            for error in exc.errors():
                where = _field(tuple(error.get("loc", ())))
                problems.append(f"products[{i}]{'.' + where if where else ''}: {error.get('msg')}")
            continue
        if not product.product_id:
            problems.append(f"products[{i}].product_id: must not be blank")
            continue
        if product.product_id in first_seen:
            problems.append(
                f"products[{i}].product_id: {product.product_id!r} is also products[{first_seen[product.product_id]}]"
            )
            continue
        first_seen[product.product_id] = i
        products.append(product)
    if problems:
        more = f"; and {len(problems) - MAX_ERRORS} more" if len(problems) > MAX_ERRORS else ""
        raise InvalidProducts("; ".join(problems[:MAX_ERRORS]) + more)
    return products


def _body() -> dict[str, Any]:
    data = raw_body(router.current_event)
    try:
        body = json.loads(data or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidPayload(f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict) or "products" not in body:
        raise InvalidPayload('send a JSON object {"products": [...]}')
    extra = sorted(set(body) - {"products"})
    if extra:
        raise InvalidProducts(f"{extra[0]}: unknown field; the body holds only products")
    return body


@router.put(
    "/v1/catalog/products",
    cors=False,
    summary="Import catalog products",
    tags=["catalog"],
    description=f"Create or update 1 to {MAX_PRODUCTS} products of the shop (what `emma catalog import` sends). "
    "Authenticate with the shop's admin key: Authorization: Bearer <key>; shop (optional) must name the key's "
    "shop. Each product is validated first (422 names the item and field, nothing is stored); then each becomes a "
    "catalog.product_upserted event with an id derived from its content, so sending the same product again "
    "counts as a duplicate and a changed product updates the stored one (fields left out are kept).",
    responses=CATALOG_RESPONSES,
)
def import_products(
    shop: Annotated[str | None, Query(description="the shop the caller means; 403 if the key is another's")] = None,
):
    components = deps.intake()
    config = admin_shop(components.shops, router.current_event)
    if shop is not None and shop != config.shop:
        raise Forbidden(f"this admin key belongs to shop {config.shop!r}, not {shop!r}")
    products = validate_products(_body()["products"])
    now = components.service.clock.now()  # the clock the ingest service stamps with
    source = Source(kind=SourceKind.EMMA, name=SOURCE_NAME)
    events = [
        CatalogEvent(
            id=import_event_id(product),
            type=EventType.PRODUCT_UPSERTED,
            shop=config.shop,
            occurred_at=now,
            received_at=now,
            source=source,
            properties=CatalogProps(product=product),
        )
        for product in products
    ]
    report = components.service.ingest(events)
    metrics.add_dimension("shop", config.shop)
    metrics.add_metric("CatalogProductsStored", MetricUnit.Count, len(report.accepted))
    metrics.add_metric("CatalogProductsDuplicate", MetricUnit.Count, len(report.duplicates))
    return json_response(
        200, {"received": len(products), "stored": len(report.accepted), "duplicates": len(report.duplicates)}
    )
