//! The optional sections any rule type may have (alert suppression, exception lists,
//! investigation fields, risk and severity mappings, related integrations, required fields) and
//! the `[metadata]` table, read into types once, at load time.

use super::Severity;
use super::diagnostic::FileProblems;
use super::fields::{Need, Table};
use super::keys::METADATA_KEYS;
use super::{Maturity, RuleType};
use chrono::TimeDelta;

/// The parts of `[rule]` that describe the rule or refine its alerts, beyond what searching needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Details {
    pub false_positives: Vec<String>,
    /// The investigation guide (Markdown).
    pub note: Option<String>,
    /// Setup instructions (Markdown).
    pub setup: Option<String>,
    /// `"default"` for building-block rules, whose alerts are hidden by default.
    pub building_block_type: Option<String>,
    /// The source field whose value names the alert instead of the rule name.
    pub rule_name_override: Option<String>,
    /// EQL: the field holding the event category instead of `event.category`.
    pub event_category_override: Option<String>,
    /// EQL: the field that orders events with equal timestamps.
    pub tiebreaker_field: Option<String>,
    /// EQL: the timestamp field instead of `@timestamp`.
    pub timestamp_field: Option<String>,
    /// A Kibana data view to search instead of `index`.
    pub data_view_id: Option<String>,
    /// The namespace alerts go to, instead of the configured one.
    pub namespace: Option<String>,
    pub timeline_id: Option<String>,
    pub timeline_title: Option<String>,
    pub alert_suppression: Option<AlertSuppression>,
    pub exceptions_list: Vec<ExceptionListRef>,
    /// `[rule.investigation_fields]` `field_names`: fields shown first in the alert flyout.
    pub investigation_fields: Vec<String>,
    pub risk_score_mapping: Vec<RiskScoreMapping>,
    pub severity_mapping: Vec<SeverityMapping>,
    pub related_integrations: Vec<RelatedIntegration>,
    pub required_fields: Vec<RequiredField>,
}

/// `[rule.alert_suppression]`: alerts sharing the `group_by` values are merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertSuppression {
    pub group_by: Vec<String>,
    /// How long a group stays suppressed; none means one rule execution.
    pub duration: Option<TimeDelta>,
    pub missing_fields_strategy: MissingFieldsStrategy,
}

/// What suppression does with events lacking a `group_by` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingFieldsStrategy {
    /// Events missing the fields form one group (`suppress`, Kibana's default).
    Suppress,
    /// Each such event alerts on its own (`doNotSuppress`).
    DoNotSuppress,
}

/// One `[[rule.exceptions_list]]` reference to a Kibana exception list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExceptionListRef {
    pub id: String,
    pub list_id: String,
    /// `single` (one space) or `agnostic` (every space).
    pub namespace_type: String,
    /// The list type, e.g. `detection` or `endpoint`.
    pub list_type: String,
}

/// `[[rule.risk_score_mapping]]`: the risk score when `field` equals `value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskScoreMapping {
    pub field: String,
    pub operator: String,
    pub value: String,
    /// Absent: the risk score is the field's own value.
    pub risk_score: Option<u8>,
}

/// `[[rule.severity_mapping]]`: the severity when `field` equals `value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeverityMapping {
    pub field: String,
    pub operator: String,
    pub value: String,
    pub severity: Severity,
}

/// `[[rule.related_integrations]]`: a Fleet package the rule's data comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelatedIntegration {
    pub package: String,
    pub version: String,
    pub integration: Option<String>,
}

/// `[[rule.required_fields]]`: a field the rule needs, with its mapping type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequiredField {
    pub name: String,
    pub field_type: String,
    pub ecs: bool,
}

/// The `[metadata]` table of the detection-rules format.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    pub creation_date: Option<String>,
    pub updated_date: Option<String>,
    pub integration: Vec<String>,
    pub min_stack_version: Option<String>,
    pub min_stack_comments: Option<String>,
    pub deprecation_date: Option<String>,
    pub deprecated_reason: Option<String>,
    pub bypass_bbr_timing: bool,
    pub promotion: bool,
}

