//! A catalog CSV chosen as a file: its bytes as text, whatever the spreadsheet saved. Shared by
//! the browser (the dashboard reads the file into the paste box) and tests.
//!
//! Hand-written rather than `encoding_rs`: the dashboard's WASM would carry that crate's tables
//! for every encoding, and a CSV from a spreadsheet is one of three things — UTF-8 (with or
//! without a byte-order mark), UTF-16 with its mark (Excel's "Unicode text"), or Windows-1252
//! (Excel on Windows saving "CSV"), which differs from Latin-1 only in 32 code points.

/// The text and the name of the encoding it was read as.
pub fn decode(bytes: &[u8]) -> (String, &'static str) {
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return (String::from_utf8_lossy(rest).into_owned(), "UTF-8");
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        return (utf16(rest, u16::from_le_bytes), "UTF-16");
    }
    if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        return (utf16(rest, u16::from_be_bytes), "UTF-16");
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => (text.to_string(), "UTF-8"),
        Err(_) => (
            bytes.iter().map(|&b| windows_1252(b)).collect(),
            "Windows-1252",
        ),
    }
}

fn utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> String {
    let units = bytes.chunks_exact(2).map(|pair| unit([pair[0], pair[1]]));
    char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

/// Windows-1252: Latin-1 except 0x80–0x9F, which hold typographic quotes, dashes, € and a few
/// letters (five of the 32 are unassigned and kept as their C1 controls, as browsers do).
fn windows_1252(b: u8) -> char {
    const HIGH: [u16; 32] = [
        0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
        0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
        0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
    ];
    match b {
        0x80..=0x9F => char::from_u32(u32::from(HIGH[usize::from(b - 0x80)])).unwrap_or('\u{FFFD}'),
        _ => char::from(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreadsheet_files_read_as_text_in_each_encoding() {
        let utf8 = "title,price\nCafé “Lagos”,1€\n";
        assert_eq!(decode(utf8.as_bytes()), (utf8.to_string(), "UTF-8"));
        let with_bom = [&[0xEF, 0xBB, 0xBF][..], utf8.as_bytes()].concat();
        assert_eq!(decode(&with_bom), (utf8.to_string(), "UTF-8"));
        // Excel's "CSV" on Windows: é is 0xE9, the quotes 0x93/0x94, € 0x80.
        let cp1252 = b"title,price\nCaf\xE9 \x93Lagos\x94,1\x80\n";
        assert_eq!(decode(cp1252), (utf8.to_string(), "Windows-1252"));
        let le: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain(utf8.encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert_eq!(decode(&le), (utf8.to_string(), "UTF-16"));
        let be: Vec<u8> = [0xFE, 0xFF]
            .into_iter()
            .chain(utf8.encode_utf16().flat_map(u16::to_be_bytes))
            .collect();
        assert_eq!(decode(&be), (utf8.to_string(), "UTF-16"));
    }
}
