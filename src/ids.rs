//! Every stable id lookout derives, pure: an alert's id ("this event matched by this rule"), the
//! uuid of a rule, and the length-framed SHA-256 they and the ids of grouped alerts (threshold
//! groups, new terms, EQL sequences) are built from (docs/architecture.md, "Alerts and
//! deduplication"). The same inputs always give the same id, on every instance and after every
//! restart: that is what keeps an alert from being written twice.

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The fixed namespace of lookout's UUID v5 rule uuids (`kibana.alert.rule.uuid`). Never change
/// it: every alert written so far names its rule by a uuid derived from it.
pub const RULE_UUID_NAMESPACE: Uuid = Uuid::from_u128(0xf3b8_8a71_732d_445f_8a24_e1af_5821_ab13);

/// The id of the alert for one source event and one rule: lowercase hex SHA-256 over the source
/// index, source id, namespace and rule id.
///
/// Joining the parts with a separator would not do: a document id may hold any character, NUL
/// included (`"\u0000"` in JSON), so no single byte is safe. Each part is instead framed by its
/// length (8 bytes, big-endian) before its bytes, which keeps distinct tuples distinct for every
/// possible input: ("ab", "c") never hashes like ("a", "bc").
pub fn alert_id(source_index: &str, source_id: &str, namespace: &str, rule_id: &str) -> String {
    framed_id(&[source_index, source_id, namespace, rule_id])
}

/// Lowercase hex SHA-256 over the parts, each framed by its length (8 bytes, big-endian), so
/// that distinct tuples never hash alike: the ids of alerts ([`alert_id`]) and of alerts that
/// stand for several events (threshold groups, new terms, EQL sequences).
pub fn framed_id(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    frame(parts, |bytes| hasher.update(bytes));
    lower_hex(&hasher.finalize())
}

/// Bytes as lowercase hex, two digits each.
fn lower_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        hex.push(char::from(DIGITS[usize::from(byte >> 4)]));
        hex.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    hex
}

/// `kibana.alert.rule.uuid`: a UUID v5 over the namespace and rule id (length-framed as in
/// [`alert_id`]), stable across restarts and instances.
pub fn rule_uuid(namespace: &str, rule_id: &str) -> Uuid {
    let mut framed = Vec::new();
    frame(&[namespace, rule_id], |bytes| {
        framed.extend_from_slice(bytes)
    });
    Uuid::new_v5(&RULE_UUID_NAMESPACE, &framed)
}

/// Writes each part as its length (u64, big-endian) followed by its bytes.
fn frame(parts: &[&str], mut write: impl FnMut(&[u8])) {
    for part in parts {
        let length = u64::try_from(part.len()).expect("a string length fits in a u64");
        write(&length.to_be_bytes());
        write(part.as_bytes());
    }
}
