"""Orders: validation, money arithmetic, the table's item shapes and the ``order_created`` event.

Table layout (one table, partition key ``pk`` only):

* ``ORDER#<order_id>`` - the order, with ``gsi1pk = DAY#<yyyy-mm-dd>`` and ``gsi1sk = <created_at>#<order_id>``
  so the by-day index can list a day's orders in creation order.
* ``NOTIFICATION#<order_id>`` - the rendered confirmation (no ``gsi1pk``, so it stays out of the index).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

CURRENCIES = frozenset({"USD", "EUR", "GBP"})
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£"}
CENT = Decimal("0.01")
EVENT_ORDER_CREATED = "order_created"
# Keys are limited to 2 KB in DynamoDB; a far smaller cap keeps ids sane in logs and notifications too.
MAX_ID_CHARS = 128
# Fixed width, so comparing the strings compares the instants (the by-day index sorts on it).
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


class InvalidOrderError(ValueError):
    """The message is not a valid order; the worker reports it failed so it ends in the dead-letter queue."""


@dataclass(frozen=True, slots=True)
class OrderLine:
    sku: str
    quantity: int
    unit_price: Decimal

    @property
    def line_total(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass(frozen=True, slots=True)
class Order:
    order_id: str
    customer_id: str
    currency: str
    lines: tuple[OrderLine, ...]

    @property
    def total(self) -> Decimal:
        # Unit prices may carry sub-cent precision; only the charged total is rounded, once.
        return sum((line.line_total for line in self.lines), Decimal(0)).quantize(
            CENT, rounding=ROUND_HALF_UP
        )


def order_pk(order_id: str) -> str:
    return f"ORDER#{order_id}"


def notification_pk(order_id: str) -> str:
    return f"NOTIFICATION#{order_id}"


def day_pk(day: str) -> str:
    return f"DAY#{day}"


def format_timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def parse_timestamp(text: str) -> datetime:
    return datetime.strptime(text, TIMESTAMP_FORMAT).replace(tzinfo=UTC)


def _identifier(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidOrderError(f"{field} must be a non-empty string")
    if len(value) > MAX_ID_CHARS:
        raise InvalidOrderError(f"{field} is longer than {MAX_ID_CHARS} characters")
    return value


def _decimal(value: Any, field: str, *, allow_text: bool) -> Decimal:
    # bool is an int subclass, and JSON's true must not become a price of 1.
    if isinstance(value, bool):
        raise InvalidOrderError(f"{field} must be a number")
    if isinstance(value, (int, Decimal)):
        number = Decimal(value)
    elif isinstance(value, float):
        # repr() is the shortest text that round-trips, i.e. what the sender wrote for any sane price.
        number = Decimal(repr(value))
    elif allow_text and isinstance(value, str):
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise InvalidOrderError(f"{field} must be a number") from None
    else:
        raise InvalidOrderError(f"{field} must be a number")
    if not number.is_finite():
        raise InvalidOrderError(f"{field} must be finite")
    return number


def _quantity(value: Any, field: str) -> int:
    if isinstance(value, bool):
        raise InvalidOrderError(f"{field} must be a positive integer")
    if isinstance(value, Decimal) and value == value.to_integral_value():
        value = int(value)
    if not isinstance(value, int) or value <= 0:
        raise InvalidOrderError(f"{field} must be a positive integer")
    return value


def parse_order(body: Any, *, allow_text_numbers: bool = False) -> Order:
    """Validate an order body; raises :class:`InvalidOrderError` naming the first bad field."""
    if not isinstance(body, Mapping):
        raise InvalidOrderError("order must be a JSON object")
    currency = body.get("currency")
    if currency not in CURRENCIES:
        raise InvalidOrderError(f"currency must be one of {', '.join(sorted(CURRENCIES))}")
    items = body.get("items")
    if not isinstance(items, list) or not items:
        raise InvalidOrderError("items must be a non-empty list")
    lines: list[OrderLine] = []
    for index, item in enumerate(items):
        where = f"items[{index}]"
        if not isinstance(item, Mapping):
            raise InvalidOrderError(f"{where} must be an object")
        price = _decimal(item.get("unit_price"), f"{where}.unit_price", allow_text=allow_text_numbers)
        if price < 0:
            raise InvalidOrderError(f"{where}.unit_price must not be negative")
        lines.append(
            OrderLine(
                sku=_identifier(item.get("sku"), f"{where}.sku"),
                quantity=_quantity(item.get("quantity"), f"{where}.quantity"),
                unit_price=price,
            )
        )
    return Order(
        order_id=_identifier(body.get("order_id"), "order_id"),
        customer_id=_identifier(body.get("customer_id"), "customer_id"),
        currency=str(currency),
        lines=tuple(lines),
    )


def order_item(order: Order, created_at: datetime, source_message_id: str) -> dict[str, Any]:
    """The order as stored (plain Python values; numbers as Decimal for DynamoDB)."""
    created = format_timestamp(created_at)
    return {
        "pk": order_pk(order.order_id),
        "entity": "ORDER",
        "order_id": order.order_id,
        "customer_id": order.customer_id,
        "currency": order.currency,
        "items": [
            {"sku": line.sku, "quantity": line.quantity, "unit_price": line.unit_price}
            for line in order.lines
        ],
        "total": order.total,
        "created_at": created,
        "gsi1pk": day_pk(created[:10]),
        "gsi1sk": f"{created}#{order.order_id}",
        "source_message_id": source_message_id,
    }


def order_from_item(item: Mapping[str, Any]) -> Order:
    return parse_order(item, allow_text_numbers=True)


def _price_text(amount: Decimal) -> str:
    # Keep sub-cent unit prices exact, but show whole amounts with the usual two decimals.
    return f"{amount:.2f}" if amount == amount.quantize(CENT) else str(amount.normalize())


def order_created_event(order: Order, created_at: str, *, republished: bool = False) -> dict[str, Any]:
    """The event published on the order topic. Amounts are strings so no consumer sees a binary float."""
    event: dict[str, Any] = {
        "event_type": EVENT_ORDER_CREATED,
        "order_id": order.order_id,
        "customer_id": order.customer_id,
        "currency": order.currency,
        "items": [
            {"sku": line.sku, "quantity": line.quantity, "unit_price": _price_text(line.unit_price)}
            for line in order.lines
        ],
        "total": f"{order.total:.2f}",
        "created_at": created_at,
    }
    if republished:
        event["republished"] = True
    return event


def parse_order_created_event(body: Any) -> tuple[Order, str]:
    """``(order, created_at)`` from an ``order_created`` event; the stated total must match the items."""
    order = parse_order(body, allow_text_numbers=True)
    stated = _decimal(body.get("total"), "total", allow_text=True)
    if stated != order.total:
        raise InvalidOrderError(f"total {stated} does not match the items ({order.total})")
    created_at = body.get("created_at")
    return order, created_at if isinstance(created_at, str) else ""


def money(amount: Decimal, currency: str) -> str:
    return f"{CURRENCY_SYMBOLS.get(currency, '')}{_price_text(amount)} {currency}"


def render_confirmation(order: Order) -> tuple[str, str]:
    """``(subject, text)`` of the order confirmation."""
    subject = f"Order {order.order_id} confirmed"
    lines = [f"Hello {order.customer_id},", "", f"Thank you for your order {order.order_id}.", ""]
    for line in order.lines:
        lines.append(
            f"  {line.quantity} x {line.sku} @ {money(line.unit_price, order.currency)}"
            f" = {money(line.line_total, order.currency)}"
        )
    lines += ["", f"Total: {money(order.total, order.currency)}"]
    return subject, "\n".join(lines)
