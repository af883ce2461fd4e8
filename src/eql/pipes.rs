//! Which matches of a window lookout's own run keeps, as `_eql/search` chooses them
//! (docs/eql.md, "Which matches a window keeps"): the query's `| head N` / `| tail N` pipes and the
//! request's `size` (the rule's `max_signals`). Elasticsearch's plan adds `size` as a limit in
//! the direction of the query's first pipe, below it; without pipes as `tail` (the API's default
//! `result_position`: the most recent matches). Matches are counted in the order Elasticsearch
//! orders them (timestamp, then tiebreaker): events for an event query, sequences for a
//! sequence query. Pure.

use super::ast::Pipe;
use std::collections::VecDeque;

/// Takes a window's matches in order, one at a time, and keeps the ones the limits select,
/// holding at most as many as the first `tail` keeps.
#[derive(Debug, Clone)]
pub struct Picker<T> {
    /// The leading `head` limits: no match past this many is selected.
    stop_after: Option<u64>,
    /// The first `tail` limit: only the last this many of the matches read can be selected.
    keep: usize,
    /// The limits after that `tail`, applied to what it keeps.
    rest: Vec<Pipe>,
    seen: u64,
    kept: VecDeque<T>,
}

impl<T> Picker<T> {
    /// The picker of a query with `pipes`, sent with `size`.
    pub fn new(pipes: &[Pipe], size: u64) -> Self {
        let limits = limits(pipes, size);
        let leading = limits
            .iter()
            .take_while(|limit| matches!(limit, Pipe::Head(_)));
        let stop_after = leading.clone().map(|limit| count(*limit)).min();
        let heads = leading.count();
        // The limits end in a `tail` or start with the size `head`; after the leading heads,
        // either a tail or nothing (a head-only plan keeps what the heads let through).
        let (keep, rest) = match limits.get(heads) {
            Some(Pipe::Tail(n)) => (*n, limits[heads + 1..].to_vec()),
            _ => (stop_after.unwrap_or(size), Vec::new()),
        };
        Self {
            stop_after,
            keep: usize::try_from(keep).unwrap_or(usize::MAX),
            rest,
            seen: 0,
            kept: VecDeque::new(),
        }
    }

    /// False once no later match can be selected (a `head` is full): the caller can stop
    /// reading.
    pub fn wants_more(&self) -> bool {
        self.stop_after.is_none_or(|n| self.seen < n)
    }

    /// The next match, in order.
    pub fn push(&mut self, item: T) {
        if !self.wants_more() {
            return;
        }
        self.seen += 1;
        if self.keep == 0 {
            return;
        }
        if self.kept.len() == self.keep {
            self.kept.pop_front();
        }
        self.kept.push_back(item);
    }

    /// How many matches were taken (up to where a `head` was full).
    pub fn taken(&self) -> u64 {
        self.seen
    }

    /// The selected matches, in order.
    pub fn finish(self) -> Vec<T> {
        let mut kept = self.kept;
        for limit in self.rest {
            let n = usize::try_from(count(limit)).unwrap_or(usize::MAX);
            match limit {
                Pipe::Head(_) => kept.truncate(n),
                Pipe::Tail(_) => {
                    let drop = kept.len().saturating_sub(n);
                    kept.drain(..drop);
                }
            }
        }
        kept.into()
    }
}

/// The query's pipes with the request's `size` inserted as Elasticsearch's plan has it: below
/// the first pipe, in its direction; a `tail` when there is no pipe.
fn limits(pipes: &[Pipe], size: u64) -> Vec<Pipe> {
    let first = match pipes.first() {
        Some(Pipe::Head(_)) => Pipe::Head(size),
        Some(Pipe::Tail(_)) | None => Pipe::Tail(size),
    };
    std::iter::once(first)
        .chain(pipes.iter().copied())
        .collect()
}

fn count(limit: Pipe) -> u64 {
    match limit {
        Pipe::Head(n) | Pipe::Tail(n) => n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(pipes: &[Pipe], size: u64, matches: u64) -> Vec<u64> {
        let mut picker = Picker::new(pipes, size);
        for i in 0..matches {
            if !picker.wants_more() {
                break;
            }
            picker.push(i);
        }
        picker.finish()
    }

    #[test]
    fn without_pipes_the_last_size_matches_are_kept_as_elasticsearch_returns_them() {
        assert_eq!(pick(&[], 3, 10), vec![7, 8, 9]);
        assert_eq!(pick(&[], 3, 2), vec![0, 1]);
        assert_eq!(pick(&[], 100, 0), Vec::<u64>::new());
    }

    #[test]
    fn tail_keeps_the_last_n_and_size_caps_it() {
        assert_eq!(pick(&[Pipe::Tail(1)], 100, 5), vec![4]);
        assert_eq!(pick(&[Pipe::Tail(4)], 2, 10), vec![8, 9]);
        assert_eq!(pick(&[Pipe::Tail(4)], 100, 3), vec![0, 1, 2]);
    }

    #[test]
    fn head_keeps_the_first_n_stops_reading_there_and_size_caps_it() {
        let mut picker = Picker::new(&[Pipe::Head(2)], 100);
        picker.push(0);
        assert!(picker.wants_more());
        picker.push(1);
        assert!(!picker.wants_more(), "nothing after the head is needed");
        picker.push(2);
        assert_eq!(picker.finish(), vec![0, 1]);
        assert_eq!(pick(&[Pipe::Head(5)], 3, 10), vec![0, 1, 2]);
    }

    #[test]
    fn pipes_compose_left_to_right() {
        assert_eq!(pick(&[Pipe::Tail(5), Pipe::Head(2)], 100, 10), vec![5, 6]);
        assert_eq!(pick(&[Pipe::Head(5), Pipe::Tail(2)], 100, 10), vec![3, 4]);
        assert_eq!(pick(&[Pipe::Tail(0)], 100, 10), Vec::<u64>::new());
    }
}
