//! Mustache message templates rendered against JSON data (Kibana's action variables, see
//! [`super::data`]), with the escaping of the place the text goes to: JSON string content in a
//! webhook body, Slack mrkdwn, HTML in an email, none for plain text. Pure: text in, text out.
//!
//! The engine is the `ramhorns` crate; lookups, truthiness, iteration and escaping are this
//! module's [`Content`] implementation over `serde_json::Value`, so dotted names
//! (`{{context.rule.name}}`), `{{.}}` and sections over arrays (`{{#context.alerts}}`) behave as
//! in Kibana's Mustache. Before parsing, tags alone on their line lose the line (Mustache's
//! "standalone" rule) and sections are checked to be balanced; partials and delimiter changes
//! are refused.

use ramhorns::encoding::Encoder;
use ramhorns::traits::ContentSequence;
use ramhorns::{Content, Section};
use serde_json::Value;

/// How values are escaped by `{{name}}` (`{{{name}}}` and `{{&name}}` never escape).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// Nothing escaped: plain text, or text lookout puts into JSON itself.
    None,
    /// JSON string content (`"` `\` and control characters), for templates of JSON bodies.
    Json,
    /// Slack mrkdwn control characters `&` `<` `>`.
    Slack,
    /// HTML special characters.
    Html,
}

/// A parsed template.
pub struct Template {
    inner: ramhorns::Template<'static>,
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Template").finish_non_exhaustive()
    }
}

impl Template {
    /// Parses `source`; the message says what is wrong and where.
    pub fn parse(source: &str) -> Result<Template, String> {
        let normalized = standalone_lines(source)?;
        let inner = ramhorns::Template::new(normalized)
            .map_err(|e| format!("not a valid Mustache template: {e:?}"))?;
        Ok(Template { inner })
    }

    /// The text for `data`, values escaped per `escape`. Missing names render as nothing.
    pub fn render(&self, data: &Value, escape: Escape) -> String {
        self.inner.render(&Json {
            value: data,
            escape,
        })
    }
}

/// Renders a template given as text once (tests).
#[cfg(test)]
pub fn render_text(source: &str, data: &Value, escape: Escape) -> Result<String, String> {
    Ok(Template::parse(source)?.render(data, escape))
}

/// One tag found in a template.
struct Tag<'a> {
    start: usize,
    end: usize,
    /// The character after `{{` (`#`, `^`, `/`, `!`, `{`, `&`, `>`, `=`) or `' '` for a variable.
    sigil: char,
    name: &'a str,
}

/// The tags of a template, in order, or why it cannot be read.
fn tags(source: &str) -> Result<Vec<Tag<'_>>, String> {
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(open) = source[at..].find("{{") {
        let start = at + open;
        let triple = source[start..].starts_with("{{{");
        let close_token = if triple { "}}}" } else { "}}" };
        let inner_start = start + if triple { 3 } else { 2 };
        let Some(close) = source[inner_start..].find(close_token) else {
            return Err(format!("a tag opened at byte {start} is never closed"));
        };
        let inner = &source[inner_start..inner_start + close];
        let end = inner_start + close + close_token.len();
        let (sigil, name) = match inner.trim_start().chars().next() {
            _ if triple => ('{', inner.trim()),
            Some(c @ ('#' | '^' | '/' | '!' | '&' | '>' | '=')) => {
                (c, inner.trim_start()[1..].trim())
            }
            _ => (' ', inner.trim()),
        };
        found.push(Tag {
            start,
            end,
            sigil,
            name,
        });
        at = end;
    }
    Ok(found)
}

