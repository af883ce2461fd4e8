//! The mapped types of the fields a query runs against, read from a `_field_caps` response or a
//! mappings object, as Kibana's data view holds them: per field its Elasticsearch types and the
//! nested object it lives in. Only what the translation needs; no I/O.

use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

/// Types that are containers, not searchable fields (Kibana leaves them out of a data view).
const CONTAINER_TYPES: [&str; 2] = ["object", "nested"];
/// Field types whose keys are searched as `field.key` without being mapped one by one.
const FLATTENED_TYPES: [&str; 2] = ["flattened", "flat_object"];

/// The metadata fields a data view keeps (Kibana's default `metaFields` that can be searched);
/// the server's other underscore fields (`_seq_no`, `_version`, ...) are left out, as Kibana
/// leaves them out.
const KEPT_META_FIELDS: [&str; 3] = ["_id", "_index", "_ignored"];

/// The date types (Kibana's `date` field type).
const DATE_TYPES: [&str; 2] = ["date", "date_nanos"];

/// What is known about one field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldInfo {
    /// Its Elasticsearch types across the indices (sorted, without `unmapped`).
    pub types: BTreeSet<String>,
    /// The path of the closest `nested` object above it, if any.
    pub nested_path: Option<String>,
}

impl FieldInfo {
    /// Mapped as `keyword` and nothing else (Kibana's test for `term` and `wildcard` queries;
    /// `constant_keyword` and `wildcard` do not count).
    pub fn is_keyword_only(&self) -> bool {
        self.types.len() == 1 && self.types.contains("keyword")
    }

    /// Mapped as a date type in every index.
    pub fn is_date(&self) -> bool {
        !self.types.is_empty() && self.types.iter().all(|t| DATE_TYPES.contains(&t.as_str()))
    }
}

/// Field name -> mapped type(s): looked up by hash (the translation looks up every field name
/// of a query), iterated in name order.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct FieldMap {
    fields: HashMap<String, FieldInfo>,
    /// The names of `fields`, sorted.
    sorted: Vec<String>,
}

impl fmt::Debug for FieldMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl FieldMap {
    /// Reads a `_field_caps` response (`{"fields": {name: {type: {...}}}}`).
    pub fn from_field_caps(response: &Json) -> FieldMap {
        let mut types: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        if let Some(fields) = response.get("fields").and_then(Json::as_object) {
            for (name, caps) in fields {
                if name.starts_with('_') && !KEPT_META_FIELDS.contains(&name.as_str()) {
                    continue;
                }
                let entry = types.entry(name.clone()).or_default();
                for es_type in caps.as_object().into_iter().flat_map(|c| c.keys()) {
                    if es_type != "unmapped" {
                        entry.insert(es_type.clone());
                    }
                }
            }
        }
        FieldMap::from_types(types)
    }

    /// Reads mappings: an index's `mappings` object (`{"properties": ...}`), an index template
    /// (`{"template": {"mappings": ...}}`), `{"mappings": ...}`, or a `GET /<index>/_mapping`
    /// response (`{index: {"mappings": ...}}`, merged over the indices). Multi-fields become
    /// fields of their own (`name.text`); aliases take their target's types.
    pub fn from_mappings(mappings: &Json) -> FieldMap {
        let mut types: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut aliases = Vec::new();
        collect_mappings(mappings, &mut types, &mut aliases);
        for (name, target) in aliases {
            let target_types = types.get(&target).cloned().unwrap_or_default();
            types.entry(name).or_default().extend(target_types);
        }
        FieldMap::from_types(types)
    }

    /// Builds the map from each field's types; `nested` entries give the nested paths.
    fn from_types(types: BTreeMap<String, BTreeSet<String>>) -> FieldMap {
        let nested: Vec<&String> = types
            .iter()
            .filter(|(_, t)| t.contains("nested"))
            .map(|(name, _)| name)
            .collect();
        let fields: HashMap<String, FieldInfo> = types
            .iter()
            .filter(|(_, t)| !t.iter().all(|t| CONTAINER_TYPES.contains(&t.as_str())))
            .map(|(name, t)| {
                let info = FieldInfo {
                    types: t.clone(),
                    nested_path: closest_nested(name, &nested),
                };
                (name.clone(), info)
            })
            .collect();
        let mut sorted: Vec<String> = fields.keys().cloned().collect();
        sorted.sort_unstable();
        FieldMap { fields, sorted }
    }

