//! The scenario's results as tables: markdown for stdout and BENCHMARKS.md, HTML for the report.

use std::fmt::Write as _;

use crate::chart::escape;

/// A table of text cells; the first column is left-aligned, the others right-aligned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Table {
    pub(crate) header: Vec<String>,
    pub(crate) rows: Vec<Vec<String>>,
}

impl Table {
    /// A GitHub-flavoured markdown table.
    pub(crate) fn markdown(&self) -> String {
        let mut out = String::new();
        let line = |out: &mut String, cells: &[String]| {
            let cells: Vec<String> = cells.iter().map(|c| c.replace('|', "\\|")).collect();
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        };
        line(&mut out, &self.header);
        let rule: Vec<String> = (0..self.header.len())
            .map(|i| if i == 0 { "---" } else { "---:" }.to_owned())
            .collect();
        let _ = writeln!(out, "|{}|", rule.join("|"));
        for row in &self.rows {
            line(&mut out, row);
        }
        out
    }

    /// Plain text with aligned columns (two spaces apart), for a terminal; the first `left`
    /// columns are left-aligned, the others right-aligned.
    pub(crate) fn text(&self, left: usize) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for cells in std::iter::once(&self.header).chain(&self.rows) {
            let line: Vec<String> = cells
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(i, (cell, &width))| {
                    if i < left {
                        format!("{cell:<width$}")
                    } else {
                        format!("{cell:>width$}")
                    }
                })
                .collect();
            let _ = writeln!(out, "{}", line.join("  ").trim_end());
        }
        out
    }

    /// An HTML `<table>`.
    pub(crate) fn html(&self) -> String {
        let mut out = String::from("<table>\n<tr>");
        for cell in &self.header {
            let _ = write!(out, "<th>{}</th>", escape(cell));
        }
        out.push_str("</tr>\n");
        for row in &self.rows {
            out.push_str("<tr>");
            for cell in row {
                let _ = write!(out, "<td>{}</td>", escape(cell));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</table>\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_markdown_and_html() {
        let table = Table {
            header: vec!["variant".into(), "goodput".into()],
            rows: vec![vec!["a|b".into(), "<1".into()]],
        };
        assert_eq!(
            table.markdown(),
            "| variant | goodput |\n|---|---:|\n| a\\|b | <1 |\n"
        );
        assert!(table.html().contains("<td>&lt;1</td>"));
        assert_eq!(table.text(1), "variant  goodput\na|b           <1\n");
        assert_eq!(table.text(2), "variant  goodput\na|b      <1\n");
    }
}