/// Checks the tags (balanced sections, no partials or delimiter changes) and removes the line
/// of every section, inverted-section, closing or comment tag that stands alone on it.
fn standalone_lines(source: &str) -> Result<String, String> {
    let tags = tags(source)?;
    let mut open: Vec<&str> = Vec::new();
    for tag in &tags {
        match tag.sigil {
            '#' | '^' => open.push(tag.name),
            '/' => match open.pop() {
                Some(name) if name == tag.name => {}
                Some(name) => {
                    return Err(format!(
                        "section {name:?} is closed by {{{{/{}}}}}",
                        tag.name
                    ));
                }
                None => return Err(format!("{{{{/{}}}}} closes no section", tag.name)),
            },
            '>' => return Err("partials ({{> name}}) are not supported".to_string()),
            '=' => return Err("delimiter changes ({{=...=}}) are not supported".to_string()),
            _ => {}
        }
    }
    if let Some(name) = open.pop() {
        return Err(format!("section {name:?} is never closed"));
    }
    let mut out = String::with_capacity(source.len());
    let mut copied = 0;
    for tag in tags
        .iter()
        .filter(|t| matches!(t.sigil, '#' | '^' | '/' | '!'))
    {
        let line_start = source[..tag.start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = source[tag.end..]
            .find('\n')
            .map_or(source.len(), |i| tag.end + i + 1);
        let alone = source[line_start..tag.start].trim().is_empty()
            && source[tag.end..line_end].trim().is_empty();
        if alone && line_start >= copied {
            out.push_str(&source[copied..line_start]);
            out.push_str(&source[tag.start..tag.end]);
            copied = line_end;
        }
    }
    out.push_str(&source[copied..]);
    Ok(out)
}

/// A JSON value seen by the template engine.
#[derive(Clone, Copy)]
struct Json<'a> {
    value: &'a Value,
    escape: Escape,
}

impl<'a> Json<'a> {
    fn at(&self, value: &'a Value) -> Json<'a> {
        Json {
            value,
            escape: self.escape,
        }
    }

    /// `.` is the value itself; `a.b.c` walks objects (and array indices).
    fn lookup(&self, name: &str) -> Option<Json<'a>> {
        if name == "." {
            return Some(*self);
        }
        let mut value = self.value;
        for part in name.split('.') {
            value = match value {
                Value::Object(map) => map.get(part)?,
                Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(self.at(value))
    }
}

/// A value as text: strings as they are, `null` as nothing, arrays of scalars joined with
/// commas, anything else as JSON.
pub fn value_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        Value::Array(items) if items.iter().all(|v| !v.is_object() && !v.is_array()) => {
            items.iter().map(value_text).collect::<Vec<_>>().join(", ")
        }
        other => other.to_string(),
    }
}

/// `text` escaped for `escape`.
pub fn escape(text: &str, escape: Escape) -> String {
    match escape {
        Escape::None => text.to_string(),
        Escape::Json => {
            let quoted = serde_json::to_string(text).expect("a string serializes");
            quoted[1..quoted.len() - 1].to_string()
        }
        Escape::Slack => text
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;"),
        Escape::Html => text
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
            .replace('\'', "&#39;"),
    }
}

