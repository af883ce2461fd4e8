//! Which code runs one chunk of a rule: query rules take the engine's own path (`chunk::run`);
//! threshold, new terms and indicator match rules take `crate::rule_types::run_chunk`
//! (docs/rule-types.md). Windows, state and execution records are the same for every type.

use super::ExecutionError;
use super::chunk::{self, ChunkContext, ChunkOutcome};
use crate::rule_types::{self, TypeContext};
use crate::schedule::Window;

/// Runs one chunk with the code of the rule's type.
pub(super) async fn run(
    context: &ChunkContext<'_>,
    window: &Window,
) -> Result<ChunkOutcome, ExecutionError> {
    if !rule_types::handles(context.rule) {
        return chunk::run(context, window).await;
    }
    let typed = TypeContext {
        client: context.client,
        rule: context.rule,
        query: context.query,
        alerts_index: context.alerts_index,
        alerts_pattern: context.alerts_pattern,
        alert: context.alert,
    };
    let outcome = rule_types::run_chunk(&typed, window).await?;
    Ok(ChunkOutcome {
        hits: outcome.hits,
        created: outcome.created,
        duplicates: outcome.duplicates,
        limit_reached: outcome.limit_reached,
        search: outcome.search,
        write: outcome.write,
    })
}
