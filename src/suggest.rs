//! The closest known word to a misspelled one (`timestamp_overide` -> `timestamp_override`), for
//! "did you mean" hints in rule file and configuration errors. Pure.

/// The known word closest to `word` by edit distance, when it is close enough to be a likely
/// typo: at most a third of the word's length in edits (at least one).
pub fn closest<'a>(word: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    known
        .into_iter()
        .map(|candidate| (edit_distance(word, candidate), candidate))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance over characters (insertions, deletions and substitutions count one).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_typo_finds_the_key_it_misspells() {
        let known = ["timestamp_override", "timeline_id", "threshold"];
        assert_eq!(
            closest("timestamp_overide", known),
            Some("timestamp_override")
        );
        assert_eq!(closest("treshold", known), Some("threshold"));
    }

    #[test]
    fn a_word_far_from_every_key_has_no_suggestion() {
        assert_eq!(closest("colour", ["timestamp_override", "query"]), None);
        assert_eq!(closest("ab", ["xy"]), None);
    }

    #[test]
    fn edit_distance_counts_single_character_edits() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
