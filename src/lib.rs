//! lookout: runs Elastic Security detection rules (the TOML files of Elastic's `detection-rules`
//! repository) against Elasticsearch on their schedules and writes each new match once, as an
//! alert document, to an alerts index that people browse in Kibana.
//!
//! The modules follow the data path:
//!
//! ```text
//! rules/*.toml --rule--> Rule (query parsed, defaults applied, validated once)
//!   --schedule--> Window [from, to] (pure time arithmetic, time passed in)
//!   --engine::plan--> search request (pure: DSL + time range + paging)
//!   --es--> pages of hits (the only module that speaks HTTP)
//!   --alert--> Alert { id, document } (pure; id = stable hash)
//!   --es--> bulk create -> ExecutionReport
//! ```

pub mod alert;
pub mod cli;
pub mod config;
pub mod engine;
pub mod eql;
pub mod es;
pub mod generator;
pub mod kibana;
pub mod kql;
pub mod logging;
pub mod observe;
pub mod rule;
pub mod rule_types;
pub mod schedule;
pub mod state;