impl Content for Json<'_> {
    fn is_truthy(&self) -> bool {
        match self.value {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Array(items) => !items.is_empty(),
            Value::String(text) => !text.is_empty(),
            Value::Number(n) => n.as_f64() != Some(0.0),
            Value::Object(_) => true,
        }
    }

    fn render_escaped<E: Encoder>(&self, encoder: &mut E) -> Result<(), E::Error> {
        encoder.write_unescaped(&escape(&value_text(self.value), self.escape))
    }

    fn render_unescaped<E: Encoder>(&self, encoder: &mut E) -> Result<(), E::Error> {
        encoder.write_unescaped(&value_text(self.value))
    }

    fn render_section<C, E>(&self, section: Section<C>, encoder: &mut E) -> Result<(), E::Error>
    where
        C: ContentSequence,
        E: Encoder,
    {
        match self.value {
            Value::Array(items) => {
                for item in items {
                    self.at(item).render_section(section, encoder)?;
                }
                Ok(())
            }
            _ if !self.is_truthy() => Ok(()),
            _ => section.with(self).render(encoder),
        }
    }

    fn render_field_escaped<E: Encoder>(
        &self,
        _hash: u64,
        name: &str,
        encoder: &mut E,
    ) -> Result<bool, E::Error> {
        match self.lookup(name) {
            Some(found) => found.render_escaped(encoder).map(|()| true),
            None => Ok(false),
        }
    }

    fn render_field_unescaped<E: Encoder>(
        &self,
        _hash: u64,
        name: &str,
        encoder: &mut E,
    ) -> Result<bool, E::Error> {
        match self.lookup(name) {
            Some(found) => found.render_unescaped(encoder).map(|()| true),
            None => Ok(false),
        }
    }

    fn render_field_section<C, E>(
        &self,
        _hash: u64,
        name: &str,
        section: Section<C>,
        encoder: &mut E,
    ) -> Result<bool, E::Error>
    where
        C: ContentSequence,
        E: Encoder,
    {
        match self.lookup(name) {
            Some(found) => found.render_section(section, encoder).map(|()| true),
            None => Ok(false),
        }
    }

    fn render_field_inverse<C, E>(
        &self,
        _hash: u64,
        name: &str,
        section: Section<C>,
        encoder: &mut E,
    ) -> Result<bool, E::Error>
    where
        C: ContentSequence,
        E: Encoder,
    {
        match self.lookup(name) {
            Some(found) => found.render_inverse(section, encoder).map(|()| true),
            None => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data() -> Value {
        json!({
            "context": {
                "rule": {"name": "Quote \" and <tag> & co", "tags": ["a", "b"]},
                "alerts": [
                    {"kibana": {"alert": {"uuid": "a1"}}, "host": {"name": "h1"}},
                    {"kibana": {"alert": {"uuid": "a2"}}},
                ],
            },
            "n": 0,
        })
    }

    fn render(source: &str, escape: Escape) -> String {
        render_text(source, &data(), escape).unwrap()
    }

    #[test]
    fn dotted_names_sections_and_the_parent_context_resolve_as_in_kibana() {
        let text = render(
            "{{#context.alerts}}{{kibana.alert.uuid}}@{{host.name}}/{{context.rule.tags}};{{/context.alerts}}",
            Escape::None,
        );
        assert_eq!(text, "a1@h1/a, b;a2@/a, b;");
    }

    #[test]
    fn missing_fields_render_as_nothing_and_inverted_sections_show() {
        let text = render(
            "[{{context.nope.deeper}}]{{^context.nope}}none{{/context.nope}}{{^n}}zero{{/n}}",
            Escape::None,
        );
        assert_eq!(text, "[]nonezero");
    }

    #[test]
    fn double_braces_escape_for_the_target_and_triple_braces_do_not() {
        let source = "{{context.rule.name}}|{{{context.rule.name}}}";
        assert_eq!(
            render(source, Escape::Json),
            r#"Quote \" and <tag> & co|Quote " and <tag> & co"#
        );
        assert_eq!(
            render(source, Escape::Slack),
            "Quote \" and &lt;tag&gt; &amp; co|Quote \" and <tag> & co"
        );
        assert_eq!(
            render("{{context.rule.name}}", Escape::Html),
            "Quote &quot; and &lt;tag&gt; &amp; co"
        );
    }

    #[test]
    fn a_json_body_template_stays_valid_json_whatever_the_values_hold() {
        let body = render(
            r#"{"rule": "{{context.rule.name}}", "n": {{n}}}"#,
            Escape::Json,
        );
        let parsed: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed["rule"], "Quote \" and <tag> & co");
    }

    #[test]
    fn section_tags_alone_on_their_line_leave_no_blank_line() {
        let text = render(
            "Alerts:\n{{#context.alerts}}\n- {{kibana.alert.uuid}}\n{{/context.alerts}}\nend",
            Escape::None,
        );
        assert_eq!(text, "Alerts:\n- a1\n- a2\nend");
    }

    #[test]
    fn unbalanced_sections_partials_and_delimiter_changes_are_refused() {
        for bad in [
            "{{#a}}x",
            "{{/a}}",
            "{{#a}}{{/b}}",
            "{{> part}}",
            "{{=<% %>=}}",
            "{{open",
        ] {
            assert!(Template::parse(bad).is_err(), "{bad} was accepted");
        }
    }
}
