//! The map matches the territory: the top-level modules of `src/` import each other only as the
//! table in docs/architecture.md ("Which module may import which") allows, the imports form no
//! cycle, and the table names exactly the modules that exist. Test code is exempt. Reads the
//! sources as text; needs no server.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The top-level modules of the library and the files of each.
fn modules(src: &Path) -> BTreeMap<String, Vec<PathBuf>> {
    let mut modules = BTreeMap::new();
    for entry in std::fs::read_dir(src).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        let name = path
            .file_stem()
            .expect("a name")
            .to_string_lossy()
            .to_string();
        if ["lib", "main", "cli"].contains(&name.as_str()) {
            continue;
        }
        let mut files = Vec::new();
        collect_rust_files(&path, &mut files);
        modules.insert(name, files);
    }
    modules
}

fn collect_rust_files(path: &Path, files: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).expect("a readable folder") {
            collect_rust_files(&entry.expect("a directory entry").path(), files);
        }
    } else if path.extension().is_some_and(|ext| ext == "rs") {
        files.push(path.to_path_buf());
    }
}

/// Whether a file holds only tests (`tests.rs`, `*_tests.rs`, anything under `tests/`).
fn is_test_file(path: &Path) -> bool {
    let name = path.file_name().expect("a file name").to_string_lossy();
    name == "tests.rs"
        || name.ends_with("_tests.rs")
        || path.components().any(|part| part.as_os_str() == "tests")
}

/// The text of a file without the items under `#[cfg(test)]` (a `mod x;` line, or a braced
/// item up to its closing brace).
fn without_test_items(text: &str) -> String {
    let mut kept = String::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "#[cfg(test)]" {
            kept.push_str(line);
            kept.push('\n');
            continue;
        }
        let mut depth = 0_i64;
        for item_line in lines.by_ref() {
            depth += item_line.matches('{').count() as i64;
            depth -= item_line.matches('}').count() as i64;
            let ends_item = item_line.trim_end().ends_with(';') || item_line.contains('}');
            if depth <= 0 && ends_item {
                break;
            }
        }
    }
    kept
}

/// The top-level modules a module's non-test code names as `crate::<module>`.
fn imports(files: &[PathBuf], known: &BTreeSet<String>, own: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for file in files.iter().filter(|file| !is_test_file(file)) {
        let text = std::fs::read_to_string(file).expect("a readable source file");
        let code = without_test_items(&text);
        for (at, _) in code.match_indices("crate::") {
            let name: String = code[at + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if known.contains(&name) && name != own {
                found.insert(name);
            }
        }
    }
    found
}

/// The table of allowed imports in docs/architecture.md (the ```text imports block).
fn allowed(doc: &str) -> BTreeMap<String, BTreeSet<String>> {
    let start = doc
        .find("```text imports\n")
        .expect("docs/architecture.md has a ```text imports block")
        + "```text imports\n".len();
    let end = start + doc[start..].find("```").expect("the block is closed");
    doc[start..end]
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let (module, targets) = line
                .split_once("->")
                .unwrap_or_else(|| panic!("`{line}` is not `module -> modules`"));
            let targets = targets.split_whitespace().map(str::to_string).collect();
            (module.trim().to_string(), targets)
        })
        .collect()
}

/// A module that reaches itself through the import graph, if any.
fn cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            return Some(path[at..].to_vec());
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn top_level_modules_import_only_down_the_data_path_as_the_architecture_page_says() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let modules = modules(&root.join("src"));
    let doc = std::fs::read_to_string(root.join("docs/architecture.md"))
        .expect("docs/architecture.md is readable");
    let allowed = allowed(&doc);
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    let listed: BTreeSet<String> = allowed.keys().cloned().collect();
    assert_eq!(
        names, listed,
        "the modules of src/ and of the table in docs/architecture.md"
    );
    let mut graph = BTreeMap::new();
    let mut forbidden = Vec::new();
    for (module, files) in &modules {
        let found = imports(files, &names, module);
        for target in found.difference(&allowed[module]) {
            forbidden.push(format!("{module} imports {target}"));
        }
        graph.insert(module.clone(), found);
    }
    assert_eq!(
        forbidden,
        Vec::<String>::new(),
        "imports docs/architecture.md does not allow"
    );
    assert_eq!(cycle(&graph), None, "top-level modules import each other");
    assert_eq!(
        cycle(&allowed),
        None,
        "the table in docs/architecture.md allows a cycle"
    );
}

#[test]
fn test_only_items_are_left_out_of_the_imports() {
    let text = "use crate::a::X;\n#[cfg(test)]\nmod tests;\n#[cfg(test)]\nmod inline {\n    use crate::b::Y;\n    fn f() {}\n}\nuse crate::c::Z;\n";
    let kept = without_test_items(text);
    assert!(
        kept.contains("crate::a") && kept.contains("crate::c"),
        "{kept}"
    );
    assert!(
        !kept.contains("crate::b") && !kept.contains("mod tests"),
        "{kept}"
    );
}

#[test]
fn a_cycle_of_any_length_is_found() {
    let graph = |edges: &[(&str, &str)]| {
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, to) in edges {
            graph
                .entry(from.to_string())
                .or_default()
                .insert(to.to_string());
            graph.entry(to.to_string()).or_default();
        }
        graph
    };
    assert_eq!(cycle(&graph(&[("a", "b"), ("b", "c")])), None);
    assert!(cycle(&graph(&[("a", "b"), ("b", "c"), ("c", "a")])).is_some());
}
