//! Phone numbers, WhatsApp links and query strings: small pieces the storefront, orders,
//! customers, shop settings and catalog all use, kept in one room so none of them imports
//! another's internals. Compiled for the browser and the server.

/// Percent-encodes a query value (spaces as `+`). Hand-written: the browser build has no URL
/// crate, and this is all we need of one.
pub fn encode_query(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Normalises a WhatsApp number to E.164 ("+2348012345678"); spaces, dashes and brackets are
/// allowed in the input. `Ok(None)` for an empty field.
pub fn normalize_phone(input: &str) -> Result<Option<String>, String> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    let compact: String = trimmed
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
        .collect();
    let digits = compact
        .strip_prefix('+')
        .or_else(|| compact.strip_prefix("00"));
    let message =
        "Enter the number in international format with the country code, like +234 801 234 5678.";
    let Some(digits) = digits else {
        return Err(message.into());
    };
    if !(8..=15).contains(&digits.len())
        || !digits.chars().all(|c| c.is_ascii_digit())
        || digits.starts_with('0')
    {
        return Err(message.into());
    }
    Ok(Some(format!("+{digits}")))
}

/// wa.me link that opens a chat with the shop, with a prefilled message.
pub fn whatsapp_link(number: &str, text: &str) -> String {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    format!(
        "https://wa.me/{digits}?text={}",
        encode_query(text).replace('+', "%20")
    )
}

/// The line a storefront "Order on WhatsApp" message ends with. The inbox turns it into an
/// order through the orders service (prices from the database), so the customer may edit the
/// quantities but never the prices.
pub const CART_CODE_PREFIX: &str = "Order code: BZ1-";

/// `product id (32 hex) x quantity`, joined with dots.
pub fn cart_code(items: &[(uuid::Uuid, i32)]) -> String {
    let parts: Vec<String> = items
        .iter()
        .map(|(id, q)| format!("{}x{q}", id.simple()))
        .collect();
    format!("{CART_CODE_PREFIX}{}", parts.join("."))
}

/// The (product id, quantity) pairs of a cart code found anywhere in a message, if any.
pub fn parse_cart_code(text: &str) -> Option<Vec<(uuid::Uuid, i64)>> {
    let start = text.find(CART_CODE_PREFIX)? + CART_CODE_PREFIX.len();
    let code: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '.')
        .collect();
    let mut items = Vec::new();
    for part in code.split('.').take(50) {
        let (id, qty) = part.split_once('x')?;
        let id = uuid::Uuid::try_parse(id).ok()?;
        let qty: i64 = qty.parse().ok()?;
        items.push((id, qty));
    }
    (!items.is_empty()).then_some(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cart_codes_round_trip_and_refuse_garbage() {
        let a = uuid::Uuid::now_v7();
        let b = uuid::Uuid::now_v7();
        let text = format!(
            "Hello! I would like:\n2 × Scarf\n{}",
            cart_code(&[(a, 2), (b, 1)])
        );
        assert_eq!(parse_cart_code(&text), Some(vec![(a, 2), (b, 1)]));
        assert_eq!(parse_cart_code("no code here"), None);
        assert_eq!(parse_cart_code("Order code: BZ1-nothex"), None);
    }

    #[test]
    fn phones() {
        assert_eq!(
            normalize_phone("+234 801 234 5678"),
            Ok(Some("+2348012345678".into()))
        );
        assert_eq!(
            normalize_phone("00447700900123"),
            Ok(Some("+447700900123".into()))
        );
        assert_eq!(normalize_phone("  "), Ok(None));
        assert!(normalize_phone("08012345678").is_err());
        assert!(normalize_phone("+0123456789").is_err());
        assert!(normalize_phone("+234abc").is_err());
        assert!(normalize_phone("+1234567").is_err());
    }

    #[test]
    fn whatsapp_links_keep_digits_and_encode_the_text() {
        assert_eq!(
            whatsapp_link("+234 801", "Hi! Is \"Adire\" in stock?"),
            "https://wa.me/234801?text=Hi%21%20Is%20%22Adire%22%20in%20stock%3F"
        );
    }
}
