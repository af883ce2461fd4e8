//! Fuzz target: any bytes as a rule file. Loading never panics; a rule that loads has a query
//! that translates.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout::kql;

fuzz_target!(|data: &[u8]| {
    let path = std::path::Path::new("fuzz.toml");
    if let Ok((lookout::Loaded::Runnable(rule), _warnings)) = lookout::parse_rule_bytes(path, data)
        && let lookout::Query::Kql { tree, .. } = rule.kind.query()
    {
        let _ = kql::to_dsl(tree, None);
    }
});
