"""Every data-quality threshold in one place (docs/PRODUCT.md, "Data Quality Thresholds").

The per-row rules that read them are defined once, in ``rules``."""

MISSING_WARN_FRACTION = 0.05  # >5% rows with an empty input or output: warn, offer auto-remove
DUPLICATE_WARN_FRACTION = 0.02  # >2% exact duplicates: warn, offer dedup
AVG_INPUT_TOKENS_MIN = 10  # average input under 10 tokens: too short
AVG_OUTPUT_TOKENS_MAX = 1000  # average output over 1000 tokens: too long
IMBALANCE_RATIO = 10.0  # input/output length ratio beyond 10:1 either way: flag
SIZE_MIN = 100  # fewer examples: overfitting risk
SIZE_LARGE = 1_000_000  # more examples: large cost
LANGUAGE_SAMPLE_ROWS = (
    2000  # rows whose language is detected (the first ones; stated on the report)
)
# Characters of each such row the detector reads: its n-gram counting costs time in
# proportion, and a few hundred characters already name the language.
LANGUAGE_SAMPLE_CHARS = 300

# Per-row checks
VERY_SHORT_WORDS = 2  # an input or output of at most this many words is "very short"
VERY_LONG_CHARS = 10_000  # a side longer than this is "very long": costly, often pasted logs
# An output ending in "..." or "…" past this many characters looks cut off; a shorter one
# ("Let me think...") is more often a deliberate trailing off.
TRUNCATED_ELLIPSIS_MIN_CHARS = 40
# Imbalance (IMBALANCE_RATIO) counts only when the longer side is past this many characters:
# a short question with a one-line answer is lopsided by nature, not a mapping mistake.
IMBALANCE_MIN_CHARS = 200
# Texts shorter than this give the language detector too little to go on: no language.
LANGUAGE_MIN_CHARS = 20
# An output exactly this long, not ending as a sentence does, was likely cut at a field or
# buffer limit (powers of two, round numbers and one less).
TRUNCATION_LENGTHS = (
    255,
    256,
    500,
    511,
    512,
    1000,
    1023,
    1024,
    2000,
    2047,
    2048,
    4095,
    4096,
    8191,
    8192,
    32767,
)
PLACEHOLDERS = {
    "",
    "?",
    "??",
    "???",
    "????",
    "...",
    "-",
    "--",
    "n/a",
    "na",
    "none",
    "null",
    "nil",
    "nan",
    "tbd",
    "todo",
    "xxx",
    "test",
    "lorem ipsum",
}

FULL_SCORE = 100  # a row's score before penalties, and the most it can be
# Score penalties (a row starts at FULL_SCORE and never goes below 0)
PENALTY = {
    "placeholder": 90,
    "very_short": 40,
    "duplicate": 50,
    "truncated": 30,
    "encoding": 25,
    "language": 30,
    "imbalance": 20,
    "very_long": 15,
    "template": 40,
}

CHARS_PER_TOKEN = 4.0  # the approximation used before a base model is chosen
DEFAULT_TEST_FRACTION = 0.2
DEFAULT_SEED = 42
