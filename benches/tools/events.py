#!/usr/bin/env python3
"""Loads N synthetic CloudTrail events into an index of the test server, for scripts/bench.

Stand-in until `lookout generate --bulk` (the gen stream) lands. Each event is one of the real ECS
documents of ../shared/fixtures/cloudtrail/ecs-samples.ndjson with its action, user, source ip,
outcome and times varied: @timestamp uniform over [start, end], event.ingested = @timestamp plus
a realistic lag (log-normal, median about 80 s, capped at 30 min). event.original is dropped, as
the AWS integration does unless preserve_original_event is set. Deterministic for a given seed.
Standard library only.
"""

import argparse
import datetime as dt
import json
import random
import sys
import urllib.request

# (action, provider, weight): read-heavy noise first, then the rarer IAM writes the rules look for.
ACTIONS = [
    ("AssumeRole", "sts.amazonaws.com", 300),
    ("GetCallerIdentity", "sts.amazonaws.com", 120),
    ("ConsoleLogin", "signin.amazonaws.com", 80),
    ("DescribeInstances", "ec2.amazonaws.com", 150),
    ("GetObject", "s3.amazonaws.com", 200),
    ("ListBuckets", "s3.amazonaws.com", 40),
    ("GetUser", "iam.amazonaws.com", 40),
    ("ListUsers", "iam.amazonaws.com", 20),
    ("ListRoles", "iam.amazonaws.com", 20),
    ("CreateUser", "iam.amazonaws.com", 3),
    ("UpdateUser", "iam.amazonaws.com", 2),
    ("AddUserToGroup", "iam.amazonaws.com", 3),
    ("CreateGroup", "iam.amazonaws.com", 2),
    ("DeleteGroup", "iam.amazonaws.com", 1),
    ("AttachGroupPolicy", "iam.amazonaws.com", 2),
    ("AttachUserPolicy", "iam.amazonaws.com", 2),
    ("CreateAccessKey", "iam.amazonaws.com", 3),
    ("DeleteAccessKey", "iam.amazonaws.com", 2),
    ("DeactivateMFADevice", "iam.amazonaws.com", 1),
    ("CreateVirtualMFADevice", "iam.amazonaws.com", 1),
    ("UpdateAssumeRolePolicy", "iam.amazonaws.com", 1),
]
USERS = [f"user{n:03d}" for n in range(200)] + ["Alice", "Bob", "JohnDoe", "JaneDoe", "ci-deploy"]
# Source networks: the office, a VPN pool, cloud NAT, and the wider internet.
NETWORKS = [("10.1.{}.{}", 40), ("10.8.{}.{}", 20), ("172.16.{}.{}", 15), ("203.0.{}.{}", 10),
            ("81.2.{}.{}", 10), ("89.160.{}.{}", 5)]
BATCH = 5000
MAX_LAG_SECONDS = 1800


def iso(time):
    return time.strftime("%Y-%m-%dT%H:%M:%S.") + f"{time.microsecond // 1000:03d}Z"


def parse_time(text):
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def templates(path):
    by_action = {}
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                doc = json.loads(line)
                by_action.setdefault(doc["event"]["action"], doc)
    return by_action


def make_event(rng, by_action, start, span):
    action, provider, _ = rng.choices(ACTIONS, weights=[w for _, _, w in ACTIONS])[0]
    base = by_action.get(action) or by_action["AssumeRole" if provider == "sts.amazonaws.com" else "UpdateUser"]
    doc = json.loads(json.dumps(base))
    event = doc["event"]
    event.pop("original", None)
    event["action"] = action
    event["provider"] = provider
    event["dataset"] = "aws.cloudtrail"
    event["outcome"] = "failure" if rng.random() < (0.15 if action == "ConsoleLogin" else 0.04) else "success"
    timestamp = start + dt.timedelta(seconds=rng.random() * span)
    lag = min(20 + rng.lognormvariate(4.1, 0.8), MAX_LAG_SECONDS)
    doc["@timestamp"] = iso(timestamp)
    event["ingested"] = iso(timestamp + dt.timedelta(seconds=lag))
    user = rng.choice(USERS)
    doc.setdefault("user", {})["name"] = user
    pattern, = rng.choices([n for n, _ in NETWORKS], weights=[w for _, w in NETWORKS])
    ip = pattern.format(rng.randrange(256), rng.randrange(1, 255))
    doc.setdefault("source", {})["ip"] = ip
    doc.pop("related", None)
    doc["related"] = {"user": [user], "ip": [ip]}
    return doc


def post_bulk(url, body):
    request = urllib.request.Request(url + "/_bulk", data=body.encode(), method="POST",
                                     headers={"Content-Type": "application/x-ndjson"})
    with urllib.request.urlopen(request, timeout=300) as response:
        answer = json.load(response)
    if answer.get("errors"):
        failed = next(i for i in answer["items"] if "error" in next(iter(i.values())))
        sys.exit(f"bulk failed: {failed}")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--index", required=True)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--start", required=True, help="RFC 3339")
    parser.add_argument("--end", required=True, help="RFC 3339")
    parser.add_argument("--samples", required=True, help="ecs-samples.ndjson")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    by_action = templates(args.samples)
    start, end = parse_time(args.start), parse_time(args.end)
    span = (end - start).total_seconds()
    action = json.dumps({"create": {"_index": args.index}})
    lines = []
    for n in range(args.count):
        lines.append(action)
        lines.append(json.dumps(make_event(rng, by_action, start, span), separators=(",", ":")))
        if len(lines) >= 2 * BATCH or n == args.count - 1:
            post_bulk(args.url, "\n".join(lines) + "\n")
            lines = []
    urllib.request.urlopen(urllib.request.Request(args.url + f"/{args.index}/_refresh", method="POST"))


if __name__ == "__main__":
    main()