/// The units `[rule.alert_suppression.duration]` accepts, with their length in seconds.
const SUPPRESSION_UNITS: [(&str, i64); 3] = [("s", 1), ("m", 60), ("h", 3600)];

/// Reads [`Details`]. Problems are recorded; a broken part is left empty.
pub fn read_details(t: &Table<'_, '_>, p: &mut FileProblems<'_>) -> Details {
    let text = |p: &mut FileProblems<'_>, key| t.owned_string(p, key, Need::Optional);
    Details {
        false_positives: super::parse::strings(t, p, "false_positives"),
        note: text(p, "note"),
        setup: text(p, "setup"),
        building_block_type: text(p, "building_block_type"),
        rule_name_override: text(p, "rule_name_override"),
        event_category_override: text(p, "event_category_override"),
        tiebreaker_field: text(p, "tiebreaker_field"),
        timestamp_field: text(p, "timestamp_field"),
        data_view_id: text(p, "data_view_id"),
        namespace: text(p, "namespace"),
        timeline_id: text(p, "timeline_id"),
        timeline_title: text(p, "timeline_title"),
        alert_suppression: read_alert_suppression(t, p),
        exceptions_list: read_exceptions_list(t, p).unwrap_or_default(),
        investigation_fields: read_investigation_fields(t, p).unwrap_or_default(),
        risk_score_mapping: read_risk_score_mapping(t, p).unwrap_or_default(),
        severity_mapping: read_severity_mapping(t, p).unwrap_or_default(),
        related_integrations: read_related_integrations(t, p).unwrap_or_default(),
        required_fields: read_required_fields(t, p).unwrap_or_default(),
    }
}

/// Reads `[metadata]` and its maturity (production when absent).
pub fn read_metadata(
    table: &Table<'_, '_>,
    p: &mut FileProblems<'_>,
) -> (Metadata, Option<Maturity>) {
    table.warn_unknown_keys(p, METADATA_KEYS);
    let maturity = match table.string(p, "maturity", Need::Optional) {
        None => Some(Maturity::Production),
        Some(text) => Maturity::parse(text.get_ref()).or_else(|| {
            let message = format!(
                "unknown maturity {:?} (use production, development, experimental or deprecated)",
                text.get_ref()
            );
            p.error(&text.span(), message);
            None
        }),
    };
    let metadata = Metadata {
        creation_date: table.owned_string(p, "creation_date", Need::Optional),
        updated_date: table.owned_string(p, "updated_date", Need::Optional),
        integration: table
            .string_or_strings(p, "integration", Need::Optional)
            .unwrap_or_default(),
        min_stack_version: table.owned_string(p, "min_stack_version", Need::Optional),
        min_stack_comments: table.owned_string(p, "min_stack_comments", Need::Optional),
        deprecation_date: table.owned_string(p, "deprecation_date", Need::Optional),
        deprecated_reason: table.owned_string(p, "deprecated_reason", Need::Optional),
        bypass_bbr_timing: table.boolean(p, "bypass_bbr_timing").unwrap_or(false),
        promotion: table.boolean(p, "promotion").unwrap_or(false),
    };
    (metadata, maturity)
}

/// Reads `[rule.alert_suppression]`, if present.
fn read_alert_suppression(
    rule: &Table<'_, '_>,
    p: &mut FileProblems<'_>,
) -> Option<AlertSuppression> {
    let table = rule.table(
        p,
        "rule.alert_suppression",
        "alert_suppression",
        Need::Optional,
    )?;
    table.warn_unknown_keys(p, &["duration", "group_by", "missing_fields_strategy"]);
    let group_by = table.strings(p, "group_by", Need::Optional);
    let strategy = match table.string(p, "missing_fields_strategy", Need::Optional) {
        None => Some(MissingFieldsStrategy::Suppress),
        Some(text) => match *text.get_ref() {
            "suppress" => Some(MissingFieldsStrategy::Suppress),
            "doNotSuppress" => Some(MissingFieldsStrategy::DoNotSuppress),
            other => {
                let message = format!(
                    "`rule.alert_suppression.missing_fields_strategy` must be \"suppress\" or \"doNotSuppress\", found {other:?}"
                );
                p.error(&text.span(), message);
                None
            }
        },
    };
    let duration = match table.table(
        p,
        "rule.alert_suppression.duration",
        "duration",
        Need::Optional,
    ) {
        None => None,
        Some(duration) => Some(read_suppression_duration(&duration, p)?),
    };
    Some(AlertSuppression {
        group_by: group_by.map(|g| g.into_inner()).unwrap_or_default(),
        duration,
        missing_fields_strategy: strategy?,
    })
}

