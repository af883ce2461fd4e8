//! What the live test server is (its name and which API it speaks) and what it can do, learned
//! once per test binary from `GET /` and small probes. [`require`] lets a test that needs what a
//! server lacks skip itself with the reason printed (`SKIPPED <test>: <server> lacks <what>`),
//! never a silent pass.

use crate::TestServer;
use elasticsearch::http::Method;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use tokio::sync::OnceCell;

/// A file that [`require`] appends every skip to, one line each; `scripts/test` sets it and
/// prints the lines after each server's run.
pub const SKIP_LOG_VAR: &str = "LOOKOUT_TEST_SKIP_LOG";

/// The API a server speaks, from `version.distribution` of `GET /`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Elasticsearch,
    OpenSearch,
}

/// The server behind [`crate::SERVER_URL_VAR`].
#[derive(Debug, Clone)]
pub struct ServerInfo {
    /// How the server is named in output: `noida-db 8.15.3`, `osmem-server 3.8.0`,
    /// `Elasticsearch 8.15.0`.
    pub label: String,
    pub api: Api,
}

/// Something a test needs that not every server has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Capability {
    /// Elasticsearch's security API (`/_security/...`) with privileges enforced.
    ElasticsearchSecurity,
    /// A `constant_keyword` field with a `value` matches documents that lack the field, as the
    /// CloudTrail mapping's `event.dataset` must.
    ConstantKeyword,
    /// The `composite` aggregation (threshold and new terms rules page their groups with it).
    CompositeAggregation,
    /// A backslash in a `wildcard` query's value escapes the next character, as in Lucene
    /// (`commands\\=*` matches `commands=ls`).
    WildcardEscapes,
    /// Regular expressions (`/.../`) in `query_string` queries (Lucene rules use them).
    QueryStringRegex,
    /// The time zone id `Zulu` in `range` queries (Kibana's detection engine sends it).
    ZuluTimeZone,
    /// An index template whose mapping names an unknown field type is refused.
    TemplateMappingValidation,
    /// CIDR prefixes (`10.0.0.0/8`) and IPv6 addresses (`::1`) in `term` queries on `ip` fields.
    IpPrefixes,
    /// `range` queries compare the values a mapping coerces: a number in a `keyword` field (as its
    /// text) and a number written as a string in a `long` field (as a number).
    CoercedRanges,
    /// `minimum_should_match` is not capped at the number of `should` clauses, as in
    /// Elasticsearch: a `bool` with a `filter`, no `should` and `minimum_should_match: 1` matches
    /// nothing.
    UncappedMinimumShouldMatch,
    /// A `Date` header in the server's answers (RFC 9110 asks for one; Elasticsearch sends none
    /// before elastic/elasticsearch#157422, so lookout cannot read the server's clock there).
    DateHeader,
    /// Elasticsearch's index lifecycle management (`GET /_ilm/policy` answers): `lookout setup`
    /// installs a policy that rolls the alerts alias over.
    Ilm,
    /// An index may name an ILM policy (`index.lifecycle.name`) though the server has no ILM:
    /// the setting is kept, not refused as unknown.
    LifecycleSetting,
}

impl Capability {
    /// What a server without it lacks, for the skip line.
    pub fn what(self) -> &'static str {
        match self {
            Capability::ElasticsearchSecurity => {
                "Elasticsearch's security API with privileges enforced (GET /_security/_authenticate)"
            }
            Capability::ConstantKeyword => {
                "constant_keyword values (a document without the field does not match the mapped value)"
            }
            Capability::CompositeAggregation => "the composite aggregation",
            Capability::WildcardEscapes => {
                "backslash escapes in wildcard queries (Lucene's wildcard syntax)"
            }
            Capability::QueryStringRegex => "regular expressions in query_string queries",
            Capability::ZuluTimeZone => "the time zone id Zulu in range queries",
            Capability::TemplateMappingValidation => {
                "validation of index template mappings (a template with an unknown field type is accepted)"
            }
            Capability::IpPrefixes => {
                "CIDR prefixes and IPv6 addresses in term queries on ip fields"
            }
            Capability::CoercedRanges => {
                "range queries on coerced values (a number in a keyword field, a number written as a string in a long field)"
            }
            Capability::DateHeader => "a Date header in its answers (the server's clock)",
            Capability::Ilm => "index lifecycle management (GET /_ilm/policy)",
            Capability::LifecycleSetting => {
                "the index setting index.lifecycle.name (it refuses it as unknown)"
            }
            Capability::UncappedMinimumShouldMatch => {
                "minimum_should_match above the number of should clauses as Elasticsearch applies it (a bool with a filter, no should and minimum_should_match 1 must match nothing)"
            }
        }
    }
}

