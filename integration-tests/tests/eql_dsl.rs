//! EQL's stage translation against the live server: the documents the server selects with a
//! stage's DSL, kept when the residual accepts their `_source`, are exactly the documents
//! lookout's evaluator accepts (and when there is no residual, the DSL alone selects them).
//!
//! - Random documents (multi-valued fields, missing fields, mixed-case strings, numbers as
//!   strings) in an index with explicit keyword, long, double, ip and boolean fields and a
//!   dynamically mapped text field; random conditions over them, translated with the index's
//!   field caps and without types.
//! - The stages of the corpus's AWS CloudTrail EQL rules on the CloudTrail fixture documents plus
//!   documents built from each rule's own values, in an index with the CloudTrail mapping.
//!
//! `LOOKOUT_EQL_DSL_CASES` sets the number of random conditions, `LOOKOUT_EQL_DSL_SEED` the seed.

use elasticsearch::http::{Method, StatusCode};
use integration_tests::server::Capability;
use integration_tests::{TestServer, ecs_samples, shared_dir, unique_name};
use lookout::eql::{self, DEFAULT_CATEGORY_FIELD, Expr, Literal};
use lookout::kql::FieldMap;
use serde_json::{Value as Json, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Random conditions checked when `LOOKOUT_EQL_DSL_CASES` is not set.
const DEFAULT_CASES: usize = 300;
/// Random documents indexed.
const DOCUMENTS: usize = 80;
/// The number of AWS CloudTrail EQL rules in the corpus.
const AWS_EQL_RULES: usize = 27;

/// A small deterministic generator (xorshift64*), so a failing seed can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn pick_str(&mut self, items: &[&'static str]) -> &'static str {
        items[self.below(items.len())]
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const WORDS: &[&str] = &[
    "admin",
    "Admin",
    "ADMIN",
    "root",
    "cmd.exe",
    "CMD.EXE",
    "C:\\Windows\\cmd.exe",
    "a*b",
    "a?b",
    "",
    "abc",
    "Abc",
    "b",
    "m",
    "z",
    "5",
    "10.0.0.1",
];
const NUMBERS: &[i64] = &[0, 1, 3, 5, 7, 10, -2];
const IPS: &[&str] = &["10.1.2.3", "10.200.0.1", "192.168.0.5", "8.8.8.8", "::1"];

/// What the server can be asked: a server that lacks a capability is given documents and
/// conditions without what it lacks (printed as a note), rather than no test at all.
#[derive(Clone, Copy)]
struct Profile {
    /// CIDR prefixes and IPv6 addresses on `ip` fields ([`Capability::IpPrefixes`]).
    ip_prefixes: bool,
    /// Numbers in keyword fields and numbers as strings in long fields
    /// ([`Capability::CoercedRanges`]).
    coerced: bool,
    /// Backslashes in wildcard patterns escape ([`Capability::WildcardEscapes`]).
    escapes: bool,
}

impl Profile {
    async fn of(server: &TestServer) -> Profile {
        let profile = Profile {
            ip_prefixes: server.has(Capability::IpPrefixes).await,
            coerced: server.has(Capability::CoercedRanges).await,
            escapes: server.has(Capability::WildcardEscapes).await,
        };
        let label = &server.info().await.label;
        for (has, capability) in [
            (profile.ip_prefixes, Capability::IpPrefixes),
            (profile.coerced, Capability::CoercedRanges),
            (profile.escapes, Capability::WildcardEscapes),
        ] {
            if !has {
                eprintln!(
                    "NOTE: {label} lacks {}: the random documents and conditions leave them out",
                    capability.what()
                );
            }
        }
        profile
    }

    /// Whether `text` (a word or pattern) can be asked of the server.
    fn allows(self, text: &str) -> bool {
        self.escapes || !text.contains('\\')
    }

    fn ips(self) -> &'static [&'static str] {
        if self.ip_prefixes { IPS } else { &IPS[..4] }
    }
}
const CATEGORIES: &[&str] = &["process", "file", "network"];

