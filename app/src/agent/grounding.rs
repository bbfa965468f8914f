//! The check that keeps the model from inventing prices or stock levels: every amount of
//! money and every stock count in its text must be one this turn's tools returned (or one the
//! customer wrote themselves). Pure functions, so the rule is tested on its own.

use crate::money;
use std::collections::HashSet;

/// What the tools of one turn said: amounts in minor units, and stock counts.
#[derive(Debug, Default, Clone)]
pub struct Facts {
    pub amounts: HashSet<i64>,
    pub counts: HashSet<i64>,
}

/// Words that make a number next to them an amount of money, beside the shop's own symbol and
/// code.
const MONEY_WORDS: &[&str] = &[
    "naira",
    "dollar",
    "dollars",
    "euro",
    "euros",
    "pound",
    "pounds",
    "cedi",
    "cedis",
    "shilling",
    "shillings",
    "rand",
    "rupee",
    "rupees",
    "reais",
    "real",
    "peso",
    "pesos",
    "franc",
    "francs",
    "dirham",
    "dirhams",
    "birr",
    "yen",
    "cfa",
    "fcfa",
    "kobo",
];
const SYMBOLS: &[&str] = &["₦", "$", "€", "£", "¥", "₹", "₵", "₱", "৳", "r$"];
/// Words that make a number before them a stock level ("3 left", "quedan 3" is not caught:
/// the count must come first, which is how the model states it in every language here).
const STOCK_WORDS: &[&str] = &[
    "left",
    "in stock",
    "available",
    "units",
    "pieces",
    "pcs",
    "disponible",
    "disponibles",
    "en stock",
    "restantes",
    "unidades",
    "em estoque",
    "disponíveis",
    "disponiveis",
    "unités",
    "pièces",
    "restant",
    "restants",
];

/// A number as written, with where it is.
struct Number {
    start: usize,
    end: usize,
    text: String,
}

fn numbers(text: &str) -> Vec<Number> {
    let bytes: Vec<(usize, char)> = text.char_indices().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let (start, c) = bytes[i];
        if !c.is_ascii_digit() {
            i += 1;
            continue;
        }
        let mut j = i;
        // Digits with separators inside ("12,500.00", "7.500,00"); a separator must be
        // followed by a digit to belong to the number.
        while j < bytes.len() {
            let ch = bytes[j].1;
            let digit_at = |k: usize| bytes.get(k).is_some_and(|(_, n)| n.is_ascii_digit());
            // French and others group thousands with a space: "25 000".
            let space_group = matches!(ch, ' ' | '\u{a0}' | '\u{202f}')
                && (1..=3).all(|k| digit_at(j + k))
                && !digit_at(j + 4);
            if ch.is_ascii_digit() || ((ch == ',' || ch == '.') && digit_at(j + 1)) || space_group {
                j += 1;
            } else {
                break;
            }
        }
        let end = bytes.get(j).map_or(text.len(), |(b, _)| *b);
        out.push(Number {
            start,
            end,
            text: text[start..end].to_string(),
        });
        i = j;
    }
    out
}

/// "12,500.00" or "12.500,00" or "12500" in the currency's minor units.
fn minor_units(number: &str, code: &str) -> Option<i64> {
    let number: String = number.chars().filter(|c| !c.is_whitespace()).collect();
    let number = number.as_str();
    let exp = money::currency(code).map_or(2, |c| c.exponent) as usize;
    let (int, frac) = match (number.rfind('.'), number.rfind(',')) {
        // The later separator is the decimal point when followed by 1–2 digits.
        (Some(d), c) if c.is_none_or(|c| c < d) && number.len() - d - 1 <= 2 => {
            (number[..d].replace(',', ""), number[d + 1..].to_string())
        }
        (d, Some(c)) if d.is_none_or(|d| d < c) && number.len() - c - 1 <= 2 => {
            (number[..c].replace('.', ""), number[c + 1..].to_string())
        }
        _ => (number.replace([',', '.'], ""), String::new()),
    };
    let int: i64 = int.parse().ok()?;
    let mut frac = frac;
    if frac.len() > exp {
        return None;
    }
    while frac.len() < exp {
        frac.push('0');
    }
    let frac: i64 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    int.checked_mul(10_i64.pow(exp as u32))?.checked_add(frac)
}

fn lower_before(text: &str, at: usize, chars: usize) -> String {
    let before: Vec<char> = text[..at].chars().collect();
    let from = before.len().saturating_sub(chars);
    before[from..].iter().collect::<String>().to_lowercase()
}

fn lower_after(text: &str, at: usize, chars: usize) -> String {
    text[at..]
        .chars()
        .take(chars)
        .collect::<String>()
        .to_lowercase()
}

fn starts_with_word(s: &str, word: &str) -> bool {
    s.strip_prefix(word)
        .is_some_and(|rest| !rest.starts_with(|c: char| c.is_alphanumeric()))
}