static INFO: OnceCell<ServerInfo> = OnceCell::const_new();
static CAPABILITIES: Mutex<Option<HashMap<Capability, bool>>> = Mutex::new(None);

impl TestServer {
    /// The server's name and API, asked once per test binary.
    pub async fn info(&self) -> &'static ServerInfo {
        INFO.get_or_init(|| async {
            let root = self.ok(Method::Get, "/", None).await;
            describe(&root)
        })
        .await
    }

    /// Whether the server has `capability` (probed once per test binary).
    pub async fn has(&self, capability: Capability) -> bool {
        if let Some(known) = CAPABILITIES
            .lock()
            .expect("capability cache")
            .as_ref()
            .and_then(|map| map.get(&capability))
        {
            return *known;
        }
        let found = self.probe(capability).await;
        CAPABILITIES
            .lock()
            .expect("capability cache")
            .get_or_insert_with(HashMap::new)
            .insert(capability, found);
        found
    }

    async fn probe(&self, capability: Capability) -> bool {
        match capability {
            Capability::ElasticsearchSecurity => {
                let (status, _) = self
                    .request(Method::Get, "/_security/_authenticate", None)
                    .await;
                status.is_success()
            }
            Capability::ConstantKeyword => self.probe_hits(json!({"term": {"k": "v"}})).await,
            Capability::WildcardEscapes => {
                let query = json!({"wildcard": {"args": {"value": "commands\\=*"}}});
                self.probe_hits(query).await
            }
            Capability::QueryStringRegex => {
                let query = json!({"query_string": {"query": "args:/comm.*/"}});
                self.probe_hits(query).await
            }
            Capability::ZuluTimeZone => {
                let range = json!({"gte": "2024-01-02", "lte": "2024-01-02", "time_zone": "Zulu"});
                self.probe_hits(json!({"range": {"d": range}})).await
            }
            Capability::CompositeAggregation => {
                let sources = json!([{"args": {"terms": {"field": "args"}}}]);
                let aggs = json!({"groups": {"composite": {"sources": sources}}});
                self.probe_search(json!({"size": 0, "aggs": aggs}))
                    .await
                    .is_some()
            }
            Capability::TemplateMappingValidation => self.probe_template_validation().await,
            Capability::IpPrefixes => {
                let prefix = json!({"term": {"ip": "10.0.0.0/8"}});
                let v6 = json!({"term": {"ip6": "::1"}});
                self.probe_hits(json!({"bool": {"filter": [prefix, v6]}}))
                    .await
            }
            Capability::UncappedMinimumShouldMatch => {
                let filter = json!({"exists": {"field": "args"}});
                let query = json!({"bool": {"filter": [filter], "minimum_should_match": 1}});
                let answer = self.probe_search(json!({"query": query})).await;
                answer.is_some_and(|a| a["hits"]["total"]["value"] == json!(0))
            }
            Capability::DateHeader => self.header(Method::Get, "/", "date").await.is_some(),
            Capability::Ilm => {
                let (status, _) = self.request(Method::Get, "/_ilm/policy", None).await;
                status.is_success()
            }
            Capability::LifecycleSetting => {
                let index = crate::unique_name("probe-lifecycle");
                let body = json!({"settings": {"index.lifecycle.name": "probe-policy"}});
                let path = format!("/{index}");
                let (status, _) = self.request(Method::Put, &path, Some(body)).await;
                if status.is_success() {
                    self.delete_index(&index).await;
                }
                status.is_success()
            }
            Capability::CoercedRanges => {
                let keyword = json!({"range": {"kw": {"lt": "m"}}});
                let long = json!({"range": {"n": {"gt": 1}}});
                self.probe_hits(json!({"bool": {"filter": [keyword, long]}}))
                    .await
            }
        }
    }

    /// Whether `query` selects the probe document ([`Self::probe_search`]).
    async fn probe_hits(&self, query: Value) -> bool {
        let answer = self.probe_search(json!({"query": query})).await;
        answer.is_some_and(|a| a["hits"]["total"]["value"] == json!(1))
    }

    /// Runs `body` on a fresh index holding one document (`args`, a date `d`, addresses `ip` and
    /// `ip6`, the number 5 in the keyword `kw`, the string "5" in the long `n`, and no `k`, a
    /// `constant_keyword` with the value `v`); `None` when the server refuses the search.
    async fn probe_search(&self, body: Value) -> Option<Value> {
        let index = crate::unique_name("probe-capability");
        let mapping = json!({"mappings": {"properties": {
            "k": {"type": "constant_keyword", "value": "v"},
            "args": {"type": "keyword"},
            "d": {"type": "date"},
            "ip": {"type": "ip"},
            "ip6": {"type": "ip"},
            "kw": {"type": "keyword"},
            "n": {"type": "long"},
        }}});
        self.ok(Method::Put, &format!("/{index}"), Some(mapping))
            .await;
        let doc = json!({"args": ["send-command", "commands=ls"], "d": "2024-01-02T10:00:00Z",
            "ip": "10.1.2.3", "ip6": "::1", "kw": 5, "n": "5"});
        self.bulk_create(&index, &[doc]).await;
        let (status, answer) = self
            .request(Method::Post, &format!("/{index}/_search"), Some(body))
            .await;
        self.delete_index(&index).await;
        status.is_success().then_some(answer)
    }

    /// Puts a template with an unknown field type: refused is the capability (one that was
    /// accepted is deleted again).
    async fn probe_template_validation(&self) -> bool {
        let name = crate::unique_name("probe-template");
        let body = json!({"index_patterns": [format!("{name}-*")], "template": {
            "mappings": {"properties": {"a": {"type": "no_such_type"}}}
        }});
        let path = format!("/_index_template/{name}");
        let (status, _) = self.request(Method::Put, &path, Some(body)).await;
        if status.is_success() {
            self.request(Method::Delete, &path, None).await;
        }
        status.as_u16() == 400
    }

    /// The real CloudTrail index template of the shared fixtures in this server's flavour:
    /// `flattened` fields for Elasticsearch, `flat_object` for OpenSearch (which has no
    /// `flattened`).
    pub async fn cloudtrail_template(&self) -> Value {
        cloudtrail_template(self.info().await.api)
    }
}