fn random_scalar(rng: &mut Rng, profile: Profile, field: &str) -> Json {
    match field {
        // The dynamically mapped field gets strings only (a number first would map it `long`).
        "u" => json!(*rng.pick(WORDS)),
        "k1" | "k2" => {
            // Keyword fields also get numbers: they are indexed as their text.
            if profile.coerced && rng.chance(10) {
                json!(*rng.pick(NUMBERS))
            } else {
                json!(*rng.pick(WORDS))
            }
        }
        // Numbers as strings: the long field reads them as numbers.
        "n" if profile.coerced && rng.chance(30) => json!(rng.pick(NUMBERS).to_string()),
        "n" => json!(rng.pick(NUMBERS)),
        "x" => json!(*rng.pick(&[0.5, 1.0, 2.25, -3.0, 7.0])),
        "ip" => json!(*rng.pick(profile.ips())),
        "b" => json!(rng.chance(50)),
        _ => json!(*rng.pick(CATEGORIES)),
    }
}

fn random_document(rng: &mut Rng, profile: Profile) -> Json {
    let mut doc = json!({"@timestamp": "2026-01-01T00:00:00Z"});
    for field in ["k1", "k2", "u", "n", "x", "ip", "b", "event.category"] {
        if rng.chance(20) {
            continue;
        }
        let value = if rng.chance(25) {
            let count = 2 + rng.below(2);
            Json::Array(
                (0..count)
                    .map(|_| random_scalar(rng, profile, field))
                    .collect(),
            )
        } else {
            random_scalar(rng, profile, field)
        };
        // Some documents write `event.category` with a dotted key, others nested.
        if field == "event.category" && rng.chance(50) {
            doc["event"] = json!({"category": value});
        } else {
            doc[field] = value;
        }
    }
    doc
}

