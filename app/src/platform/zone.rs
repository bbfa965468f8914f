//! The shop's time zone. Times are stored in UTC; every date and time a merchant reads (the
//! dashboard, the overview's days, exports, emails) is shown in the shop's IANA zone and says
//! which. The zone is checked against both databases that read it: jiff's (bundled, so it works
//! without tzdata) for formatting here, and PostgreSQL's for the overview's day buckets and the
//! orders filter, which group and compare in SQL.

use crate::error::{AppError, AppResult};
use sqlx::PgPool;
use time::{OffsetDateTime, UtcOffset};
use uuid::Uuid;

pub const UTC: &str = "UTC";

/// A shop's zone: its name as the merchant chose it, and its rules.
#[derive(Clone, Debug)]
pub struct Zone {
    name: String,
    tz: jiff::tz::TimeZone,
}

impl Zone {
    /// The zone by its IANA name; UTC for a name the bundled database does not know (a zone
    /// renamed since it was saved must not break a page).
    pub fn named(name: &str) -> Zone {
        match jiff::tz::TimeZone::get(name) {
            Ok(tz) => Zone {
                name: name.to_string(),
                tz,
            },
            Err(_) => Zone::utc(),
        }
    }

    pub fn utc() -> Zone {
        Zone {
            name: UTC.to_string(),
            tz: jiff::tz::TimeZone::UTC,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The same instant with the zone's offset at that instant (summer time included).
    pub fn local(&self, t: OffsetDateTime) -> OffsetDateTime {
        let offset = jiff::Timestamp::from_second(t.unix_timestamp())
            .map(|ts| self.tz.to_offset(ts).seconds())
            .ok()
            .and_then(|s| UtcOffset::from_whole_seconds(s).ok())
            .unwrap_or(UtcOffset::UTC);
        t.to_offset(offset)
    }

    /// RFC 3339 with the local offset ("2026-12-07T14:05:00+01:00"): the dashboard shows the
    /// wall-clock part as it is, and the offset keeps the instant exact for anything that parses it.
    pub fn rfc3339(&self, t: OffsetDateTime) -> String {
        self.local(t)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    }

    /// "7 Dec 2026, 14:05 (Africa/Lagos)", for emails and messages a person reads.
    pub fn readable(&self, t: OffsetDateTime) -> String {
        let local = self.local(t);
        let month = &format!("{}", local.month())[..3];
        format!(
            "{} {month} {}, {:02}:{:02} ({})",
            local.day(),
            local.year(),
            local.hour(),
            local.minute(),
            self.name
        )
    }
}

/// The shop's zone (UTC for a shop that has none it can use).
pub async fn of_shop(pool: &PgPool, shop_id: Uuid) -> AppResult<Zone> {
    let name: Option<String> = sqlx::query_scalar("select time_zone from shops where id = $1")
        .bind(shop_id)
        .fetch_optional(pool)
        .await?;
    Ok(name.map(|n| Zone::named(&n)).unwrap_or_else(Zone::utc))
}

/// A zone name from a form, trimmed and checked; the error names the field's problem in words a
/// merchant can act on.
pub async fn validate(pool: &PgPool, field: &str, name: &str) -> AppResult<String> {
    let name = name.trim();
    let known_here = !name.is_empty() && jiff::tz::TimeZone::get(name).is_ok();
    let known = known_here
        && sqlx::query_scalar::<_, bool>(
            "select exists (select 1 from pg_timezone_names where name = $1)",
        )
        .bind(name)
        .fetch_one(pool)
        .await?;
    if !known {
        return Err(AppError::validation(
            field,
            "Enter a time zone by its name, such as Africa/Lagos or America/Sao_Paulo.",
        ));
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn times_read_in_the_shops_zone_with_summer_time() {
        let lagos = Zone::named("Africa/Lagos");
        let t = datetime!(2026-12-07 23:30 UTC);
        assert_eq!(lagos.rfc3339(t), "2026-12-08T00:30:00+01:00");
        assert_eq!(lagos.readable(t), "8 Dec 2026, 00:30 (Africa/Lagos)");
        // London is UTC in winter and an hour ahead in summer.
        let london = Zone::named("Europe/London");
        assert_eq!(
            london.rfc3339(datetime!(2026-07-01 12:00 UTC)),
            "2026-07-01T13:00:00+01:00"
        );
        assert_eq!(
            london.rfc3339(datetime!(2026-12-01 12:00 UTC)),
            "2026-12-01T12:00:00Z"
        );
    }

    #[test]
    fn an_unknown_zone_reads_as_utc() {
        let z = Zone::named("Mars/Olympus_Mons");
        assert_eq!(z.name(), "UTC");
        assert_eq!(
            z.readable(datetime!(2026-01-05 09:07 UTC)),
            "5 Jan 2026, 09:07 (UTC)"
        );
    }
}
