"""What billing tells the apps above it, and asks of them.

- `limits_changed`: a plan, a billing account, a budget or a spending stop changed; the
  gateway looks its cached limits up again.
- `budget_exhausted` (``team_id``, ``sentence``): the team's budget is used up. Receivers stop
  what spends (training stops its running runs) and return what they stopped, in words.
- `running_cost` (``team_id``): a question. Each app whose work is billed when it ends returns
  what that work has used so far (a Decimal); the budget counts it now.

All three are sent synchronously, inside the caller's transaction.
"""

from django.dispatch import Signal

limits_changed = Signal()
budget_exhausted = Signal()
running_cost = Signal()
