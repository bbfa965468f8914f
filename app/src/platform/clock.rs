//! The time source for services that apply time rules (job backoff and leases, retention purges,
//! later the WhatsApp 24-hour window and handover timeouts).
//!
//! Those services take a [`Clock`] instead of calling `OffsetDateTime::now_utc()` so that a test
//! can move time forward and watch a rule fire, without sleeping. When the rule is evaluated in
//! SQL, pass `clock.now()` as a bound parameter rather than writing `now()`: otherwise the
//! database's clock would quietly override the test's.

use std::sync::{Arc, Mutex};
use time::{Duration, OffsetDateTime};

#[derive(Clone, Default)]
pub struct Clock {
    source: Source,
}

#[derive(Clone, Default)]
enum Source {
    #[default]
    System,
    /// Shared by every clone, so advancing the test's copy moves the app's clock too.
    Manual(Arc<Mutex<OffsetDateTime>>),
}

impl Clock {
    /// Wall-clock time: what production uses.
    pub fn system() -> Self {
        Clock {
            source: Source::System,
        }
    }

    /// A clock that stands still at `start` and moves only when told to ([`Clock::advance`],
    /// [`Clock::set`]), so tests decide exactly when something becomes due.
    pub fn manual(start: OffsetDateTime) -> Self {
        Clock {
            source: Source::Manual(Arc::new(Mutex::new(start))),
        }
    }

    pub fn now(&self) -> OffsetDateTime {
        match &self.source {
            Source::System => OffsetDateTime::now_utc(),
            Source::Manual(t) => *lock(t),
        }
    }

    /// Moves a manual clock forward (or back, with a negative duration).
    ///
    /// # Panics
    /// On the system clock: a test that believes it controls time but does not would pass or
    /// fail for the wrong reason, so this is loud rather than ignored.
    pub fn advance(&self, by: Duration) {
        match &self.source {
            Source::System => panic!("Clock::advance called on the system clock"),
            Source::Manual(t) => {
                let mut t = lock(t);
                *t += by;
            }
        }
    }

    /// Sets a manual clock to `to`. Panics on the system clock, like [`Clock::advance`].
    pub fn set(&self, to: OffsetDateTime) {
        match &self.source {
            Source::System => panic!("Clock::set called on the system clock"),
            Source::Manual(t) => *lock(t) = to,
        }
    }

    pub fn is_manual(&self) -> bool {
        matches!(self.source, Source::Manual(_))
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.source {
            Source::System => f.write_str("Clock::system"),
            Source::Manual(t) => write!(f, "Clock::manual({})", *lock(t)),
        }
    }
}

// A poisoned lock only means another test thread panicked while holding it; the time value
// itself is always valid, so keep going.
fn lock(m: &Mutex<OffsetDateTime>) -> std::sync::MutexGuard<'_, OffsetDateTime> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn manual_clock_moves_only_when_told_and_clones_share_it() {
        let start = datetime!(2026-11-25 12:00 UTC);
        let clock = Clock::manual(start);
        let copy = clock.clone();
        assert_eq!(clock.now(), start);
        copy.advance(Duration::minutes(90));
        assert_eq!(clock.now(), datetime!(2026-11-25 13:30 UTC));
        clock.set(start);
        assert_eq!(copy.now(), start);
        assert!(clock.is_manual());
    }

    #[test]
    fn system_clock_follows_the_wall_clock() {
        let before = OffsetDateTime::now_utc();
        let now = Clock::system().now();
        assert!(now >= before && now - before < Duration::seconds(5));
        assert!(!Clock::default().is_manual());
    }

    #[test]
    #[should_panic(expected = "system clock")]
    fn advancing_the_system_clock_is_a_bug() {
        Clock::system().advance(Duration::seconds(1));
    }
}