    /// Adds or replaces one field (for callers that know types from elsewhere, and tests).
    pub fn insert(&mut self, name: &str, types: &[&str], nested_path: Option<&str>) {
        let info = FieldInfo {
            types: types.iter().map(|t| t.to_string()).collect(),
            nested_path: nested_path.map(str::to_string),
        };
        if self.fields.insert(name.to_string(), info).is_none() {
            let at = self.sorted.partition_point(|known| known.as_str() < name);
            self.sorted.insert(at, name.to_string());
        }
    }

    /// The field of that exact name.
    pub fn get(&self, name: &str) -> Option<&FieldInfo> {
        self.fields.get(name)
    }

    /// The field of that exact name, with the name as the map holds it.
    pub fn get_key_value(&self, name: &str) -> Option<(&str, &FieldInfo)> {
        self.fields
            .get_key_value(name)
            .map(|(name, info)| (name.as_str(), info))
    }

    /// Every field, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &FieldInfo)> {
        self.entries(&self.sorted)
    }

    /// The fields whose names start with `prefix`, sorted by name: a range of the sorted names,
    /// so a field-name pattern is matched against its candidates only.
    pub fn iter_prefixed<'m, 'p>(
        &'m self,
        prefix: &'p str,
    ) -> impl Iterator<Item = (&'m str, &'m FieldInfo)> + use<'m, 'p> {
        let start = self.sorted.partition_point(|name| name.as_str() < prefix);
        let candidates = &self.sorted[start..];
        let end = candidates.partition_point(|name| name.starts_with(prefix));
        self.entries(&candidates[..end])
    }

    /// The fields of `names` (names of the map).
    fn entries<'m>(
        &'m self,
        names: &'m [String],
    ) -> impl Iterator<Item = (&'m str, &'m FieldInfo)> {
        names.iter().map(|name| {
            let info = self
                .fields
                .get(name)
                .expect("every sorted name is a field of the map");
            (name.as_str(), info)
        })
    }

    /// Whether documents of the mapped indices can hold a field of this name: a field of that
    /// name, fields under it (an object), or a `flattened` (OpenSearch: `flat_object`) field
    /// above it, whose keys the mapping does not list.
    pub fn can_hold(&self, name: &str) -> bool {
        if self.fields.contains_key(name) {
            return true;
        }
        if self.iter_prefixed(&format!("{name}.")).next().is_some() {
            return true;
        }
        name.char_indices()
            .filter(|(_, c)| *c == '.')
            .filter_map(|(at, _)| self.fields.get(&name[..at]))
            .any(|above| {
                FLATTENED_TYPES
                    .iter()
                    .any(|flattened| above.types.contains(*flattened))
            })
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// The longest nested path that contains `name` (`a.b` contains `a.b.c`).
fn closest_nested(name: &str, nested: &[&String]) -> Option<String> {
    nested
        .iter()
        .filter(|path| {
            name.len() > path.len()
                && name.starts_with(path.as_str())
                && name[path.len()..].starts_with('.')
        })
        .max_by_key(|path| path.len())
        .map(|path| path.to_string())
}

/// Finds the mappings objects inside whatever shape was given.
fn collect_mappings(
    value: &Json,
    types: &mut BTreeMap<String, BTreeSet<String>>,
    aliases: &mut Vec<(String, String)>,
) {
    if let Some(properties) = value.get("properties") {
        collect_properties(properties, "", types, aliases);
    } else if let Some(mappings) = value.get("mappings") {
        collect_mappings(mappings, types, aliases);
    } else if let Some(template) = value.get("template") {
        collect_mappings(template, types, aliases);
    } else if let Some(indices) = value.as_object() {
        for index in indices.values().filter(|v| v.get("mappings").is_some()) {
            collect_mappings(index, types, aliases);
        }
    }
}

/// Walks `properties`, recording each field's type under its dotted name.
fn collect_properties(
    properties: &Json,
    prefix: &str,
    types: &mut BTreeMap<String, BTreeSet<String>>,
    aliases: &mut Vec<(String, String)>,
) {
    let Some(properties) = properties.as_object() else {
        return;
    };
    for (key, mapping) in properties {
        let name = format!("{prefix}{key}");
        let es_type = mapping
            .get("type")
            .and_then(Json::as_str)
            .unwrap_or("object");
        if es_type == "alias" {
            if let Some(path) = mapping.get("path").and_then(Json::as_str) {
                aliases.push((name.clone(), path.to_string()));
            }
            continue;
        }
        types
            .entry(name.clone())
            .or_default()
            .insert(es_type.to_string());
        if let Some(fields) = mapping.get("fields") {
            collect_properties(fields, &format!("{name}."), types, aliases);
        }
        if let Some(children) = mapping.get("properties") {
            collect_properties(children, &format!("{name}."), types, aliases);
        }
    }
}
