#!/usr/bin/env python3
"""Writes K query rules (rule-file TOML, Elastic's detection-rules format) into a folder, for
scripts/bench and the scale scenario. Each rule has a unique rule_id and a KQL query over the
CloudTrail fields `lookout generate` fills: event.action values, user.name, source.ip
ranges, event.outcome and wildcards, with timestamp_override = event.ingested as the AWS rules of
the corpus have. Mixes:

  mixed  realistic: most rules find nothing in a 6-minute window, some find a few, a few are broad
  quiet  every rule finds nothing
  loud   every rule matches hundreds of events (capped by max_signals = 100)

Deterministic: rule n of a mix is always the same. Standard library only.
"""

import argparse
import os
import random

# Values `lookout generate` produces (src/generator): rare IAM writes, frequent read-only noise,
# its identities and source networks.
IAM_WRITES = ["CreateUser", "DeleteUser", "AddUserToGroup", "CreateGroup", "DeleteGroup",
              "AttachUserPolicy", "CreateAccessKey", "DeleteAccessKey", "ListGroupsForUser",
              "GetGroup", "ListAttachedUserPolicies", "ListAccessKeys"]
NOISE = ["AssumeRole", "GetCallerIdentity", "DescribeInstances", "Decrypt", "ListBuckets",
         "GenerateDataKey", "GetUser", "ListUsers", "ListRoles"]
USERS = ["app-server-role", "ci-deployer", "data-pipeline-lambda", "alice.nguyen", "terraform",
         "bob.martin", "GitHubActionsDeploy", "carol.smith", "dave.ops", "erin.admin",
         "OrganizationAccountAccessRole"]
NETWORKS = ["203.0.0.0/16", "198.51.0.0/16", "10.20.0.0/16", "52.59.0.0/16", "3.120.0.0/16",
            "81.2.0.0/16"]
SEVERITIES = [("low", 21), ("medium", 47), ("high", 73), ("critical", 99)]


def user(rng):
    return rng.choice(USERS)


def mixed_query(n, rng):
    """Rare IAM writes (few or no hits), users and networks, a few broad noisy rules."""
    kind = n % 10
    a, b = rng.sample(IAM_WRITES, 2)
    if kind == 0:
        return (f"event.dataset: aws.cloudtrail and event.provider: iam.amazonaws.com and "
                f"event.action: {a} and event.outcome: success")
    if kind == 1:
        return f"event.action: ({a} or {b}) and not user.name: {user(rng)}"
    if kind == 2:
        return f"user.name: {user(rng)} and event.outcome: failure"
    if kind == 3:
        return f'source.ip: "{rng.choice(NETWORKS)}" and event.action: {a}'
    if kind == 4:
        fragment = rng.choice(["Group", "AccessKey", "Key", "Policy", "User"])
        return f"event.action: *{fragment}* and event.outcome: success"
    if kind == 5:
        return ("event.provider: signin.amazonaws.com and event.action: ConsoleLogin and "
                f'event.outcome: failure and not source.ip: "{rng.choice(NETWORKS)}"')
    if kind == 6:
        return f"event.action: Get* and user.name: {user(rng)}"
    if kind == 7:
        return f"event.action: {rng.choice(NOISE)} and user.name: ({user(rng)} or {user(rng)})"
    if kind == 8:
        return (f"event.category: iam and event.type: (group or user) and event.action: {a} and "
                f"not source.ip: \"{rng.choice(NETWORKS)}\"")
    return f"event.action: {rng.choice(NOISE)} and event.outcome: failure"


def quiet_query(n, rng):
    """Real fields and values, combinations that never occur."""
    return f"event.action: {rng.choice(IAM_WRITES)} and user.name: nobody-{n}"


def loud_query(n, rng):
    return f"event.dataset: aws.cloudtrail and event.outcome: success and not user.name: nobody-{n}"


QUERIES = {"mixed": mixed_query, "quiet": quiet_query, "loud": loud_query}


def rule_text(n, mix, index, interval, lookback, rng):
    severity, risk = rng.choice(SEVERITIES)
    query = QUERIES[mix](n, rng)
    return f"""[metadata]
creation_date = "2026/01/01"
integration = ["aws"]
maturity = "production"
updated_date = "2026/01/01"

[rule]
author = ["lookout bench"]
description = '''Bench rule {n} ({mix}): {query}'''
from = "now-{lookback}"
index = ["{index}"]
interval = "{interval}"
language = "kuery"
license = "Apache-2.0"
max_signals = 100
name = "Bench rule {n:05d} ({mix})"
risk_score = {risk}
rule_id = "bench-{mix}-{n:05d}"
severity = "{severity}"
tags = ["Domain: Cloud", "Data Source: AWS", "Bench"]
timestamp_override = "event.ingested"
type = "query"

query = '''
{query}
'''
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--index", default="logs-aws.cloudtrail-bench*")
    parser.add_argument("--mix", choices=sorted(QUERIES), default="mixed")
    parser.add_argument("--interval", default="5m")
    parser.add_argument("--lookback", default="6m", help="from = now-<lookback>")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for n in range(args.count):
        rng = random.Random(f"{args.mix}-{n}")
        path = os.path.join(args.out, f"bench_{args.mix}_{n:05d}.toml")
        with open(path, "w", encoding="utf-8") as out:
            out.write(rule_text(n, args.mix, args.index, args.interval, args.lookback, rng))


if __name__ == "__main__":
    main()