/// The shared fixtures' CloudTrail index template for `api`.
pub fn cloudtrail_template(api: Api) -> Value {
    let file = match api {
        Api::Elasticsearch => "fixtures/cloudtrail/index-template.json",
        Api::OpenSearch => "fixtures/cloudtrail/index-template.opensearch.json",
    };
    crate::read_json(&crate::shared_file(file))
}

/// Names the server from its `GET /` answer.
fn describe(root: &Value) -> ServerInfo {
    let version = root["version"]["number"].as_str().unwrap_or("?");
    let api = match root["version"]["distribution"].as_str() {
        Some("opensearch") => Api::OpenSearch,
        _ => Api::Elasticsearch,
    };
    let product = if root["name"] == json!("noida-db") {
        "noida-db"
    } else if root["cluster_name"] == json!("osmem") {
        "osmem-server"
    } else if api == Api::OpenSearch {
        "OpenSearch"
    } else {
        "Elasticsearch"
    };
    ServerInfo {
        label: format!("{product} {version}"),
        api,
    }
}

/// True when the server has `capability`; otherwise prints `SKIPPED <test>: <server> lacks
/// <what>` (straight to stderr, past the test harness's capture, and to [`SKIP_LOG_VAR`]) and
/// returns false, and the test returns at once:
///
/// ```ignore
/// if !require(&server, Capability::ElasticsearchSecurity).await {
///     return;
/// }
/// ```
pub async fn require(server: &TestServer, capability: Capability) -> bool {
    if server.has(capability).await {
        return true;
    }
    let label = &server.info().await.label;
    skip(&format!("{label} lacks {}", capability.what()));
    false
}