fn read_suppression_duration(table: &Table<'_, '_>, p: &mut FileProblems<'_>) -> Option<TimeDelta> {
    table.warn_unknown_keys(p, &["unit", "value"]);
    let value = table.integer(p, "value", Need::Required);
    let unit = table.string(p, "unit", Need::Required)?;
    let Some((_, seconds)) = SUPPRESSION_UNITS
        .iter()
        .find(|(name, _)| name == unit.get_ref())
    else {
        let message = format!(
            "`rule.alert_suppression.duration.unit` must be s, m or h, found {:?}",
            unit.get_ref()
        );
        p.error(&unit.span(), message);
        return None;
    };
    let value = value?;
    match value.get_ref().checked_mul(*seconds).filter(|s| *s > 0) {
        Some(total) => TimeDelta::try_seconds(total),
        None => {
            let message = "`rule.alert_suppression.duration.value` must be a positive number";
            p.error(&value.span(), message);
            None
        }
    }
}

/// Reads `[[rule.exceptions_list]]` (empty when absent); `references` resolves them.
fn read_exceptions_list(
    rule: &Table<'_, '_>,
    p: &mut FileProblems<'_>,
) -> Option<Vec<ExceptionListRef>> {
    let entries = rule.tables(p, "rule.exceptions_list", "exceptions_list", Need::Optional);
    let mut lists = Vec::new();
    for entry in entries.unwrap_or_default() {
        entry.warn_unknown_keys(p, &["id", "list_id", "namespace_type", "type"]);
        let id = entry.owned_string(p, "id", Need::Required);
        let list_id = entry.owned_string(p, "list_id", Need::Required);
        let namespace_type = entry.owned_string(p, "namespace_type", Need::Required);
        let list_type = entry.owned_string(p, "type", Need::Required);
        lists.push(ExceptionListRef {
            id: id?,
            list_id: list_id?,
            namespace_type: namespace_type?,
            list_type: list_type?,
        });
    }
    Some(lists)
}

/// The most fields alert suppression groups by (Kibana's limit).
pub const MAX_SUPPRESSION_FIELDS: usize = 3;

/// Checks `[rule.alert_suppression]` against the rule's type: threshold rules suppress by their
/// own fields (a `group_by` is ignored, with a warning), the others need 1 to 3 `group_by` fields.
pub fn check_suppression(
    details: &Details,
    rule_type: RuleType,
    t: &Table<'_, '_>,
    p: &mut FileProblems<'_>,
) {
    let Some(suppression) = &details.alert_suppression else {
        return;
    };
    let span = t
        .get(p, "alert_suppression", Need::Optional)
        .map_or_else(|| t.span(), |value| value.span());
    let fields = suppression.group_by.len();
    match rule_type {
        RuleType::Threshold if fields > 0 => p.warning(
            &span,
            "`rule.alert_suppression.group_by` is ignored: threshold rules suppress by their threshold fields",
        ),
        RuleType::Threshold => {}
        _ if !(1..=MAX_SUPPRESSION_FIELDS).contains(&fields) => p.error(
            &span,
            format!(
                "`rule.alert_suppression.group_by` needs 1 to {MAX_SUPPRESSION_FIELDS} fields, found {fields}"
            ),
        ),
        _ => {}
    }
}

/// Reads `[rule.investigation_fields]` `field_names` (empty when absent).
fn read_investigation_fields(
    rule: &Table<'_, '_>,
    p: &mut FileProblems<'_>,
) -> Option<Vec<String>> {
    let name = "rule.investigation_fields";
    let Some(table) = rule.table(p, name, "investigation_fields", Need::Optional) else {
        return Some(Vec::new());
    };
    table.warn_unknown_keys(p, &["field_names"]);
    table
        .strings(p, "field_names", Need::Required)
        .map(|names| names.into_inner())
}

