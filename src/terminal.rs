//! Text from events, rule files and servers made safe to print on a terminal: every control
//! character (C0 such as ESC, BEL and backspace, DEL, and the C1 range such as CSI), the
//! bidirectional embeddings, overrides, isolates and marks, and the line and paragraph
//! separators are written as escapes (`\u{1b}`, `\n`), so that printed text can neither drive
//! the terminal nor disguise what it says. Every command prints such text through [`printable`]
//! (or [`printable_json`] for JSON). Pure.

use std::borrow::Cow;

/// Whether `c` must not reach a terminal as it is.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' // arabic letter mark
                | '\u{200e}'..='\u{200f}' // left-to-right and right-to-left marks
                | '\u{2028}'..='\u{2029}' // line and paragraph separators
                | '\u{202a}'..='\u{202e}' // embeddings and overrides
                | '\u{2066}'..='\u{2069}' // isolates
        )
}

/// `text` with every unsafe character written as its Rust escape (`\n`, `\t`, `\u{1b}`,
/// `\u{202e}`); borrowed when there is none.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unsafe(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// JSON text with every unsafe character that the JSON writer left as it is (DEL, C1, the
/// bidirectional and separator characters; it escapes C0 itself) written as a `\uXXXX` escape,
/// so the text stays the same JSON. Such characters can only occur inside JSON strings.
pub fn printable_json(json: &str) -> Cow<'_, str> {
    if !json.chars().any(is_unsafe_in_json) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 8);
    for c in json.chars() {
        if is_unsafe_in_json(c) {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Unsafe characters other than the JSON text's own whitespace (newlines and indentation of
/// pretty output).
fn is_unsafe_in_json(c: char) -> bool {
    is_unsafe(c) && !matches!(c, '\n' | '\r' | '\t')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_as_it_is() {
        assert!(matches!(
            printable("AWS IAM Group Creation é 日本"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn terminal_escape_sequences_and_c0_controls_are_escaped() {
        assert_eq!(
            printable("a\u{1b}[31mred\u{7}\u{8}\n\t"),
            "a\\u{1b}[31mred\\u{7}\\u{8}\\n\\t"
        );
    }

    #[test]
    fn c1_controls_and_del_are_escaped() {
        assert_eq!(printable("x\u{9b}2Jy\u{7f}"), "x\\u{9b}2Jy\\u{7f}");
    }

    #[test]
    fn bidirectional_overrides_isolates_marks_and_separators_are_escaped() {
        let text = "a\u{202e}b\u{2066}c\u{200f}d\u{2028}e\u{061c}";
        assert_eq!(
            printable(text),
            "a\\u{202e}b\\u{2066}c\\u{200f}d\\u{2028}e\\u{61c}"
        );
    }

    #[test]
    fn json_keeps_its_layout_and_stays_the_same_json() {
        let value = serde_json::json!({"q": "a\u{9b}b\u{202e}c\u{1b}"});
        let pretty = serde_json::to_string_pretty(&value).expect("serializes");
        let safe = printable_json(&pretty);
        assert!(safe.contains('\n'));
        assert!(
            !safe
                .chars()
                .any(|c| is_unsafe(c) && !c.is_ascii_whitespace())
        );
        let back: serde_json::Value = serde_json::from_str(&safe).expect("still JSON");
        assert_eq!(back, value);
    }
}
