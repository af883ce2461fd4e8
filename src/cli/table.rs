//! Plain-text tables for terminal output: columns padded to their widest cell, long cells cut
//! with an ellipsis. Pure.

/// The longest cell printed, in characters; longer values end in `…`.
pub const MAX_CELL_CHARS: usize = 48;

/// The table as lines: a header, a rule of dashes, then the rows.
pub fn render(headers: &[String], rows: &[Vec<String>]) -> String {
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
    let mut out = line(headers, &widths);
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

fn truncate(cell: &str) -> String {
    let flat = cell.replace(['\n', '\r', '\t'], " ");
    if flat.chars().count() <= MAX_CELL_CHARS {
        return flat;
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
}
