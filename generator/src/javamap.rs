//! The text form the AWS integration's ingest pipeline gives `requestParameters` and its relatives:
//! Java's `Map.toString()` of a `HashMap` (`{groupName=admin, userName=Bob}`), with nested maps as
//! `{k={...}}` and lists as `[a, b]`. Pure; input is a JSON value, output the string Elastic stores
//! in `aws.cloudtrail.request_parameters`.
//!
//! Key order is the iteration order of `java.util.HashMap` with its default capacity (16, doubled
//! whenever the map holds more than 3/4 of it): keys ordered by bucket, `(hash ^ hash >>> 16) &
//! (capacity - 1)` with Java's `String.hashCode`, ties in insertion order. That matches every
//! sample of the shared fixtures, so rules that match this string with wildcards see the same text
//! as on real data.

use serde_json::Value;

/// `java.util.HashMap`'s initial table size.
const JAVA_HASHMAP_INITIAL_CAPACITY: usize = 16;

/// Renders a JSON value the way Java's `toString()` renders the parsed map, list or scalar.
pub fn java_to_string(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, &mut out);
    out
}

fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            out.push('{');
            for (i, (key, inner)) in hashmap_order(map).into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(key);
                out.push('=');
                write_value(inner, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::String(text) => out.push_str(text),
        Value::Null => out.push_str("null"),
        Value::Bool(_) | Value::Number(_) => out.push_str(&value.to_string()),
    }
}

/// The map's entries in `java.util.HashMap` iteration order.
fn hashmap_order(map: &serde_json::Map<String, Value>) -> Vec<(&String, &Value)> {
    let capacity = table_capacity(map.len());
    let mut entries: Vec<(usize, (&String, &Value))> = map
        .iter()
        .map(|(key, value)| (bucket(key, capacity), (key, value)))
        .collect();
    // A stable sort keeps insertion order inside one bucket, as HashMap's chains do.
    entries.sort_by_key(|(bucket, _)| *bucket);
    entries.into_iter().map(|(_, entry)| entry).collect()
}

/// The table size a default `HashMap` has after `len` insertions.
fn table_capacity(len: usize) -> usize {
    let mut capacity = JAVA_HASHMAP_INITIAL_CAPACITY;
    while len * 4 > capacity * 3 {
        capacity *= 2;
    }
    capacity
}

fn bucket(key: &str, capacity: usize) -> usize {
    let hash = java_string_hash(key);
    let spread = hash ^ (hash >> 16);
    spread as usize & (capacity - 1)
}

/// `java.lang.String.hashCode()`: over UTF-16 code units, wrapping 32-bit arithmetic.
fn java_string_hash(text: &str) -> u32 {
    text.encode_utf16().fold(0u32, |hash, unit| {
        hash.wrapping_mul(31).wrapping_add(u32::from(unit))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_follow_java_hashmap_order_not_insertion_order() {
        let params = json!({"userName": "Bob", "groupName": "admin"});
        assert_eq!(java_to_string(&params), "{groupName=admin, userName=Bob}");
    }

    #[test]
    fn attach_group_policy_puts_policy_arn_first() {
        let params =
            json!({"groupName": "Admins", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"});
        assert_eq!(
            java_to_string(&params),
            "{policyArn=arn:aws:iam::aws:policy/ReadOnlyAccess, groupName=Admins}"
        );
    }

    #[test]
    fn nested_maps_lists_and_numbers_render_like_java() {
        let params = json!({
            "roleArn": "arn:aws:iam::111111111111:role/JohnRole2",
            "roleSessionName": "Role2WithTags",
            "durationSeconds": 3600,
            "tags": [{"key": "Email", "value": "johndoe@example.com"}],
            "transitiveTagKeys": ["Email", "CostCenter"],
            "incomingTransitiveTags": {"Department": "Engineering"}
        });
        assert_eq!(
            java_to_string(&params),
            "{incomingTransitiveTags={Department=Engineering}, transitiveTagKeys=[Email, CostCenter], \
             durationSeconds=3600, roleArn=arn:aws:iam::111111111111:role/JohnRole2, \
             roleSessionName=Role2WithTags, tags=[{value=johndoe@example.com, key=Email}]}"
        );
    }

    #[test]
    fn table_grows_past_three_quarters_full() {
        assert_eq!(table_capacity(12), 16);
        assert_eq!(table_capacity(13), 32);
        assert_eq!(table_capacity(25), 64);
    }

    #[test]
    fn string_hash_matches_java() {
        // "hello".hashCode() == 99162322 in Java.
        assert_eq!(java_string_hash("hello"), 99_162_322);
        assert_eq!(java_string_hash(""), 0);
    }
}
