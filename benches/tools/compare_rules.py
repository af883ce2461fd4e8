#!/usr/bin/env python3
"""Writes the rules of the side-by-side benchmark with ElastAlert 2 (scripts/bench, docs/benchmarks.md):
K rules, the same K for both tools. Rule n looks for IAM action ACTIONS[n % 25] succeeding:

  lookout (TOML, Elastic's detection-rules format), KQL:
    event.dataset:aws.cloudtrail and event.provider:iam.amazonaws.com and event.action:X
      and event.outcome:success
    timestamp_override = "event.ingested", timestamp_override_fallback_disabled = true,
    from = "now-6m", interval = "5m"
  ElastAlert 2 (YAML), an `any` rule with the same four conditions as `term` filters,
    timestamp_field: event.ingested, realert: 0 minutes, alert: debug (the alert is logged and
    written to its writeback index), buffer_time: 361 seconds (its window ends at --end).
    ElastAlert's range leaves out its start (`gt`), lookout's, as Kibana's, keeps it (`gte`);
    the generated events are stamped to the second, so ElastAlert's (11:53:59, 12:00:00] holds
    the same events as lookout's [11:54:00, 12:00:00]. With 6 minutes, an event ingested at
    11:54:00 exactly is an alert for lookout only.

The fallback is disabled because ElastAlert's rule never looks at @timestamp: with Kibana's
default (`--fallback`), lookout's rule also selects documents that lack event.ingested by their
@timestamp, a different detection that costs the server an `exists` over the index per search
(docs/benchmarks.md). The events have event.ingested, so both select the same documents.

PRESENT are the 18 IAM actions `lookout generate` produces; ABSENT are 7 real IAM actions it
never produces (scripts/bench checks both against the loaded events). `--check-counts FILE`
instead reads the answer of a terms aggregation on event.action (JSON) and exits non-zero,
saying which, when an action is not where this file says. Standard library only.
"""

import argparse
import json
import os
import sys

PRESENT = ["ListUsers", "GetUser", "ListRoles", "ListGroups", "GetGroup", "ListGroupsForUser",
           "ListAttachedUserPolicies", "ListAccessKeys", "GetAccountSummary", "CreateUser",
           "DeleteUser", "CreateAccessKey", "DeleteAccessKey", "AttachUserPolicy",
           "AttachGroupPolicy", "RemoveUserFromGroup", "DeleteGroup", "UpdateLoginProfile"]
ABSENT = ["CreateLoginProfile", "PutUserPolicy", "DetachUserPolicy", "UpdateAssumeRolePolicy",
          "CreatePolicyVersion", "DeleteRolePolicy", "DeactivateMFADevice"]
ACTIONS = PRESENT + ABSENT


def action(n):
    return ACTIONS[n % len(ACTIONS)]


def lookout_rule(n, index, fallback):
    query = ("event.dataset:aws.cloudtrail and event.provider:iam.amazonaws.com and "
             f"event.action:{action(n)} and event.outcome:success")
    return f"""[metadata]
creation_date = "2026/01/01"
integration = ["aws"]
maturity = "production"
updated_date = "2026/01/01"

[rule]
author = ["lookout bench"]
description = "Side-by-side rule {n}: a successful {action(n)}"
from = "now-6m"
index = ["{index}"]
interval = "5m"
language = "kuery"
license = "Apache-2.0"
max_signals = 100
name = "IAM {n:04d} {action(n)}"
risk_score = 21
rule_id = "compare-{n:04d}"
severity = "low"
timestamp_override = "event.ingested"
timestamp_override_fallback_disabled = {"false" if fallback else "true"}
type = "query"

query = '''
{query}
'''
"""


def elastalert_rule(n, index):
    return f"""name: "IAM {n:04d} {action(n)}"
type: any
index: "{index}"
timestamp_field: event.ingested
realert:
  minutes: 0
buffer_time:
  seconds: 361
filter:
- term:
    event.dataset: aws.cloudtrail
- term:
    event.provider: iam.amazonaws.com
- term:
    event.action: {action(n)}
- term:
    event.outcome: success
alert:
- debug
"""


def check_counts(path):
    """Exits 1 naming the actions whose presence in the events is not as PRESENT/ABSENT say."""
    with open(path, encoding="utf-8") as answer:
        buckets = json.load(answer)["aggregations"]["actions"]["buckets"]
    counts = {bucket["key"]: bucket["doc_count"] for bucket in buckets}
    missing = [a for a in PRESENT if counts.get(a, 0) == 0]
    unexpected = [a for a in ABSENT if counts.get(a, 0) > 0]
    if missing or unexpected:
        print(f"the events do not fit the comparison rules: never succeed {missing}, "
              f"succeed but should not {unexpected}", file=sys.stderr)
        sys.exit(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int)
    parser.add_argument("--lookout-out")
    parser.add_argument("--elastalert-out")
    parser.add_argument("--index", default="logs-aws.cloudtrail-bench*")
    parser.add_argument("--check-counts", metavar="FILE")
    parser.add_argument("--fallback", action="store_true",
                        help="keep Kibana's @timestamp fallback in lookout's rules")
    args = parser.parse_args()
    if args.check_counts:
        check_counts(args.check_counts)
        return
    if args.count is None or not args.lookout_out or not args.elastalert_out:
        parser.error("--count, --lookout-out and --elastalert-out are required")
    os.makedirs(args.lookout_out, exist_ok=True)
    os.makedirs(args.elastalert_out, exist_ok=True)
    for n in range(args.count):
        with open(os.path.join(args.lookout_out, f"compare_{n:04d}.toml"), "w",
                  encoding="utf-8") as out:
            out.write(lookout_rule(n, args.index, args.fallback))
        with open(os.path.join(args.elastalert_out, f"compare_{n:04d}.yaml"), "w",
                  encoding="utf-8") as out:
            out.write(elastalert_rule(n, args.index))


if __name__ == "__main__":
    main()