/// Reads `[[rule.risk_score_mapping]]` (empty when absent).
fn read_risk_score_mapping(
    rule: &Table<'_, '_>,
    p: &mut FileProblems<'_>,
) -> Option<Vec<RiskScoreMapping>> {
    let name = "rule.risk_score_mapping";
    let mut mappings = Vec::new();
    for entry in rule
        .tables(p, name, "risk_score_mapping", Need::Optional)
        .unwrap_or_default()
    {
        entry.warn_unknown_keys(p, &["field", "operator", "risk_score", "value"]);
        let field = entry.owned_string(p, "field", Need::Required);
        let operator = entry.owned_string(p, "operator", Need::Required);
        let value = entry.owned_string(p, "value", Need::Required);
        let risk_score = match entry.get(p, "risk_score", Need::Optional) {
            None => None,
            Some(_) => Some(super::parse::risk_score(&entry, p)?),
        };
        mappings.push(RiskScoreMapping {
            field: field?,
            operator: operator?,
            value: value?,
            risk_score,
        });
    }
    Some(mappings)
}

/// Reads `[[rule.severity_mapping]]` (empty when absent).
fn read_severity_mapping(
    rule: &Table<'_, '_>,
    p: &mut FileProblems<'_>,
) -> Option<Vec<SeverityMapping>> {
    let name = "rule.severity_mapping";
    let mut mappings = Vec::new();
    for entry in rule
        .tables(p, name, "severity_mapping", Need::Optional)
        .unwrap_or_default()
    {
        entry.warn_unknown_keys(p, &["field", "operator", "severity", "value"]);
        let field = entry.owned_string(p, "field", Need::Required);
        let operator = entry.owned_string(p, "operator", Need::Required);
        let value = entry.owned_string(p, "value", Need::Required);
        let severity = super::parse::severity(&entry, p);
        mappings.push(SeverityMapping {
            field: field?,
            operator: operator?,
            value: value?,
            severity: severity?,
        });
    }
    Some(mappings)
}

/// Reads `[[rule.related_integrations]]` (empty when absent).
fn read_related_integrations(
    rule: &Table<'_, '_>,
    p: &mut FileProblems<'_>,
) -> Option<Vec<RelatedIntegration>> {
    let name = "rule.related_integrations";
    let mut integrations = Vec::new();
    for entry in rule
        .tables(p, name, "related_integrations", Need::Optional)
        .unwrap_or_default()
    {
        entry.warn_unknown_keys(p, &["integration", "package", "version"]);
        let package = entry.owned_string(p, "package", Need::Required);
        let version = entry.owned_string(p, "version", Need::Required);
        let integration = entry.owned_string(p, "integration", Need::Optional);
        integrations.push(RelatedIntegration {
            package: package?,
            version: version?,
            integration,
        });
    }
    Some(integrations)
}

/// Reads `[[rule.required_fields]]` (empty when absent).
fn read_required_fields(
    rule: &Table<'_, '_>,
    p: &mut FileProblems<'_>,
) -> Option<Vec<RequiredField>> {
    let name = "rule.required_fields";
    let mut fields = Vec::new();
    for entry in rule
        .tables(p, name, "required_fields", Need::Optional)
        .unwrap_or_default()
    {
        entry.warn_unknown_keys(p, &["ecs", "name", "type"]);
        let field_name = entry.owned_string(p, "name", Need::Required);
        let field_type = entry.owned_string(p, "type", Need::Required);
        let ecs = entry.boolean(p, "ecs").unwrap_or(false);
        fields.push(RequiredField {
            name: field_name?,
            field_type: field_type?,
            ecs,
        });
    }
    Some(fields)
}

/// Whether a rule type searches indices (and so needs `index`).
pub fn needs_index(rule_type: RuleType) -> bool {
    !matches!(rule_type, RuleType::Esql | RuleType::MachineLearning)
}
