//! lookout: runs Elastic Security detection rules (the TOML files of Elastic's `detection-rules`
//! repository) against Elasticsearch on their schedules and writes each new match once, as an
//! alert document, to an alerts index that people browse in Kibana.
//!
//! The modules follow the data path (docs/architecture.md has the map, each module's one job and
//! the directions imports may take):
//!
//! ```text
//! rules/*.toml --rule--> Rule (query parsed, defaults applied, kind checked) or NotRunnable
//!   --schedule--> windows [from, to] (pure time arithmetic, time passed in)
//!   --engine--> one execution: its kind plans searches (engine::plan, pure) ...
//!   --es--> ... pages of hits (the only module that speaks HTTP)
//!   --alert--> Alert { id, document } (pure; id = stable hash)
//!   --engine's alert sink--> bulk create; --state--> covered_to, execution record
//! service: the engine on a schedule (scheduler, clock, start-up); observe: health and metrics
//! ```
//!
//! Every module is private. What follows is the library's interface: what the `lookout` command
//! (`src/main.rs`, `src/cli/`) and the integration tests use, grouped along the data path.

mod alert;
mod clock;
mod config;
mod engine;
pub mod eql;
mod es;
mod exceptions;
mod files;
mod ids;
mod kibana;
pub mod kql;
mod lease;
mod logging;
mod notify;
mod observe;
mod rule;
mod schedule;
mod service;
mod state;
mod suggest;
mod terminal;

// Configuration and logging.
pub use config::{
    AlertsConfig, Config, ConfigError, DEFAULT_LOG_LEVEL, DEFAULT_NAMESPACE, ENV_VARS,
    ElasticsearchConfig, EngineConfig, EqlPath, NotifyConfig, Override, RolloverConfig,
    RulesConfig, Secret, redact_userinfo,
};
pub use logging::{LoggingError, init as init_logging};

// Rule files and the rule model, and the exception lists rules name.
pub use exceptions::{Catalog as ExceptionCatalog, Problem as ExceptionProblem};
pub use rule::{
    Diagnostic, Kind, Language, LoadReport, Loaded, MAX_RULE_FILE_BYTES, Maturity, Meta, NewTerms,
    NotRunnable, Query, Rule, RuleType, Search, Severity, Summary, ThreatMatch, Threshold,
    Timestamp, load_path, load_paths, load_paths_with, parse_rule_bytes, parse_rule_bytes_with,
};

// Text for terminals: control characters escaped.
pub use terminal::{printable, printable_json};

// Time: schedules, windows, date math and durations as rule files write them.
pub use schedule::datemath::{DateMath, Rounding, parse_date};
pub use schedule::duration::{format_duration, parse_duration};
pub use schedule::{Cadence, Cron, Schedule, Window};

// The server.
pub use es::{
    BULK_MAX_ATTEMPTS, Client, ClockOffset, Distribution, EsError, Flow, Hit, IndexFacts,
    IndexName, NameFacts, Paging, PagingError, Rollover, ServerInfo, total_hits,
};

// One execution of one rule, and what a rule would search and find.
pub use engine::{
    DeadLetterRetry, Engine, ExecutionError, ExecutionReport, FieldCapsCache,
    MAX_SEQUENCE_LOOKBACK, MAX_SIGNALS_WARNING, NEW_TERMS_PAGE_SIZE, NewTerm, NewTermsFound,
    PlannedSearch, Preview, Settings, THREAT_INDICATOR_PAGE_SIZE, planned_searches, preview,
    simplify_filter,
};

// Rules on their schedules: loading the configured rules, start-up, the scheduler and its clock.
pub use clock::{Clock, ManualClock, OffsetClock, SystemClock};
pub use service::fields::{UnmappedFields, unmapped_fields, warn_unmapped_fields};
pub use service::housekeeping::{
    AlertsTarget, HOUSEKEEPING_EVERY, Housekeeping, RolloverBy, RoundReport as HousekeepingReport,
    alerts_template, first_generation, ilm_policy, ilm_policy_name, prepare_alerts,
    rollover_conditions,
};
pub use service::scheduler::{
    Coverage, Executor, Options as SchedulerOptions, Ownership, START_RAMP, is_due,
    run as schedule_rules, run_once as run_rules_once, run_shared as schedule_shared, stagger,
};
pub use service::setup::{
    Backoff, FailedAttempt, index_templates, index_templates_with, prepare as prepare_server,
};
pub use service::shared::Sharing;
pub use service::{
    ONCE_CONNECT_ATTEMPTS, RuleSet, SERVER_CLOCK_EVERY, ServiceError, connect, coverage,
    keep_server_clock, load_rules, notifier, read_server_clock, run_once, schedule_and_deliver,
};

// Several instances sharing the rules: what the leases index says (`lookout status`).
pub use lease::{
    InstanceOverview, Overview as LeaseOverview, Place as LeasePlace, overview as lease_overview,
};

// What lookout keeps in the server, and what it shows people.
pub use alert::{alert_id, rule_uuid, template_name};
pub use kibana::{saved_objects, to_ndjson};
pub use notify::{Notifier, Targets, delivery_counts};
pub use observe::{
    ExecutionSample, HEADER_READ_TIMEOUT, MAX_CONCURRENT_CONNECTIONS, Observer, StatusLabel,
    serve as serve_operator_endpoint,
};
pub use state::{DeadLetter, ExecutionRecord, ExecutionStatus, Fence, Gap, RuleState, StateStore};

/// Internals the benchmarks (`benches/`) measure directly; not part of the interface.
#[doc(hidden)]
pub mod bench {
    pub use crate::alert::{
        Alert, AlertContext, SharedFields, SourceEvent, alert_id, alert_json, build_alert,
        build_alert_with,
    };
}