/// [`require`] for each capability on the server of [`crate::SERVER_URL_VAR`]: true when it has
/// them all; otherwise the first one it lacks is printed and the test returns at once.
pub async fn require_all(capabilities: &[Capability]) -> bool {
    let server = TestServer::connect();
    for capability in capabilities {
        if !require(&server, *capability).await {
            return false;
        }
    }
    true
}

/// True when the server has `capability`; otherwise reports the current test as run in part
/// (`SKIPPED <test>: <left_out>: <server> lacks <what>`, as [`skip`]) and returns false, and the
/// test goes on without what needs the capability:
///
/// ```ignore
/// if !partly(&server, Capability::IpPrefixes, "the CIDR event is not checked").await {
///     expected.remove("cidr");
/// }
/// ```
pub async fn partly(server: &TestServer, capability: Capability, left_out: &str) -> bool {
    if server.has(capability).await {
        return true;
    }
    let label = &server.info().await.label;
    skip(&format!("{left_out}: {label} lacks {}", capability.what()));
    false
}

/// Reports the current test as skipped for `reason`.
pub fn skip(reason: &str) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    let line = format!("SKIPPED {test}: {reason}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
    if let Some(path) = std::env::var_os(SKIP_LOG_VAR) {
        let appended = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut file| file.write_all(line.as_bytes()));
        if let Err(e) = appended {
            panic!(
                "cannot append to {}: {e}",
                std::path::Path::new(&path).display()
            );
        }
    }
}

/// The name of the pipeline [`TestServer::constant_fields_pipeline`] installs.
const CONSTANT_FIELDS_PIPELINE: &str = "lookout-test-constant-fields";

impl TestServer {
    /// Installs (once per test binary, idempotently) a pipeline that sets every
    /// `constant_keyword` field of `mappings` that a document lacks to its mapped value, and
    /// returns its name. Says once, on stderr, that the server needed it.
    pub async fn constant_fields_pipeline(&self, mappings: &Value) -> &'static str {
        static INSTALLED: OnceCell<()> = OnceCell::const_new();
        INSTALLED
            .get_or_init(|| async {
                let mut processors = Vec::new();
                constant_fields(&mappings["properties"], "", &mut processors);
                let body = json!({
                    "description": "lookout's integration tests: constant_keyword values written into documents",
                    "processors": processors,
                });
                self.ok(
                    Method::Put,
                    &format!("/_ingest/pipeline/{CONSTANT_FIELDS_PIPELINE}"),
                    Some(body),
                )
                .await;
                let label = &self.info().await.label;
                let line = format!(
                    "NOTE: {label} lacks {}: CloudTrail test indices write the constant values \
                     into each document (pipeline {CONSTANT_FIELDS_PIPELINE})\n",
                    Capability::ConstantKeyword.what()
                );
                let _ = std::io::stderr().write_all(line.as_bytes());
            })
            .await;
        CONSTANT_FIELDS_PIPELINE
    }
}

/// A `set` processor (that keeps a value already there) per `constant_keyword` field with a
/// value, found by walking `properties`.
fn constant_fields(properties: &Value, prefix: &str, out: &mut Vec<Value>) {
    let Some(object) = properties.as_object() else {
        return;
    };
    for (name, mapping) in object {
        let path = format!("{prefix}{name}");
        if let Some(inner) = mapping.get("properties") {
            constant_fields(inner, &format!("{path}."), out);
        } else if mapping["type"] == "constant_keyword" && mapping.get("value").is_some() {
            out.push(json!({"set": {"field": path, "value": mapping["value"], "override": false}}));
        }
    }
}
