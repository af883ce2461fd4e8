//! EQL rules: sequence matching and the native `_eql/search` request and answer (this file only
//! declares them; the EQL parser, evaluator and DSL translation live beside them).

// Until the engine's EQL kind calls into this module (issue 13), only its tests do.
#![allow(dead_code, unused_imports)]

pub mod native;
pub mod sequence;
