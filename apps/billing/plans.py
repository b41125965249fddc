"""The plans, as data: seeded by a migration, edited in the admin, priced in Stripe.

docs/PRODUCT.md "Plans" fixes the rate limits (Free 100 requests/min per key, Pro 1,000, Enterprise custom).
The other figures are our product's current defaults, not fixed there: they are rows, so changing them is
an admin edit. What a unit of usage costs is not here: GPU time is the hardware's hourly price
(the catalog) and tokens INFERENCE_PRICE_PER_1K_TOKENS; Stripe's prices bill the meters, and
"included" amounts are modelled there as a free first tier.
"""

from __future__ import annotations

from decimal import Decimal

PLANS = [
    {
        "slug": "free",
        "name": "Free",
        "order": 0,
        "monthly_price_usd": Decimal("0"),
        "rate_limit_rpm": 100,
        "concurrent_runs": 1,
        "max_replicas": 1,
        "included_gpu_hours": Decimal("1"),
        "included_tokens": 100_000,
        "description": "Learn the workflow: the bundled model on CPU, one run at a time.",
    },
    {
        "slug": "pro",
        "name": "Pro",
        "order": 1,
        "monthly_price_usd": Decimal("49"),
        "rate_limit_rpm": 1000,
        "concurrent_runs": 3,
        "max_replicas": 2,
        "included_gpu_hours": Decimal("10"),
        "included_tokens": 5_000_000,
        "description": "Production endpoints and GPU training, pay for what you use beyond.",
    },
    {
        "slug": "enterprise",
        "name": "Enterprise",
        "order": 2,
        "monthly_price_usd": Decimal("499"),
        "rate_limit_rpm": 10_000,
        "concurrent_runs": 10,
        "max_replicas": 8,
        "included_gpu_hours": Decimal("100"),
        "included_tokens": 100_000_000,
        "description": "Custom limits for teams with many endpoints.",
    },
]


def load(Plan) -> None:
    """Write the rows; a migration's historical Plan may predate some fields (only those it has)."""
    fields = {field.name for field in Plan._meta.get_fields()}
    for row in PLANS:
        values = {name: value for name, value in row.items() if name in fields}
        Plan.objects.update_or_create(slug=row["slug"], defaults=values)
