"""Quota overshoot under concurrency: 50 callers released at once against one virtual key, for each kind of
limit; prints a Markdown table.

Each caller is an OpenAI client (``openai`` library) sending one chat completion (``max_tokens: 7``) to the
gateway handler served over loopback HTTP; the provider is the loopback fake (11 prompt + 7 completion tokens,
$5.85 per million requests of that size at the test prices); DynamoDB is moto's server app answering one request
at a time, as DynamoDB applies each conditional write atomically. Overshoot is what was served beyond the limit:
requests beyond ``rpm``, tokens beyond ``tpd``, USD beyond the budget. Repeated ``--rounds`` times (fresh table
each time); the table shows min / median / max over the rounds.

Usage: ``python bench/bench_gateway_quota.py [--rounds 3] [--callers 50]``
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "handlers"), str(ROOT / "lambda_src"), str(ROOT)]
for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                    ("AWS_DEFAULT_REGION", "us-east-1"), ("AWS_REGION", "us-east-1")):  # fmt: skip
    os.environ.setdefault(name, value)

TOKENS_PER_CALL = 18
COST_PER_CALL = Decimal("0.00000585")
LIMITS: dict[str, dict[str, Any]] = {
    "rpm = 10": {"rpm": 10},
    "tpd = 200 tokens": {"tpd": 200},
    "budget = $0.00006": {"budget_usd": Decimal("0.00006")},
}


def _patient_provider(config: dict[str, Any]) -> None:
    """Many callers at once on a busy machine: the test provider's 2 s timeout would turn slowness into 504s."""
    config["providers"]["oa"]["timeout_s"] = 30


def one_round(limit: dict[str, Any], callers: int) -> tuple[int, float]:
    """(served, overshoot in the limit's unit)."""
    from gateway_fakes import GatewayEnv, concurrent_completions, serialized_moto_server

    with contextlib.redirect_stdout(io.StringIO()), serialized_moto_server() as endpoint, \
            GatewayEnv(_patient_provider, moto_endpoint=endpoint) as env:  # fmt: skip
        served = sum(1 for usage in concurrent_completions(env.create_key(**limit), callers) if usage is not None)
        assert env.oa.calls == served
    if "rpm" in limit:
        return served, max(0, served - limit["rpm"])
    if "tpd" in limit:
        return served, max(0, served * TOKENS_PER_CALL - limit["tpd"])
    return served, float(max(Decimal(0), served * COST_PER_CALL - limit["budget_usd"]))


def main(argv: list[str] | None = None) -> int:
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--callers", type=int, default=50)
    args = parser.parse_args(argv)
    print(f"### Quota overshoot, {args.callers} concurrent callers on one key ({args.rounds} rounds; "
          "min / median / max)\n")
    print("| limit | served | overshoot | most that fits |")
    print("| --- | ---: | ---: | ---: |")
    for label, limit in LIMITS.items():
        results = [one_round(limit, args.callers) for _ in range(args.rounds)]
        served = [r[0] for r in results]
        over = [r[1] for r in results]
        fits = limit.get("rpm") or (limit["tpd"] // TOKENS_PER_CALL if "tpd" in limit
                                    else int(limit["budget_usd"] / COST_PER_CALL))  # fmt: skip
        print(f"| {label} | {min(served)} / {statistics.median(served):g} / {max(served)} | "
              f"{min(over):g} / {statistics.median(over):g} / {max(over):g} | {fits} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
