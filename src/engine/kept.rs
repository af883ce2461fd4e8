//! What an engine keeps for a rule from one execution to the next (the state it saved, an EQL
//! rule's sequence matcher): taken out when an execution starts and put back only when it ends
//! well, so an execution that fails leaves the next one to start afresh. Each value is kept with
//! a tag saying what it was made under (a lease fence, a query text) and handed out only for
//! the same tag.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard};

#[derive(Debug)]
pub(super) struct Kept<K, T, V> {
    entries: Mutex<HashMap<K, (T, V)>>,
}

impl<K, T, V> Default for Kept<K, T, V> {
    fn default() -> Self {
        Kept {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash, T, V> Kept<K, T, V> {
    /// Takes the value kept for `key` out; `None` when there is none, or it was kept under
    /// another tag (it is dropped then).
    pub(super) fn take<Q: ?Sized>(&self, key: &K, tag: &Q) -> Option<V>
    where
        T: PartialEq<Q>,
    {
        let (kept_tag, value) = self.lock().remove(key)?;
        (kept_tag == *tag).then_some(value)
    }

    pub(super) fn put(&self, key: K, tag: T, value: V) {
        self.lock().insert(key, (tag, value));
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, (T, V)>> {
        (self.entries.lock()).unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::Kept;

    #[test]
    fn a_value_comes_back_once_and_only_under_its_tag() {
        let kept: Kept<&str, String, u32> = Kept::default();
        kept.put("rule", "q1".to_string(), 7);
        assert_eq!(kept.take(&"rule", "q1"), Some(7));
        assert_eq!(kept.take(&"rule", "q1"), None, "taken out");
        kept.put("rule", "q1".to_string(), 8);
        assert_eq!(kept.take(&"rule", "q2"), None, "another tag");
        assert_eq!(kept.take(&"rule", "q1"), None, "dropped with the wrong tag");
    }
}
