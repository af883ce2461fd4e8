//! EQL rules: sequence matching and the native `_eql/search` request and answer (this file only
//! declares them; the EQL parser, evaluator and DSL translation live beside them).

pub mod native;
pub mod sequence;
