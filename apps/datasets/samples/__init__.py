"""Sample datasets of our own making, for the demo, the tests and users with no data yet."""

from pathlib import Path

HERE = Path(__file__).resolve().parent

SAMPLES = {
    "customer-support": {
        "file": HERE / "customer_support.csv",
        "title": "Customer support replies",
        "description": "300 questions about a SaaS product and the support team's replies (CSV, with a few real-world flaws to fix).",
    },
    "product-reviews": {
        "file": HERE / "product_reviews.jsonl",
        "title": "Product review sentiment",
        "description": "240 short reviews labelled positive, negative or neutral (JSONL classification).",
    },
    "alpaca-tasks": {
        "file": HERE / "alpaca_tasks.json",
        "title": "Instruction tasks (Alpaca style)",
        "description": "120 instruction / input / output examples: conversions, rewrites, one-line answers (JSON).",
    },
}
