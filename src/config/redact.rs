//! Redaction of credentials from text that may reach a log, an error or a terminal: the
//! `user:password@` part of URLs. Pure.

/// Replaces the `user:password@` part of every URL in `text` by `[redacted]@`.
pub fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(scheme_end) = rest.find("://") {
        let authority_start = scheme_end + 3;
        out.push_str(&rest[..authority_start]);
        let after = &rest[authority_start..];
        let authority_len = after
            .find(|c: char| {
                matches!(c, '/' | '?' | '#') || c.is_whitespace() || c == '"' || c == '\''
            })
            .unwrap_or(after.len());
        let authority = &after[..authority_len];
        match authority.rfind('@') {
            Some(at) => {
                out.push_str("[redacted]");
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &after[authority_len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_redacted_from_every_url_in_a_message() {
        let text = "error sending request for url (http://elastic:hunter2@localhost:9200/_search) and https://a:b@c/";
        let redacted = redact_userinfo(text);
        assert!(
            !redacted.contains("hunter2") && !redacted.contains("a:b"),
            "{redacted}"
        );
        assert!(
            redacted.contains("http://[redacted]@localhost:9200/_search"),
            "{redacted}"
        );
        assert_eq!(
            redact_userinfo("http://localhost:9200/"),
            "http://localhost:9200/"
        );
    }
}