/// Whether the number at `n` is written as money: the shop's symbol or code, a currency
/// symbol or word next to it, or exactly the currency's decimals ("7500.00").
fn is_money(text: &str, n: &Number, code: &str) -> bool {
    let symbol = money::currency(code)
        .map(|c| c.symbol.trim().to_lowercase())
        .unwrap_or_default();
    let code = code.to_lowercase();
    let before = lower_before(text, n.start, 6);
    let before = before.trim_end();
    let after = lower_after(text, n.end, 12);
    let after = after.trim_start();
    let marks = SYMBOLS
        .iter()
        .map(|s| s.to_string())
        .chain([symbol, code.clone()])
        .filter(|s| !s.is_empty());
    for mark in marks {
        if before.ends_with(&mark) || starts_with_word(after, &mark) || after.starts_with(&mark) {
            return true;
        }
    }
    if MONEY_WORDS.iter().any(|w| starts_with_word(after, w)) {
        return true;
    }
    let exp = money::currency(&code.to_uppercase()).map_or(2, |c| c.exponent) as usize;
    exp > 0
        && n.text
            .rsplit_once(['.', ','])
            .is_some_and(|(_, frac)| frac.len() == exp)
}

fn is_stock(text: &str, n: &Number) -> bool {
    let after = lower_after(text, n.end, 16);
    let after = after.trim_start();
    STOCK_WORDS.iter().any(|w| starts_with_word(after, w))
}

/// The amounts and stock counts in `reply` that neither the tools (`facts`) nor the customer
/// (`customer_text`) gave, as written. Empty: the reply may be sent.
/// The amounts of money in a text the merchant wrote (shop facts, saved answers), in minor
/// units: the model may repeat them.
pub fn amounts_in(text: &str, code: &str) -> Vec<i64> {
    numbers(text)
        .into_iter()
        .filter(|n| is_money(text, n, code))
        .filter_map(|n| minor_units(&n.text, code))
        .collect()
}

pub fn ungrounded(reply: &str, code: &str, facts: &Facts, customer_text: &str) -> Vec<String> {
    let customer: HashSet<i64> = numbers(customer_text)
        .iter()
        .filter_map(|n| minor_units(&n.text, code))
        .collect();
    let customer_plain: HashSet<String> = numbers(customer_text)
        .into_iter()
        .map(|n| n.text.replace([',', '.'], ""))
        .collect();
    let mut out = Vec::new();
    for n in numbers(reply) {
        if is_money(reply, &n, code) {
            let ok = minor_units(&n.text, code)
                .is_some_and(|m| facts.amounts.contains(&m) || customer.contains(&m));
            if !ok {
                out.push(n.text);
            }
        } else if is_stock(reply, &n) {
            let ok = n
                .text
                .parse::<i64>()
                .is_ok_and(|c| facts.counts.contains(&c))
                || customer_plain.contains(&n.text.replace([',', '.'], ""));
            if !ok {
                out.push(n.text);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(amounts: &[i64], counts: &[i64]) -> Facts {
        Facts {
            amounts: amounts.iter().copied().collect(),
            counts: counts.iter().copied().collect(),
        }
    }

    #[test]
    fn an_amount_the_tools_returned_passes_however_it_is_written() {
        let f = facts(&[750_000], &[]);
        for reply in [
            "It costs ₦7,500.00.",
            "It costs ₦7,500",
            "It costs NGN 7500",
            "It is 7500 naira",
            "Only 7500.00!",
            "Cuesta 7.500,00 NGN",
        ] {
            assert_eq!(
                ungrounded(reply, "NGN", &f, ""),
                Vec::<String>::new(),
                "{reply}"
            );
        }
    }

    #[test]
    fn an_invented_amount_is_caught_in_any_spelling() {
        let f = facts(&[750_000], &[]);
        assert_eq!(ungrounded("Now only ₦6,000!", "NGN", &f, ""), vec!["6,000"]);
        assert_eq!(ungrounded("It is 6500 naira", "NGN", &f, ""), vec!["6500"]);
        assert_eq!(ungrounded("Price: 6500.00", "NGN", &f, ""), vec!["6500.00"]);
        assert_eq!(ungrounded("It is $12", "NGN", &f, ""), vec!["12"]);
        assert_eq!(
            ungrounded("₦7,500 each, or ₦14,000 for two", "NGN", &f, ""),
            vec!["14,000"],
            "a total the model worked out itself is not ours"
        );
    }

    #[test]
    fn invented_stock_levels_are_caught_and_real_ones_pass() {
        let f = facts(&[], &[3]);
        assert!(ungrounded("Only 3 left!", "NGN", &f, "").is_empty());
        assert_eq!(ungrounded("We have 12 in stock", "NGN", &f, ""), vec!["12"]);
        assert_eq!(ungrounded("Quedan 40 unidades", "NGN", &f, ""), vec!["40"]);
    }

    #[test]
    fn numbers_that_are_neither_money_nor_stock_and_the_customers_own_amounts_pass() {
        let f = facts(&[], &[]);
        assert!(ungrounded("Size 42 fits you; delivery in 2 days", "NGN", &f, "").is_empty());
        assert!(ungrounded("Your order #1042 is on its way", "NGN", &f, "").is_empty());
        assert!(
            ungrounded(
                "Nothing under ₦10,000, sorry",
                "NGN",
                &f,
                "anything under 10000 naira?"
            )
            .is_empty()
        );
    }

    #[test]
    fn currencies_without_decimals_are_read_in_their_own_units() {
        let f = facts(&[25_000], &[]);
        assert!(ungrounded("C'est 25 000 CFA", "XOF", &f, "").is_empty());
        assert!(ungrounded("C'est 25\u{202f}000 FCFA", "XOF", &f, "").is_empty());
        assert!(ungrounded("C'est 25,000 CFA", "XOF", &f, "").is_empty());
        assert_eq!(
            ungrounded("C'est 30,000 CFA", "XOF", &f, ""),
            vec!["30,000"]
        );
    }
}
