//! KQL (Kibana Query Language): parse a query into a closed syntax tree and translate it into
//! Elasticsearch query DSL exactly as Kibana does. Pure: no I/O, no clock, and nothing else from
//! this crate is imported, so it can become a crate of its own.
