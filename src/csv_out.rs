//! CSV as every file flowc writes for a spreadsheet has it (the send's report, the report's
//! responses): the writer's quoting and the text cell no spreadsheet evaluates.

/// A text cell a spreadsheet will not evaluate, and that cannot act on a terminal it is shown
/// in: control characters (an escape sequence from a callback's title) shown as `?` as
/// everywhere else flowc quotes what others wrote; line breaks and tabs stay.
pub(crate) fn text_cell(text: String) -> String {
    let text = match crate::words::printable(&text) {
        std::borrow::Cow::Borrowed(_) => text,
        std::borrow::Cow::Owned(shown) => shown,
    };
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text
    }
}

/// The CSV writer every report file is written with: every text cell quoted, so that a
/// spreadsheet that splits on `;` (many locales) cannot start a cell inside one.
pub(crate) fn csv_writer<W: std::io::Write>(out: W) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::NonNumeric)
        .from_writer(out)
}
