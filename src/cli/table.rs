//! Plain-text tables for terminal output: columns padded to their widest cell, long cells cut
//! with an ellipsis, every cell and header escaped for the terminal
//! ([`lookout::printable`]). Pure.

/// The longest cell printed, in characters; longer values end in `…`.
pub const MAX_CELL_CHARS: usize = 48;

/// The table as lines: a header, a rule of dashes, then the rows.
pub fn render(headers: &[String], rows: &[Vec<String>]) -> String {
    let headers: Vec<String> = headers.iter().map(|h| truncate(h)).collect();
    let cut: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|cell| truncate(cell)).collect())
        .collect();
    let widths: Vec<usize> = (0..headers.len())
        .map(|i| {
            cut.iter()
                .filter_map(|row| row.get(i))
                .chain(std::iter::once(&headers[i]))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = line(&headers, &widths);
    let dashes: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&line(&dashes, &widths));
    for row in &cut {
        out.push_str(&line(row, &widths));
    }
    out
}

fn line(cells: &[String], widths: &[usize]) -> String {
    let padded: Vec<String> = widths
        .iter()
        .enumerate()
        .map(|(i, width)| {
            let cell = cells.get(i).map_or("", String::as_str);
            format!("{cell:<width$}")
        })
        .collect();
    let mut text = padded.join("  ").trim_end().to_string();
    text.push('\n');
    text
}

/// The cell on one line (newlines and tabs as spaces, every other unsafe character escaped),
/// cut to [`MAX_CELL_CHARS`].
fn truncate(cell: &str) -> String {
    let spaced = cell.replace(['\n', '\r', '\t'], " ");
    let flat = lookout::printable(&spaced);
    if flat.chars().count() <= MAX_CELL_CHARS {
        return flat.into_owned();
    }
    let kept: String = flat.chars().take(MAX_CELL_CHARS - 1).collect();
    format!("{kept}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn columns_are_as_wide_as_their_widest_cell() {
        let table = render(&strings(&["a", "bb"]), &[strings(&["xxx", "y"])]);
        assert_eq!(table, "a    bb\n---  --\nxxx  y\n");
    }

    #[test]
    fn long_cells_are_cut_and_newlines_flattened() {
        let long = "z".repeat(100);
        let table = render(&strings(&["h"]), &[vec![long], strings(&["a\nb"])]);
        let rows: Vec<&str> = table.lines().collect();
        assert_eq!(rows[2].chars().count(), MAX_CELL_CHARS);
        assert!(rows[2].ends_with('…'));
        assert_eq!(rows[3], "a b");
    }

    #[test]
    fn cells_and_headers_cannot_drive_the_terminal() {
        let table = render(
            &strings(&["h\u{1b}]0;x\u{7}"]),
            &[strings(&["\u{1b}[2J\u{9b}1m\u{202e}gpj.exe\u{8}"])],
        );
        assert!(
            !table.chars().any(|c| c.is_control() && c != '\n'),
            "{table:?}"
        );
        assert!(!table.contains('\u{202e}'), "{table:?}");
        assert!(table.contains("\\u{1b}[2J"), "{table:?}");
    }
}
