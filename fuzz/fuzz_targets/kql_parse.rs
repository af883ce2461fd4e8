//! Fuzz target: any bytes as KQL text. Parsing never panics; a query that parses translates
//! (untyped and typed) and prints back as text that parses to the same tree.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout::kql::{self, FieldMap};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(query) = kql::parse(text) else {
        return;
    };
    let mut fields = FieldMap::default();
    fields.insert("a", &["keyword"], None);
    fields.insert("b", &["date"], None);
    fields.insert("n.x", &["keyword"], Some("n"));
    let _ = kql::to_dsl(&query, None);
    let _ = kql::to_dsl(&query, Some(&fields));
    let printed = query.to_string();
    let again = kql::parse(&printed).expect("a printed query parses");
    assert_eq!(again, query, "{text:?} printed as {printed:?}");
});
