//! `[[rule.threat]]`: MITRE ATT&CK mappings (framework, tactic, techniques, subtechniques),
//! checked against their shape at load time and kept as JSON in Kibana's shape.

use super::diagnostic::FileProblems;
use super::fields::{Need, Table};
use serde::Serialize;

/// One `[[rule.threat]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Threat {
    pub framework: String,
    pub tactic: MitreRef,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub technique: Vec<Technique>,
}

/// A technique and its subtechniques.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Technique {
    pub id: String,
    pub name: String,
    pub reference: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subtechnique: Vec<MitreRef>,
}

/// A tactic or subtechnique: id, name and the URL of its ATT&CK page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MitreRef {
    pub id: String,
    pub name: String,
    pub reference: String,
}

const REF_KEYS: &[&str] = &["id", "name", "reference"];

/// Reads every `[[rule.threat]]` entry as Kibana JSON (empty when absent).
pub fn read_threats(
    rule: &Table<'_, '_>,
    p: &mut FileProblems<'_>,
) -> Option<Vec<serde_json::Value>> {
    let mut threats = Vec::new();
    for entry in rule
        .tables(p, "rule.threat", "threat", Need::Optional)
        .unwrap_or_default()
    {
        let threat = read_threat(&entry, p)?;
        threats.push(serde_json::to_value(&threat).expect("threat entries are plain strings"));
    }
    Some(threats)
}

fn read_threat(entry: &Table<'_, '_>, p: &mut FileProblems<'_>) -> Option<Threat> {
    entry.warn_unknown_keys(p, &["framework", "tactic", "technique"]);
    let framework = entry.owned_string(p, "framework", Need::Required);
    let tactic = entry
        .table(p, "rule.threat.tactic", "tactic", Need::Required)
        .and_then(|tactic| read_ref(&tactic, p));
    let mut technique = Vec::new();
    let name = "rule.threat.technique";
    for table in entry
        .tables(p, name, "technique", Need::Optional)
        .unwrap_or_default()
    {
        technique.push(read_technique(&table, p)?);
    }
    Some(Threat {
        framework: framework?,
        tactic: tactic?,
        technique,
    })
}

fn read_technique(table: &Table<'_, '_>, p: &mut FileProblems<'_>) -> Option<Technique> {
    table.warn_unknown_keys(p, &["id", "name", "reference", "subtechnique"]);
    let head = read_ref_fields(table, p);
    let mut subtechnique = Vec::new();
    let name = "rule.threat.technique.subtechnique";
    for sub in table
        .tables(p, name, "subtechnique", Need::Optional)
        .unwrap_or_default()
    {
        sub.warn_unknown_keys(p, REF_KEYS);
        subtechnique.push(read_ref_fields(&sub, p)?);
    }
    let head = head?;
    Some(Technique {
        id: head.id,
        name: head.name,
        reference: head.reference,
        subtechnique,
    })
}

fn read_ref(table: &Table<'_, '_>, p: &mut FileProblems<'_>) -> Option<MitreRef> {
    table.warn_unknown_keys(p, REF_KEYS);
    read_ref_fields(table, p)
}

fn read_ref_fields(table: &Table<'_, '_>, p: &mut FileProblems<'_>) -> Option<MitreRef> {
    let id = table.owned_string(p, "id", Need::Required);
    let name = table.owned_string(p, "name", Need::Required);
    let reference = table.owned_string(p, "reference", Need::Required);
    Some(MitreRef {
        id: id?,
        name: name?,
        reference: reference?,
    })
}
