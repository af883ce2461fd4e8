#!/usr/bin/env python3
"""Runs every ElastAlert 2 rule once and exits: the side of the side-by-side benchmark that
`lookout run --once` faces (scripts/bench, docs/benchmarks.md). Run it with the Python of the
ElastAlert virtual environment (scripts/lib/elastalert.sh) and ElastAlert's own flags:

  elastalert_once.py --config config.yaml --end 2026-01-10T12:00:00Z --verbose

ElastAlert's daemon (`elastalert --end ..`) runs each rule from a scheduler that starts it 0 to 15
seconds late at random and then sleeps until its next tick before it exits, which would measure
sleeps. This does what the scheduler does on a rule's first tick, without the waits: each rule's
`handle_rule_execution` (its window from `buffer_time` before --end, the search, the alerts, the
writeback of the alerts and of the rule's status), in a pool of `max_threads` threads as the
scheduler's executor has. Then it prints one JSON line: {"rules": n, "errors": n}. The alerts are
counted by the caller in the writeback index.
"""

import json
import logging
import sys
from concurrent.futures import ThreadPoolExecutor

from elastalert.elastalert import ElastAlerter


class ErrorCounter(logging.Handler):
    """Counts the errors ElastAlert logs (a failed search, a failed writeback, a rule crash)."""

    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.count = 0

    def emit(self, record):
        self.count += 1


def main(args):
    errors = ErrorCounter()
    logging.getLogger("elastalert").addHandler(errors)
    client = ElastAlerter(args)
    if not client.rules:
        print("no ElastAlert rules were loaded", file=sys.stderr)
        return 2
    with ThreadPoolExecutor(max_workers=client.conf.get("max_threads", 10)) as pool:
        list(pool.map(client.handle_rule_execution, client.rules))
    print(json.dumps({"rules": len(client.rules), "errors": errors.count}))
    return 1 if errors.count else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
