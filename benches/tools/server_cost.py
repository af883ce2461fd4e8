#!/usr/bin/env python3
"""Where the test server's CPU goes for one rule's search: sends variants of the search
`lookout run` sends for one side-by-side rule (benches/tools/compare_rules.py) one after the other,
REPEAT times each, and prints the server's CPU per request (from /proc/<pid>/stat, in clock
ticks, so REPEAT should make each variant last well over 10 ms). Variants: Kibana's query as the
engine sent it before the simplifier (query first, one-clause wrappers), the simplified query,
the same search written the way ElastAlert 2 writes it, and the simplified search with one
thing changed at a time (the `@timestamp` fallback, sort, size, total hits, `_source`), plus
the other requests of an execution (state read and write, alert-id lookup, `_bulk` of alerts).

  server_cost.py URL SERVER_PID INDEX [--repeat 30] [--action ListGroups]

Standard library only; used for docs/benchmarks.md ("Where the server's time goes").
"""

import argparse
import json
import os
import urllib.request

WINDOW = ("2026-01-10T11:54:00.000Z", "2026-01-10T12:00:00.000Z")


def request(url, method, path, body=None, ndjson=False):
    data = None
    headers = {}
    if body is not None:
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        headers["Content-Type"] = "application/x-ndjson" if ndjson else "application/json"
    req = urllib.request.Request(url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req) as answer:
            return json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        return json.loads(error.read() or b"null")


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def time_range(field, lower="gte"):
    return {"range": {field: {lower: WINDOW[0], "lte": WINDOW[1],
                              "format": "strict_date_optional_time"}}}


def fallback_range():
    return {"bool": {"should": [
        time_range("event.ingested"),
        {"bool": {"filter": [time_range("@timestamp")],
                  "must_not": [{"exists": {"field": "event.ingested"}}]}},
    ], "minimum_should_match": 1}}


def kibana_value(query):
    return {"bool": {"should": [query], "minimum_should_match": 1}}


def conditions(action):
    return [{"match": {"event.dataset": "aws.cloudtrail"}},
            {"term": {"event.provider": {"value": "iam.amazonaws.com"}}},
            {"term": {"event.action": {"value": action}}},
            {"term": {"event.outcome": {"value": "success"}}}]


SORT = [{"event.ingested": {"order": "asc", "unmapped_type": "date"}},
        {"@timestamp": {"order": "asc", "unmapped_type": "date"}}]


def variants(action):
    kibana = {"bool": {"filter": [kibana_value(c) for c in conditions(action)]}}
    before = {"query": {"bool": {"filter": [kibana, fallback_range()]}}, "sort": SORT,
              "track_total_hits": False, "size": 101}
    simplified_range = {"bool": {"should": fallback_range()["bool"]["should"]}}
    after = {"query": {"bool": {"filter": [simplified_range] + conditions(action)}},
             "sort": SORT, "track_total_hits": False, "size": 101}
    elastalert = {"query": {"bool": {"filter": {"bool": {"must": [
        {"range": {"event.ingested": {"gt": WINDOW[0], "lte": WINDOW[1]}}},
        {"term": {"event.dataset": "aws.cloudtrail"}},
        {"term": {"event.provider": "iam.amazonaws.com"}},
        {"term": {"event.action": action}},
        {"term": {"event.outcome": "success"}}]}}}},
        "sort": [{"event.ingested": {"order": "asc"}}]}
    only_primary = json.loads(json.dumps(after))
    only_primary["query"]["bool"]["filter"][0] = time_range("event.ingested")
    range_last = json.loads(json.dumps(after))
    range_last["query"]["bool"]["filter"].append(range_last["query"]["bool"]["filter"].pop(0))
    yield "before: Kibana's form, query first", before, ""
    yield "after: simplified, time range first", after, ""
    yield "after, time range last", range_last, ""
    yield "after, no @timestamp fallback", only_primary, ""
    yield "after, no sort", {k: v for k, v in after.items() if k != "sort"}, ""
    yield "after, size 10000", after | {"size": 10000}, ""
    yield "after, track_total_hits true", after | {"track_total_hits": True}, ""
    yield "after, _source false", after | {"_source": False}, ""
    yield "ElastAlert's search (size 10000, scroll)", elastalert | {"size": 10000}, "&scroll=30s"
    yield "match_all, size 0", {"query": {"match_all": {}}, "size": 0}, ""


def server_ms(args, method, path, body, ndjson=False, before=None):
    """The server's CPU for one request, in milliseconds (clock-tick resolution)."""
    if before:
        before()
    start = cpu_ticks(args.pid)
    answer = request(args.url, method, path, body, ndjson)
    used = cpu_ticks(args.pid) - start
    if isinstance(answer, dict) and answer.get("_scroll_id"):
        request(args.url, "DELETE", "/_search/scroll", {"scroll_id": answer["_scroll_id"]})
    return used * 1000 / os.sysconf("SC_CLK_TCK")


def measure_all(args, probes):
    """Runs the probes round-robin REPEAT times (so that load on the machine spreads over all
    of them) and prints each one's mean and median server CPU."""
    samples = {label: [] for label, *_ in probes}
    for _ in range(args.repeat):
        for label, *probe in probes:
            samples[label].append(server_ms(args, *probe))
    for label, values in samples.items():
        values.sort()
        mean = sum(values) / len(values)
        print(f"{label:<45} mean {mean:7.2f} ms, median {values[len(values) // 2]:6.1f} ms")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("pid", type=int)
    parser.add_argument("index")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--action", default="ListGroups")
    args = parser.parse_args()
    search = f"/{args.index}/_search?ignore_unavailable=true&allow_no_indices=true"
    print(f"server CPU per request, mean of {args.repeat}, "
          f"{request(args.url, 'GET', '/' + args.index + '/_count')['count']} documents")
    probes = [(label, "POST", search + extra, body)
              for label, body, extra in variants(args.action)]
    probes.append(("field caps", "GET", f"/{args.index}/_field_caps?fields=*"
                   "&ignore_unavailable=true&allow_no_indices=true", None))
    state = {"rule_id": "probe", "covered_to": WINDOW[1]}
    request(args.url, "PUT", "/probe-state/_doc/probe", state)
    probes.append(("state read (GET _doc)", "GET", "/probe-state/_doc/probe", None))
    probes.append(("state write (PUT _doc)", "PUT", "/probe-state/_doc/probe", state))
    hits = request(args.url, "POST", search,
                   {"size": 7, "query": {"match_all": {}}})["hits"]["hits"]
    ids = {"size": len(hits), "_source": False, "track_total_hits": False,
           "query": {"ids": {"values": [str(n) * 64 for n in range(len(hits))]}}}
    probes.append(("alert-id lookup (7 ids)", "POST",
                   "/probe-alerts*/_search?ignore_unavailable=true&allow_no_indices=true", ids))
    lines = []
    for n, hit in enumerate(hits):
        lines.append(json.dumps({"create": {"_index": "probe-alerts", "_id": f"a{n}"}}))
        lines.append(json.dumps(hit["_source"]))

    def clear():
        request(args.url, "DELETE", "/probe-alerts?ignore_unavailable=true")
    probes.append((f"_bulk create of {len(hits)} alerts", "POST", "/_bulk",
                   "\n".join(lines) + "\n", True, clear))
    measure_all(args, probes)
    clear()
    request(args.url, "DELETE", "/probe-state")

if __name__ == "__main__":
    main()
