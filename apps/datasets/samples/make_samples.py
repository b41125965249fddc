"""Regenerates the sample datasets in this folder (deterministic; our own text, no licence strings attached).

python apps/datasets/samples/make_samples.py
"""

import csv
import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
rng = random.Random(7)

PRODUCTS = [
    "the mobile app",
    "the web dashboard",
    "the desktop app",
    "the API",
    "the browser extension",
]
TOPICS = [
    (
        "reset my password",
        "Go to Settings > Security > Reset Password. We'll e-mail you a link that works for 30 minutes. If it doesn't arrive, check your spam folder.",
    ),
    (
        "change the e-mail on my account",
        "Open Settings > Profile, enter the new address and confirm it from the e-mail we send. Your old address keeps working until then.",
    ),
    (
        "cancel my subscription",
        "Go to Billing > Plan and choose Cancel. You keep access until the end of the paid period and won't be charged again.",
    ),
    (
        "get an invoice for last month",
        "Invoices are under Billing > Invoices. Click the month to download a PDF; it includes your company details if you added them.",
    ),
    (
        "export my data",
        "Use Settings > Data > Export. We prepare a ZIP with everything in your account and e-mail you a download link within an hour.",
    ),
    (
        "add a team member",
        "Open Team > Members and click Invite. They get an e-mail with a link; you choose their role before sending it.",
    ),
    (
        "turn on two-factor authentication",
        "Go to Settings > Security > Two-factor and scan the QR code with an authenticator app, then enter the six-digit code.",
    ),
    (
        "delete my account",
        "Go to Settings > Account > Delete account. We ask you to confirm by e-mail, then remove your data within 30 days.",
    ),
    (
        "sync stopped working",
        "Sign out and back in, then check Settings > Sync shows 'On'. If it still fails, send us the time it stopped and we'll look at the logs.",
    ),
    (
        "upgrade to the Pro plan",
        "Go to Billing > Plan and pick Pro. The price difference for the rest of this month is prorated on your next invoice.",
    ),
    (
        "get a refund",
        "Refunds are possible within 14 days of a charge. Reply with the invoice number and we'll process it in 3-5 business days.",
    ),
    (
        "change the language",
        "Open Settings > Preferences > Language and pick one; the app switches right away, no restart needed.",
    ),
]
OPENERS = [
    "How do I {t} in {p}?",
    "I can't figure out how to {t} in {p}.",
    "Hi, what's the way to {t}? I'm using {p}.",
    "Quick question: can I {t} from {p}?",
    "Help! I need to {t} and {p} isn't showing me how.",
]
CLOSERS = [
    "",
    " Let us know if anything is unclear!",
    " Happy to help further if needed.",
    " Thanks for reaching out.",
]


def support():
    rows = []
    for n in range(300):
        topic, answer = rng.choice(TOPICS)
        message = rng.choice(OPENERS).format(t=topic, p=rng.choice(PRODUCTS))
        rows.append(
            [
                f"T{10000 + n}",
                f"2026-0{rng.randint(1, 9)}-{rng.randint(10, 28)}T{rng.randint(10, 23)}:{rng.randint(10, 59)}:00Z",
                message,
                answer + rng.choice(CLOSERS),
            ]
        )
    # What real exports contain: an exact duplicate, empty cells, a placeholder.
    rows[40][2:] = rows[12][2:]
    rows[41][2:] = rows[13][2:]
    rows[77][3] = ""
    rows[150][2] = ""
    rows[201][2:] = ["???", "???"]
    with open(HERE / "customer_support.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["ticket_id", "created_at", "customer_message", "support_reply"])
        writer.writerows(rows)


ASPECTS = {
    "battery": ["lasts all day", "dies by noon"],
    "screen": ["is bright and sharp", "scratches easily"],
    "delivery": ["arrived a day early", "took three weeks"],
    "price": ["is fair for what you get", "is far too high"],
    "sound": ["is rich and clear", "crackles at high volume"],
    "setup": ["took five minutes", "was a nightmare"],
}


def reviews():
    with open(HERE / "product_reviews.jsonl", "w", encoding="utf-8") as f:
        for _ in range(240):
            aspect, (good, bad) = rng.choice(list(ASPECTS.items()))
            kind = rng.choice(["positive", "negative", "neutral"])
            if kind == "positive":
                text = f"The {aspect} {good}. Really happy with it."
            elif kind == "negative":
                text = f"The {aspect} {bad}. I would not buy this again."
            else:
                other, (g2, b2) = rng.choice(list(ASPECTS.items()))
                text = f"The {aspect} {good}, but the {other} {b2}."
            f.write(json.dumps({"text": text, "label": kind}) + "\n")


def alpaca():
    items = []
    for _ in range(120):
        task = rng.choice(["convert", "rewrite", "summarise"])
        if task == "convert":
            km = rng.randint(1, 500)
            items.append(
                {
                    "instruction": "Convert the distance from kilometres to miles.",
                    "input": f"{km} km",
                    "output": f"{km} km is about {km * 0.621371:.1f} miles.",
                }
            )
        elif task == "rewrite":
            topic, answer = rng.choice(TOPICS)
            items.append(
                {
                    "instruction": "Rewrite the reply so it is shorter and friendlier.",
                    "input": answer,
                    "output": answer.split(". ")[0] + ". Hope that helps!",
                }
            )
        else:
            topic, answer = rng.choice(TOPICS)
            items.append(
                {
                    "instruction": f"In one sentence, how does a customer {topic}?",
                    "input": "",
                    "output": answer.split(". ")[0] + ".",
                }
            )
    (HERE / "alpaca_tasks.json").write_text(json.dumps(items, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    support()
    reviews()
    alpaca()