fn quoted(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

fn random_word(rng: &mut Rng, profile: Profile) -> String {
    loop {
        let word = rng.pick_str(WORDS);
        if profile.allows(word) {
            return quoted(word);
        }
    }
}

/// A random condition on one field, as EQL text.
fn random_leaf(rng: &mut Rng, profile: Profile) -> String {
    let keyword = *rng.pick(&["k1", "k2", "u"]);
    let w = random_word(rng, profile);
    let patterns = ["a*", "*b", "A?b*", "*exe", "c:\\*", "*", "?", "ad*n"];
    let patterns: Vec<&str> = patterns.into_iter().filter(|p| profile.allows(p)).collect();
    let pattern = quoted(rng.pick_str(&patterns));
    let n = *rng.pick(NUMBERS);
    let ip = quoted(rng.pick_str(profile.ips()));
    let mut choices = vec![
        format!("{keyword} == {w}"),
        format!("{keyword} != {w}"),
        format!("{keyword} : {w}"),
        format!("{keyword} : ({pattern}, {w})"),
        format!("{keyword} like {pattern}"),
        format!("{keyword} like~ {pattern}"),
        format!("{keyword} in ({w}, {})", random_word(rng, profile)),
        format!("{keyword} in~ ({w}, {})", random_word(rng, profile)),
        format!("{keyword} not in ({w})"),
        format!("{keyword} regex \"[a-c].*\""),
        format!("{keyword} regex~ \"ad.+|r..t\""),
        format!("startsWith({keyword}, \"ad\")"),
        format!("startsWith~({keyword}, \"AD\")"),
        format!("endsWith~({keyword}, \".exe\")"),
        format!("stringContains({keyword}, \"b\")"),
        format!("stringContains~({keyword}, \"B*\")"),
        format!("{keyword} == null"),
        format!("{keyword} != null"),
        format!("{keyword} < \"m\""),
        format!("{keyword} >= \"b\""),
        format!("length({keyword}) > 3"),
        format!("concat({keyword}, \"x\") == \"abcx\""),
        format!("n == {n}"),
        format!("n != {n}"),
        format!("n > {n}"),
        format!("n <= \"{n}\""),
        format!("n in ({n}, 7)"),
        format!("n + 1 == {}", n + 1),
        "modulo(n, 2) == 1".to_string(),
        "x >= 1".to_string(),
        "x < 2.25".to_string(),
        format!("ip == {ip}"),
        format!("ip != {ip}"),
        "b == true".to_string(),
        "b".to_string(),
        "b != false".to_string(),
        "?missing_field == null".to_string(),
    ];
    if profile.ip_prefixes {
        choices.push("cidrMatch(ip, \"10.0.0.0/8\")".to_string());
        choices.push("cidrMatch(ip, \"192.168.0.0/16\", \"::1/128\")".to_string());
    }
    rng.pick(&choices).clone()
}

fn random_condition(rng: &mut Rng, profile: Profile, depth: usize) -> String {
    if depth == 0 || rng.chance(40) {
        return random_leaf(rng, profile);
    }
    match rng.below(3) {
        0 => format!(
            "({} and {})",
            random_condition(rng, profile, depth - 1),
            random_condition(rng, profile, depth - 1)
        ),
        1 => format!(
            "({} or {})",
            random_condition(rng, profile, depth - 1),
            random_condition(rng, profile, depth - 1)
        ),
        _ => format!("not {}", random_condition(rng, profile, depth - 1)),
    }
}

/// Searches the index with a DSL filter: the hits' ids and sources, or the server's refusal.
async fn select(
    server: &TestServer,
    index: &str,
    dsl: &eql::Dsl,
) -> Result<Vec<(String, Json)>, String> {
    let body = json!({"size": 1000, "query": {"bool": {"filter": [dsl]}}});
    let (status, value) = server
        .request(Method::Post, &format!("/{index}/_search"), Some(body))
        .await;
    if status != StatusCode::OK {
        return Err(format!("{status}: {value}"));
    }
    Ok(value["hits"]["hits"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|hit| {
            let id = hit["_id"].as_str().expect("an id").to_string();
            (id, hit["_source"].clone())
        })
        .collect())
}

/// Checks one stage: DSL on the server + residual == evaluator, typed and untyped.
async fn check_stage(
    server: &TestServer,
    index: &str,
    filter: &eql::EventFilter,
    docs: &[(String, Json)],
    fields: &FieldMap,
) -> Result<usize, String> {
    let mut selected_typed = 0;
    for typed in [Some(fields), None] {
        let stage = eql::translate_stage(filter, DEFAULT_CATEGORY_FIELD, typed);
        let condition = eql::Condition::new(eql::stage_condition(filter, DEFAULT_CATEGORY_FIELD));
        let expected: BTreeSet<&str> = docs
            .iter()
            .filter(|(_, doc)| condition.matches(doc, typed))
            .map(|(id, _)| id.as_str())
            .collect();
        let hits = select(server, index, &stage.dsl).await?;
        let found: BTreeSet<&str> = hits
            .iter()
            .filter(|(_, source)| stage.accepts(source, typed))
            .map(|(id, _)| {
                docs.iter()
                    .find(|(d, _)| d == id)
                    .map_or("?", |(d, _)| d.as_str())
            })
            .collect();
        if found != expected {
            return Err(format!(
                "{} ({}): DSL {} selects {:?} with the residual, the evaluator {:?}",
                filter,
                if typed.is_some() { "typed" } else { "untyped" },
                stage.dsl,
                found,
                expected
            ));
        }
        if stage.residual.is_none() {
            let all: BTreeSet<&str> = hits
                .iter()
                .map(|(id, _)| {
                    docs.iter()
                        .find(|(d, _)| d == id)
                        .map_or("?", |(d, _)| d.as_str())
                })
                .collect();
            if all != expected {
                return Err(format!(
                    "{filter}: the exact DSL {} selects {all:?}",
                    stage.dsl
                ));
            }
        }
        if typed.is_some() {
            selected_typed = expected.len();
        }
    }
    Ok(selected_typed)
}

/// Indexes documents with ids `d0`, `d1`, ... and returns those the server accepted.
async fn index_documents(server: &TestServer, index: &str, docs: &[Json]) -> Vec<(String, Json)> {
    let with_ids: Vec<(Option<String>, &Json)> = docs
        .iter()
        .enumerate()
        .map(|(i, doc)| (Some(format!("d{i}")), doc))
        .collect();
    let answer = server.bulk_answer(index, &with_ids).await;
    let items = answer["items"].as_array().cloned().unwrap_or_default();
    items
        .iter()
        .zip(docs)
        .filter(|(item, _)| item["create"]["status"].as_u64().is_some_and(|s| s < 300))
        .map(|(item, doc)| {
            (
                item["create"]["_id"].as_str().expect("id").to_string(),
                doc.clone(),
            )
        })
        .collect()
}

async fn field_caps(server: &TestServer, index: &str) -> FieldMap {
    let caps = server
        .ok(Method::Get, &format!("/{index}/_field_caps?fields=*"), None)
        .await;
    FieldMap::from_field_caps(&caps)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_conditions_select_through_dsl_and_residual_what_the_evaluator_accepts() {
    let server = TestServer::connect();
    let seed = env_number("LOOKOUT_EQL_DSL_SEED", 0x05EE_DE01);
    let cases = env_number("LOOKOUT_EQL_DSL_CASES", DEFAULT_CASES as u64) as usize;
    let mut rng = Rng(seed | 1);
    let profile = Profile::of(&server).await;
    let index = unique_name("eql-dsl");
    let mappings = json!({"properties": {
        "k1": {"type": "keyword"}, "k2": {"type": "keyword"}, "n": {"type": "long"},
        "x": {"type": "double"}, "ip": {"type": "ip"}, "b": {"type": "boolean"},
        "event": {"properties": {"category": {"type": "keyword"}}}
    }});
    server
        .ok(
            Method::Put,
            &format!("/{index}"),
            Some(json!({"settings": {"number_of_shards": 1}, "mappings": mappings})),
        )
        .await;
    let docs: Vec<Json> = (0..DOCUMENTS)
        .map(|_| random_document(&mut rng, profile))
        .collect();
    let docs = index_documents(&server, &index, &docs).await;
    assert!(
        docs.len() >= DOCUMENTS * 9 / 10,
        "only {} documents indexed",
        docs.len()
    );
    let fields = field_caps(&server, &index).await;

    let mut failures = Vec::new();
    let mut non_trivial = 0;
    for _ in 0..cases {
        let category = *rng.pick(&["any", "process", "file"]);
        let text = format!(
            "{category} where {}",
            random_condition(&mut rng, profile, 3)
        );
        let query = eql::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let filter = query.filters()[0];
        match check_stage(&server, &index, filter, &docs, &fields).await {
            Ok(selected) => non_trivial += usize::from(selected > 0 && selected < docs.len()),
            Err(failure) => failures.push(format!("{text}\n  {failure}")),
        }
    }
    server.delete_index(&index).await;
    eprintln!(
        "eql dsl: seed {seed:#x}, {cases} conditions on {} documents, {non_trivial} select some \
         but not all, {} differ",
        docs.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        non_trivial >= cases / 3,
        "only {non_trivial} conditions split the documents"
    );
}

/// The AWS CloudTrail EQL rules of the corpus: file and query.
fn aws_eql_rules() -> Vec<(PathBuf, String)> {
    let dir = shared_dir().join("corpus/detection-rules/rules/integrations/aws");
    let mut rules = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let Ok(table) = toml::from_str::<toml::Table>(&text) else {
            continue;
        };
        let rule = table.get("rule").and_then(|r| r.as_table());
        if rule
            .and_then(|r| r.get("language"))
            .and_then(|l| l.as_str())
            != Some("eql")
        {
            continue;
        }
        let query = rule.and_then(|r| r.get("query")).and_then(|q| q.as_str());
        rules.push((path.clone(), query.expect("a query").to_string()));
    }
    rules
}

/// Sets a dotted field in a document (nested objects).
fn set_field(doc: &mut Json, name: &str, value: Json) {
    let mut node = doc;
    let parts: Vec<&str> = name.split('.').collect();
    for part in &parts[..parts.len() - 1] {
        if !node.get(*part).is_some_and(Json::is_object) {
            node[*part] = json!({});
        }
        node = &mut node[*part];
    }
    node[parts[parts.len() - 1]] = value;
}

/// A value that satisfies a leaf, from the leaf's own constants (`*` and `?` filled in).
fn satisfying(expr: &Expr) -> Option<(String, Json)> {
    let fill = |p: &str| p.replace('*', "x").replace('?', "y");
    let text_of = |e: &Expr| match e {
        Expr::Literal(Literal::String(s)) => Some(s.clone()),
        _ => None,
    };
    match expr {
        Expr::Compare { left, right, .. } => match (&**left, &**right) {
            (Expr::Field(f), Expr::Literal(Literal::String(s))) => Some((f.name.clone(), json!(s))),
            (Expr::Field(f), Expr::Literal(Literal::Integer(n))) => {
                Some((f.name.clone(), json!(n)))
            }
            _ => None,
        },
        Expr::In { value, list, .. } => match &**value {
            Expr::Field(f) => Some((f.name.clone(), json!(text_of(list.first()?)?))),
            _ => None,
        },
        Expr::Match {
            value, patterns, ..
        } => match &**value {
            Expr::Field(f) => Some((f.name.clone(), json!(fill(patterns.first()?)))),
            _ => None,
        },
        Expr::Call { args, .. } => match (args.first()?, args.get(1).and_then(text_of)) {
            (Expr::Field(f), Some(s)) => Some((f.name.clone(), json!(format!("x{}x", fill(&s))))),
            _ => None,
        },
        _ => None,
    }
}

/// Documents built from a stage: one with every leaf satisfied, then one per leaf with that
/// leaf's value upper-cased (so case rules and `not` are exercised).
fn documents_for(filter: &eql::EventFilter, base: &Json) -> Vec<Json> {
    let mut leaves = Vec::new();
    filter.condition.walk(&mut |e| {
        if let Some(pair) = satisfying(e) {
            leaves.push(pair);
        }
    });
    let mut all = base.clone();
    if let eql::Category::Named(category) = &filter.category {
        set_field(&mut all, "event.category", json!(category));
    }
    for (name, value) in &leaves {
        set_field(&mut all, name, value.clone());
    }
    let mut docs = vec![all.clone()];
    for (name, value) in &leaves {
        let mut variant = all.clone();
        let changed = match value {
            Json::String(s) => json!(s.to_uppercase()),
            other => other.clone(),
        };
        set_field(&mut variant, name, changed);
        docs.push(variant);
    }
    docs
}

fn replace_type(node: &mut Json, from: &str, to: &str) {
    match node {
        Json::Object(map) => {
            if map.get("type").and_then(Json::as_str) == Some(from) {
                map.insert("type".into(), json!(to));
                map.remove("value");
            }
            map.values_mut().for_each(|v| replace_type(v, from, to));
        }
        Json::Array(items) => items.iter_mut().for_each(|v| replace_type(v, from, to)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cloudtrail_eql_stages_select_what_the_evaluator_accepts() {
    let server = TestServer::connect();
    let rules = aws_eql_rules();
    assert_eq!(rules.len(), AWS_EQL_RULES, "AWS EQL rules in the corpus");
    let template = server.cloudtrail_template().await;
    let mut mappings = template["template"]["mappings"].clone();
    // A constant_keyword holds one value per index; these documents need several.
    replace_type(&mut mappings, "constant_keyword", "keyword");
    let index = unique_name("eql-cloudtrail");
    server
        .ok(
            Method::Put,
            &format!("/{index}"),
            Some(json!({"settings": {"number_of_shards": 1}, "mappings": mappings})),
        )
        .await;

    let samples = ecs_samples();
    let parsed: Vec<(PathBuf, eql::Query)> = rules
        .iter()
        .map(|(path, text)| {
            let query = eql::parse(text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path.clone(), query)
        })
        .collect();
    let mut docs = samples.clone();
    for (i, (_, query)) in parsed.iter().enumerate() {
        for filter in query.filters() {
            docs.extend(documents_for(filter, &samples[i % samples.len()]));
        }
    }
    let docs = index_documents(&server, &index, &docs).await;
    let fields = field_caps(&server, &index).await;

    let mut failures = Vec::new();
    let (mut stages, mut matched) = (0, 0);
    for (path, query) in &parsed {
        assert!(eql::unsupported(query).is_empty(), "{}", path.display());
        for filter in query.filters() {
            stages += 1;
            match check_stage(&server, &index, filter, &docs, &fields).await {
                Ok(selected) => matched += usize::from(selected > 0),
                Err(failure) => failures.push(format!("{}: {failure}", short(path))),
            }
        }
    }
    server.delete_index(&index).await;
    eprintln!(
        "eql cloudtrail: {} rules, {stages} stages on {} documents, {matched} stages select \
         documents, {} differ",
        parsed.len(),
        docs.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        matched * 2 >= stages,
        "only {matched} of {stages} stages select anything"
    );
}

fn short(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().to_string(),
    )
}
