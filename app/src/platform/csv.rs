//! CSV cells that spreadsheets will not run as formulas (CSV injection).
//!
//! A merchant opens our exports in Excel, LibreOffice or Google Sheets. A cell starting with
//! `=`, `+`, `-` or `@` (or a tab or carriage return, which some of them skip before looking) is
//! taken as a formula there, so a shopper who types `=HYPERLINK(...)` as their name could put a
//! live link or command in the merchant's sheet. OWASP's advice is to prefix such cells with a
//! single quote, which every spreadsheet shows as text. Our own importer strips that quote again
//! ([`unneutralise`]) so an exported file imports back unchanged.

/// First characters that make a spreadsheet read a cell as a formula.
const TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// True when `text` must get a quote in front: it starts with a trigger, or it already starts
/// with quotes followed by a trigger (so that [`unneutralise`] can tell the two apart and the
/// round trip stays exact).
fn needs_quote(text: &str) -> bool {
    text.trim_start_matches('\'').starts_with(TRIGGERS)
}

/// The cell as it should be written to a CSV export.
pub fn neutralise(text: &str) -> std::borrow::Cow<'_, str> {
    if needs_quote(text) {
        format!("'{text}").into()
    } else {
        text.into()
    }
}

/// The cell as a merchant meant it: the inverse of [`neutralise`] for anything it produced.
/// A quote that does not stand before a formula character is part of the text and stays.
pub fn unneutralise(text: &str) -> &str {
    match text.strip_prefix('\'') {
        Some(rest) if needs_quote(rest) => rest,
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_get_a_quote_and_others_do_not() {
        for cell in ["=1+1", "+2348012345678", "-3", "@SUM(A1)", "\tx", "\r=x"] {
            assert_eq!(neutralise(cell), format!("'{cell}"), "{cell:?}");
        }
        for cell in ["", "Adire scarf", "12.50", "a=b", "'quoted", "x-1"] {
            assert_eq!(neutralise(cell), cell, "{cell:?}");
        }
        // A quote already in front of a formula character gets one more, so it survives.
        assert_eq!(neutralise("'=x"), "''=x");
    }

    #[test]
    fn import_reverses_export_exactly() {
        for cell in [
            "=HYPERLINK(\"http://x\")",
            "+234",
            "-",
            "@",
            "'=x",
            "''+y",
            "'plain",
            "plain",
            "",
            "'",
        ] {
            assert_eq!(unneutralise(&neutralise(cell)), cell, "{cell:?}");
        }
        assert_eq!(unneutralise("'hello"), "'hello", "not ours: kept");
    }
}
