//! The HTML every page flowc writes shares: the escaper and the page's shell (the preview and
//! the delivery report are both single self-contained files).

/// Text safe inside an HTML element or a quoted attribute.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page up to its `<main>`: the title (already escaped), what the page is, its style sheet.
pub(crate) fn head(title: &str, what: &str, css: &str) -> String {
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · flowc {what}</title>
<style>{css}</style>
</head>
<body>
<main>
"#
    )
}

/// The page's end, after its `<main>`.
pub(crate) const FOOT: &str = "</main>\n</body>\n</html>\n";
