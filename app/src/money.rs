//! Money: integer minor units in the database, entered and shown in the shop currency's format.
//! Shared by server and browser so a price looks the same before and after hydration.

/// An ISO 4217 currency a shop may choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Currency {
    pub code: &'static str,
    pub name: &'static str,
    /// Digits after the decimal point (2 for kobo and cents, 0 for yen or CFA francs).
    pub exponent: u32,
    pub symbol: &'static str,
}

const fn c(
    code: &'static str,
    name: &'static str,
    exponent: u32,
    symbol: &'static str,
) -> Currency {
    Currency {
        code,
        name,
        exponent,
        symbol,
    }
}

/// Currencies of the markets where merchants sell on WhatsApp most, then the majors.
pub const CURRENCIES: &[Currency] = &[
    c("NGN", "Nigerian naira", 2, "₦"),
    c("GHS", "Ghanaian cedi", 2, "GH₵"),
    c("KES", "Kenyan shilling", 2, "KSh "),
    c("ZAR", "South African rand", 2, "R "),
    c("UGX", "Ugandan shilling", 0, "USh "),
    c("TZS", "Tanzanian shilling", 2, "TSh "),
    c("RWF", "Rwandan franc", 0, "FRw "),
    c("XOF", "West African CFA franc", 0, "CFA "),
    c("XAF", "Central African CFA franc", 0, "FCFA "),
    c("EGP", "Egyptian pound", 2, "E£"),
    c("MAD", "Moroccan dirham", 2, "MAD "),
    c("ETB", "Ethiopian birr", 2, "Br "),
    c("INR", "Indian rupee", 2, "₹"),
    c("PKR", "Pakistani rupee", 2, "Rs "),
    c("BDT", "Bangladeshi taka", 2, "৳"),
    c("IDR", "Indonesian rupiah", 2, "Rp "),
    c("PHP", "Philippine peso", 2, "₱"),
    c("BRL", "Brazilian real", 2, "R$ "),
    c("MXN", "Mexican peso", 2, "MX$"),
    c("COP", "Colombian peso", 2, "COL$ "),
    c("AED", "UAE dirham", 2, "AED "),
    c("SAR", "Saudi riyal", 2, "SAR "),
    c("USD", "US dollar", 2, "$"),
    c("EUR", "Euro", 2, "€"),
    c("GBP", "Pound sterling", 2, "£"),
    c("JPY", "Japanese yen", 0, "¥"),
];

pub fn currency(code: &str) -> Option<&'static Currency> {
    CURRENCIES.iter().find(|c| c.code == code)
}

fn exponent(code: &str) -> u32 {
    currency(code).map_or(2, |c| c.exponent)
}

/// "12500.00" for 1_250_000 NGN: the plain decimal used in forms, CSV and JSON-LD.
pub fn format_plain(minor: i64, code: &str) -> String {
    let exp = exponent(code);
    if exp == 0 {
        return minor.to_string();
    }
    let unit = 10_i64.pow(exp);
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!(
        "{sign}{}.{:0width$}",
        abs / unit as u64,
        abs % unit as u64,
        width = exp as usize
    )
}

/// "₦12,500.00": what shoppers and merchants read.
pub fn format_money(minor: i64, code: &str) -> String {
    let plain = format_plain(minor.abs(), code);
    let (int, frac) = plain
        .split_once('.')
        .map_or((plain.as_str(), None), |(i, f)| (i, Some(f)));
    let mut grouped = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    let symbol = currency(code).map_or_else(|| format!("{code} "), |c| c.symbol.to_string());
    let sign = if minor < 0 { "-" } else { "" };
    match frac {
        Some(f) => format!("{sign}{symbol}{grouped}.{f}"),
        None => format!("{sign}{symbol}{grouped}"),
    }
}

/// Parses what a merchant types ("12,500", "12500.5", "₦ 12,500.00") into minor units.
pub fn parse_money(input: &str, code: &str) -> Result<i64, String> {
    let exp = exponent(code);
    let cleaned: String = input
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '.' || *c == '-')
        .collect();
    if cleaned.is_empty() {
        return Err("Enter an amount, for example 12500 or 12,500.00.".into());
    }
    if cleaned.starts_with('-') {
        return Err("Amounts cannot be negative.".into());
    }
    let (int, frac) = cleaned.split_once('.').unwrap_or((&cleaned, ""));
    if frac.contains('.') || int.is_empty() && frac.is_empty() {
        return Err("Enter an amount, for example 12500 or 12,500.00.".into());
    }
    if frac.len() > exp as usize {
        return Err(if exp == 0 {
            format!("{code} amounts have no decimals.")
        } else {
            format!("Use at most {exp} digits after the decimal point.")
        });
    }
    let int: i64 = if int.is_empty() {
        0
    } else {
        int.parse()
            .map_err(|_| "That amount is too large.".to_string())?
    };
    let frac_val: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<width$}", width = exp as usize)
            .parse()
            .unwrap_or(0)
    };
    int.checked_mul(10_i64.pow(exp))
        .and_then(|v| v.checked_add(frac_val))
        .filter(|v| *v <= 1_000_000_000_000)
        .ok_or_else(|| "That amount is too large.".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_symbol_grouping_and_minor_units() {
        assert_eq!(format_money(1_250_000, "NGN"), "₦12,500.00");
        assert_eq!(format_money(99, "USD"), "$0.99");
        assert_eq!(format_money(150_000, "UGX"), "USh 150,000");
        assert_eq!(format_money(100, "XYZ"), "XYZ 1.00");
        assert_eq!(format_plain(1_250_005, "NGN"), "12500.05");
        assert_eq!(format_plain(7, "JPY"), "7");
    }

    #[test]
    fn parses_what_people_type() {
        assert_eq!(parse_money("12,500", "NGN"), Ok(1_250_000));
        assert_eq!(parse_money("₦ 12,500.5", "NGN"), Ok(1_250_050));
        assert_eq!(parse_money(".99", "USD"), Ok(99));
        assert_eq!(parse_money("1500", "UGX"), Ok(1500));
        assert!(parse_money("-5", "NGN").unwrap_err().contains("negative"));
        assert!(parse_money("1.234", "NGN").is_err());
        assert!(parse_money("1.5", "UGX").is_err());
        assert!(parse_money("", "NGN").is_err());
        assert!(parse_money("1.2.3", "NGN").is_err());
        assert!(parse_money("99999999999999999999", "NGN").is_err());
    }
}
