//! Fuzz target: any bytes as a rule file. Loading never panics; a rule that loads has a query
//! that translates.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout::kql;
use lookout::rule;

fuzz_target!(|data: &[u8]| {
    let path = std::path::Path::new("fuzz.toml");
    if let Ok((rule, _warnings)) = rule::parse_rule_bytes(path, data)
        && let Some(query) = &rule.kql
    {
        let _ = kql::to_dsl(query, None);
    }
});
