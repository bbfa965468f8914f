//! When the agent answers: at all hours, only outside the shop's opening hours (the merchant
//! answers during them), or only during them. Opening hours are one daily window on chosen
//! weekdays in the shop's time zone; PostgreSQL's time zone database turns "now" into the
//! shop's local weekday and time, so no time zone table ships with the binary.

/// (value, what the settings form says).
pub const ANSWERS_WHEN: [(&str, &str); 3] = [
    ("always", "At all hours"),
    (
        "outside_hours",
        "Only outside my opening hours (I answer during them)",
    ),
    ("during_hours", "Only during my opening hours"),
];

/// ISO weekdays (1 = Monday) with the form's labels.
pub const WEEKDAYS: [(i16, &str); 7] = [
    (1, "Mon"),
    (2, "Tue"),
    (3, "Wed"),
    (4, "Thu"),
    (5, "Fri"),
    (6, "Sat"),
    (7, "Sun"),
];

/// Time zones the form suggests (any IANA name PostgreSQL knows is accepted).
pub const SUGGESTED_ZONES: [&str; 20] = [
    "Africa/Lagos",
    "Africa/Accra",
    "Africa/Nairobi",
    "Africa/Johannesburg",
    "Africa/Cairo",
    "Asia/Kolkata",
    "Asia/Karachi",
    "Asia/Dubai",
    "Asia/Jakarta",
    "Asia/Manila",
    "America/Sao_Paulo",
    "America/Mexico_City",
    "America/Bogota",
    "America/Lima",
    "America/Argentina/Buenos_Aires",
    "Europe/London",
    "Europe/Madrid",
    "Europe/Lisbon",
    "Europe/Paris",
    "UTC",
];

/// Minutes since midnight from "HH:MM" (24-hour), as a time input sends it.
pub fn parse_hhmm(s: &str) -> Option<u16> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u16, u16) = (h.parse().ok()?, m.get(..2)?.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

pub fn hhmm(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// Whether the shop is open at local `weekday` (ISO, 1 = Monday) and `minute` of the day.
/// A window that closes before it opens (18:00–02:00) runs past midnight: its early hours
/// belong to the day it opened.
pub fn is_open(days: &[i16], open: u16, close: u16, weekday: i16, minute: u16) -> bool {
    let yesterday = if weekday == 1 { 7 } else { weekday - 1 };
    if open < close {
        days.contains(&weekday) && (open..close).contains(&minute)
    } else if open > close {
        (days.contains(&weekday) && minute >= open) || (days.contains(&yesterday) && minute < close)
    } else {
        false
    }
}

/// Whether the agent answers now, given the merchant's choice and whether the shop is open.
pub fn answers(answers_when: &str, open: bool) -> bool {
    match answers_when {
        "outside_hours" => !open,
        "during_hours" => open,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEEKDAYS_ONLY: [i16; 5] = [1, 2, 3, 4, 5];

    #[test]
    fn a_day_window_is_open_on_its_days_from_opening_until_closing() {
        let (nine, five) = (9 * 60, 17 * 60);
        assert!(is_open(&WEEKDAYS_ONLY, nine, five, 3, nine));
        assert!(is_open(&WEEKDAYS_ONLY, nine, five, 3, five - 1));
        assert!(
            !is_open(&WEEKDAYS_ONLY, nine, five, 3, five),
            "closed at closing time"
        );
        assert!(!is_open(&WEEKDAYS_ONLY, nine, five, 3, nine - 1));
        assert!(!is_open(&WEEKDAYS_ONLY, nine, five, 6, 12 * 60), "Saturday");
    }

    #[test]
    fn a_window_past_midnight_belongs_to_the_day_it_opened() {
        let (six_pm, two_am) = (18 * 60, 2 * 60);
        // Friday night 23:00 and the early hours of Saturday are Friday's.
        assert!(is_open(&WEEKDAYS_ONLY, six_pm, two_am, 5, 23 * 60));
        assert!(is_open(&WEEKDAYS_ONLY, six_pm, two_am, 6, 60));
        // Monday's early hours belong to Sunday, which is closed.
        assert!(!is_open(&WEEKDAYS_ONLY, six_pm, two_am, 1, 60));
        assert!(is_open(&[7], six_pm, two_am, 1, 60));
        assert!(!is_open(&WEEKDAYS_ONLY, six_pm, two_am, 5, 12 * 60));
    }

    #[test]
    fn the_merchant_s_choice_decides_who_answers() {
        assert!(answers("always", true) && answers("always", false));
        assert!(answers("outside_hours", false) && !answers("outside_hours", true));
        assert!(answers("during_hours", true) && !answers("during_hours", false));
    }

    #[test]
    fn reads_times_as_a_time_input_sends_them() {
        assert_eq!(parse_hhmm("09:30"), Some(570));
        assert_eq!(parse_hhmm("17:00:00"), Some(1020));
        assert_eq!(parse_hhmm("24:00"), None);
        assert_eq!(parse_hhmm("9"), None);
        assert_eq!(hhmm(570), "09:30");
    }
}
