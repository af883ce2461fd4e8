//! Value lists as plain text files: `<list id>.txt`, one value per line (surrounding blanks
//! trimmed, empty lines skipped), as Kibana's value-list import takes them and its export gives
//! them. A list has no type of its own: the entry that names it says `keyword` or `ip`, and the
//! values are checked against that type when the entry is read.

use super::entry::ListType;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// The most values one list may hold: Elasticsearch's default `index.max_terms_count`, the
/// most values one `terms` query takes.
pub const MAX_LIST_VALUES: usize = 65_536;

/// One value list file as read.
#[derive(Debug)]
struct ValueListFile {
    path: PathBuf,
    /// (1-based line, value).
    values: Vec<(usize, String)>,
}

/// Every value list found, by id, with the typed copies handed out so far.
#[derive(Debug, Default)]
pub struct ValueLists {
    files: HashMap<String, ValueListFile>,
    typed: HashMap<(String, ListType), Arc<Vec<String>>>,
    /// Ids that cannot be used, and why (defined twice, too long).
    unusable: HashMap<String, String>,
}

impl ValueLists {
    /// Adds a list read from `text`; an id seen before is an error naming the first file.
    pub fn add(&mut self, id: String, path: PathBuf, text: &str) -> Result<(), String> {
        if let Some(first) = self.files.get(&id) {
            let message = format!(
                "value list `{id}` is defined twice: {} and {}",
                first.path.display(),
                path.display()
            );
            self.unusable.insert(id, message.clone());
            return Err(message);
        }
        let values = (text.lines().enumerate())
            .map(|(n, line)| (n + 1, line.trim().to_string()))
            .filter(|(_, value)| !value.is_empty())
            .collect::<Vec<_>>();
        if values.len() > MAX_LIST_VALUES {
            let message = format!(
                "value list `{id}` holds {} values; lookout applies lists of up to {MAX_LIST_VALUES} (one terms query)",
                values.len()
            );
            self.unusable.insert(id, message.clone());
            return Err(message);
        }
        self.files.insert(id, ValueListFile { path, values });
        Ok(())
    }

    /// The values of list `id` as a list of `list_type`: every value must suit the type.
    pub fn typed(&mut self, id: &str, list_type: ListType) -> Result<Arc<Vec<String>>, String> {
        let key = (id.to_string(), list_type);
        if let Some(values) = self.typed.get(&key) {
            return Ok(Arc::clone(values));
        }
        if let Some(why) = self.unusable.get(id) {
            return Err(why.clone());
        }
        let file = self.files.get(id).ok_or_else(|| {
            format!("value list `{id}` has no file (a value list is a file named `{id}.txt` in an exception folder)")
        })?;
        for (line, value) in &file.values {
            if list_type == ListType::Ip && !is_ip_or_cidr(value) {
                return Err(format!(
                    "value list `{id}` is used as an ip list, but {}:{line} holds {value:?}, not an IP address or CIDR block",
                    file.path.display()
                ));
            }
        }
        let values: Arc<Vec<String>> =
            Arc::new(file.values.iter().map(|(_, v)| v.clone()).collect());
        self.typed.insert(key, Arc::clone(&values));
        Ok(values)
    }
}

fn is_ip_or_cidr(value: &str) -> bool {
    match value.split_once('/') {
        Some((address, prefix)) => {
            let max = match address.parse::<IpAddr>() {
                Ok(IpAddr::V4(_)) => 32,
                Ok(IpAddr::V6(_)) => 128,
                Err(_) => return false,
            };
            prefix.parse::<u8>().is_ok_and(|bits| bits <= max)
        }
        None => value.parse::<IpAddr>().is_ok(),
    }
}
