//! Group commit of the writes that end an execution (its rule state and its record): a write
//! goes out at once when none is in flight; writes that arrive while one is in flight wait for
//! it and then go out together, in one `_bulk`. Alone, an execution waits for nothing; when
//! many end together (a start, a catch-up, a slow server), they share requests. Each write
//! still gets its own outcome, and an execution returns only once its own write is answered,
//! so a window counts as covered only once its state is written.

use crate::es::{Client, ConditionalPut, EsError, PutOutcome};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::oneshot;

/// Writes of several executions, each a list of (index, conditional put).
#[derive(Debug, Clone)]
pub(super) struct WriteBatch {
    client: Client,
    queue: Arc<Mutex<Queue>>,
}

#[derive(Debug, Default)]
struct Queue {
    waiting: Vec<Waiting>,
    /// A flusher is sending (it takes whatever waits when its request is answered).
    flushing: bool,
}

#[derive(Debug)]
struct Waiting {
    puts: Vec<(String, ConditionalPut)>,
    reply: oneshot::Sender<Result<Vec<PutOutcome>, EsError>>,
}

impl WriteBatch {
    pub(super) fn new(client: Client) -> WriteBatch {
        WriteBatch {
            client,
            queue: Arc::default(),
        }
    }

    /// Writes `puts` (with the writes of other executions waiting at the same time); their
    /// outcomes, in order.
    pub(super) async fn put(
        &self,
        label: &str,
        puts: Vec<(String, ConditionalPut)>,
    ) -> Result<Vec<PutOutcome>, EsError> {
        let (reply, answer) = oneshot::channel();
        let start_flusher = {
            let mut queue = lock(&self.queue);
            queue.waiting.push(Waiting { puts, reply });
            !std::mem::replace(&mut queue.flushing, true)
        };
        if start_flusher {
            // A task of its own: an execution dropped while waiting (shutdown) never leaves
            // the others without a flusher.
            let (client, queue, label) =
                (self.client.clone(), self.queue.clone(), label.to_string());
            tokio::spawn(async move { flush_all(&client, &queue, &label).await });
        }
        answer.await.unwrap_or_else(|_| {
            Err(EsError::InvalidRequest {
                op: "bulk put",
                index: label.to_string(),
                message: "the batched write was dropped before it was answered".to_string(),
            })
        })
    }
}

/// Sends what waits, again and again, until nothing does.
async fn flush_all(client: &Client, queue: &Mutex<Queue>, label: &str) {
    loop {
        let waiting = {
            let mut queue = lock(queue);
            if queue.waiting.is_empty() {
                queue.flushing = false;
                return;
            }
            std::mem::take(&mut queue.waiting)
        };
        flush(client, waiting, label).await;
    }
}

async fn flush(client: &Client, waiting: Vec<Waiting>, label: &str) {
    let puts: Vec<(&str, &ConditionalPut)> = (waiting.iter())
        .flat_map(|w| w.puts.iter().map(|(index, put)| (index.as_str(), put)))
        .collect();
    let executions = waiting.len();
    let answer = client.bulk_put_if_into(label, &puts, false).await;
    tracing::debug!(
        executions,
        writes = puts.len(),
        "state and records written together"
    );
    match answer {
        Ok(outcomes) => {
            let mut outcomes = outcomes.into_iter();
            for w in waiting {
                let mine: Vec<PutOutcome> = outcomes.by_ref().take(w.puts.len()).collect();
                let _ = w.reply.send(Ok(mine));
            }
        }
        Err(error) => {
            for w in waiting {
                let _ = w.reply.send(Err(error.clone()));
            }
        }
    }
}

fn lock(queue: &Mutex<Queue>) -> MutexGuard<'_, Queue> {
    queue
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
