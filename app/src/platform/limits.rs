//! Limits on what one caller can make us do: request-rate limits keyed by network, email,
//! merchant, shop or phone ([`RateLimits`]), and a gate that keeps CPU-heavy work (password
//! hashing, image decoding) to as many jobs at once as there are cores ([`CpuGate`]).

use crate::config::Config;
use crate::error::{AppError, AppResult};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, OnceLock};
use tokio::sync::Semaphore;
use uuid::Uuid;

/// The key under which a client address is counted.
///
/// IPv4 addresses count one by one. An IPv6 client usually controls a whole /64 (its provider
/// hands out at least that much), so counting single IPv6 addresses would give one person
/// 2^64 fresh allowances; the /64 prefix is the key instead. An IPv4-mapped IPv6 address
/// (`::ffff:a.b.c.d`, what a dual-stack socket reports for IPv4 peers) is that IPv4 address.
pub fn ip_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).expect("max(1) is non-zero")
}

/// In-process limits. With several replicas each keeps its own count, which still bounds
/// guessing to (replicas × limit); a shared store can replace it later without changing callers.
pub struct RateLimits {
    login_ip: DefaultKeyedRateLimiter<String>,
    login_email: DefaultKeyedRateLimiter<String>,
    password_merchant: DefaultKeyedRateLimiter<Uuid>,
    signup_ip: DefaultKeyedRateLimiter<String>,
    reset_ip: DefaultKeyedRateLimiter<String>,
    reset_email: DefaultKeyedRateLimiter<String>,
    checkout_ip: DefaultKeyedRateLimiter<String>,
    checkout_shop: DefaultKeyedRateLimiter<Uuid>,
    checkout_phone: DefaultKeyedRateLimiter<String>,
}

pub const TOO_MANY_LOGINS: &str = "Too many login attempts. Please wait a minute and try again.";
pub const TOO_MANY_PASSWORD_ATTEMPTS: &str =
    "Too many wrong passwords. Please wait a few minutes before trying again.";
pub const TOO_MANY_SIGNUPS: &str =
    "Too many sign-ups from your network. Please try again in an hour.";
pub const TOO_MANY_RESETS: &str =
    "We already sent several reset links. Please check your inbox or try again later.";
pub const TOO_MANY_ORDERS_FROM_NETWORK: &str =
    "Too many orders from your connection. Please wait a while, or message the shop on WhatsApp.";
pub const TOO_MANY_ORDERS_FOR_PHONE: &str = "Too many orders for this WhatsApp number in the last hour. Please wait a while, or message the shop on WhatsApp.";
pub const TOO_MANY_ORDERS_FOR_SHOP: &str = "This shop is receiving more orders than usual right now. Please try again in a few minutes, or message the shop on WhatsApp.";

fn limited(message: &str) -> AppError {
    AppError::RateLimited(message.to_string())
}

impl RateLimits {
    pub fn new(cfg: &Config) -> Self {
        let per_min = nz(cfg.login_attempts_per_minute);
        // An email (or an account) is attacked from many addresses: half the per-IP allowance,
        // at least 3.
        let per_account = Quota::per_minute(nz((cfg.login_attempts_per_minute / 2).max(3)));
        let resets = Quota::per_hour(nz(cfg.password_reset_requests_per_hour));
        RateLimits {
            login_ip: RateLimiter::keyed(Quota::per_minute(per_min).allow_burst(per_min)),
            login_email: RateLimiter::keyed(per_account),
            password_merchant: RateLimiter::keyed(per_account),
            signup_ip: RateLimiter::keyed(Quota::per_hour(nz(cfg.signup_attempts_per_hour))),
            reset_ip: RateLimiter::keyed(resets),
            reset_email: RateLimiter::keyed(resets),
            checkout_ip: RateLimiter::keyed(Quota::per_hour(nz(cfg.checkouts_per_hour))),
            checkout_shop: RateLimiter::keyed(Quota::per_hour(nz(cfg.checkouts_per_shop_per_hour))),
            checkout_phone: RateLimiter::keyed(Quota::per_hour(nz(
                cfg.checkouts_per_phone_per_hour
            ))),
        }
    }

    /// Login attempts per network and per (normalised) email.
    pub fn check_login(&self, ip: IpAddr, email: &str) -> AppResult<()> {
        if self.login_ip.check_key(&ip_key(ip)).is_err()
            || self.login_email.check_key(&email.to_string()).is_err()
        {
            return Err(limited(TOO_MANY_LOGINS));
        }
        Ok(())
    }

    /// Current-password checks on account pages (change email, change password), per merchant:
    /// whoever holds a stolen session must not get unlimited guesses at the password.
    pub fn check_password_attempt(&self, merchant_id: Uuid) -> AppResult<()> {
        self.password_merchant
            .check_key(&merchant_id)
            .map_err(|_| limited(TOO_MANY_PASSWORD_ATTEMPTS))
    }

    pub fn check_signup(&self, ip: IpAddr) -> AppResult<()> {
        self.signup_ip
            .check_key(&ip_key(ip))
            .map_err(|_| limited(TOO_MANY_SIGNUPS))
    }

    /// Reset emails per network (one sender cannot mail every address it knows) and per
    /// (normalised) email (one inbox cannot be flooded from many networks).
    pub fn check_reset(&self, ip: IpAddr, email: &str) -> AppResult<()> {
        if self.reset_ip.check_key(&ip_key(ip)).is_err()
            || self.reset_email.check_key(&email.to_string()).is_err()
        {
            return Err(limited(TOO_MANY_RESETS));
        }
        Ok(())
    }

    /// Orders per shopper network, so a script cannot drain a shop's stock with fake orders.
    pub fn check_checkout(&self, ip: IpAddr) -> AppResult<()> {
        self.checkout_ip
            .check_key(&ip_key(ip))
            .map_err(|_| limited(TOO_MANY_ORDERS_FROM_NETWORK))
    }

    /// Orders per WhatsApp number (E.164, across shops) and per shop: fake orders sent from
    /// many networks still end at one number or one shop. The phone is checked first so a
    /// refused number does not spend the shop's allowance.
    pub fn check_checkout_order(&self, shop_id: Uuid, phone: &str) -> AppResult<()> {
        self.checkout_phone
            .check_key(&phone.to_string())
            .map_err(|_| limited(TOO_MANY_ORDERS_FOR_PHONE))?;
        self.checkout_shop
            .check_key(&shop_id)
            .map_err(|_| limited(TOO_MANY_ORDERS_FOR_SHOP))
    }

    /// Forgets idle keys so the maps do not grow without bound.
    pub fn prune(&self) {
        self.login_ip.retain_recent();
        self.login_email.retain_recent();
        self.password_merchant.retain_recent();
        self.signup_ip.retain_recent();
        self.reset_ip.retain_recent();
        self.reset_email.retain_recent();
        self.checkout_ip.retain_recent();
        self.checkout_shop.retain_recent();
        self.checkout_phone.retain_recent();
    }
}

/// Runs CPU-heavy work (argon2, image decoding and re-encoding) on the blocking pool, at most
/// one job per core at a time. Without it a burst of logins or uploads would start dozens of
/// such jobs at once: each takes longer, memory grows with every image held, and the
/// blocking pool's threads (up to 512) all compete for two cores.
#[derive(Clone)]
pub struct CpuGate {
    permits: Arc<Semaphore>,
    size: usize,
}

impl CpuGate {
    pub fn new(size: usize) -> Self {
        let size = size.max(1);
        CpuGate {
            permits: Arc::new(Semaphore::new(size)),
            size,
        }
    }

    /// The gate shared by the whole process, sized to the cores it may use.
    ///
    /// A process-wide value rather than a field of `AppState` (where shared things normally
    /// live): the cores are the process's, not one app's, and `hash_password` is called where
    /// no state exists (the demo seed, the login timing dummy). Tests that build several apps
    /// in one process share it too, which is what the machine needs.
    pub fn global() -> &'static CpuGate {
        static GATE: OnceLock<CpuGate> = OnceLock::new();
        GATE.get_or_init(|| {
            CpuGate::new(std::thread::available_parallelism().map_or(2, std::num::NonZero::get))
        })
    }

    /// How many jobs may run at once.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Waits for a free core, then runs `f` on the blocking pool. The permit travels with the
    /// job, so a caller that gives up waiting (a closed connection) does not free the core
    /// while its work is still running.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> AppResult<T> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| AppError::Internal(anyhow::anyhow!("CPU gate closed: {e}")))?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            f()
        })
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("CPU-bound task failed: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn limits(extra: &[(&str, &str)]) -> RateLimits {
        let cfg = Config::from_lookup(|k| {
            extra
                .iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.to_string())
                .or_else(|| match k {
                    "DATABASE_URL" => Some("postgres://unused".into()),
                    "APP_ENV" => Some("development".into()),
                    _ => None,
                })
        })
        .expect("test configuration is valid");
        RateLimits::new(&cfg)
    }

    #[test]
    fn ipv6_is_counted_per_64_and_ipv4_per_address() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:fffe".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ip_key(a), ip_key(b), "one /64, one key");
        assert_eq!(ip_key(a), "2001:db8:1:2::/64");
        assert_ne!(ip_key(a), ip_key(other));
        assert_eq!(
            ip_key(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7))),
            "203.0.113.7"
        );
        assert_ne!(
            ip_key(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7))),
            ip_key(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 8)))
        );
        let mapped = IpAddr::V6(Ipv4Addr::new(203, 0, 113, 7).to_ipv6_mapped());
        assert_eq!(ip_key(mapped), "203.0.113.7");
        assert_eq!(ip_key(IpAddr::V6(Ipv6Addr::LOCALHOST)), "0:0:0:0::/64");
    }

    #[test]
    fn checkouts_from_one_ipv6_64_share_an_allowance() {
        let l = limits(&[("RATE_LIMIT_CHECKOUT_PER_HOUR", "2")]);
        for host in ["::1", "::2"] {
            let ip: IpAddr = format!("2001:db8:7:7{host}").parse().unwrap();
            assert!(l.check_checkout(ip).is_ok());
        }
        let third: IpAddr = "2001:db8:7:7:dead:beef::3".parse().unwrap();
        let err = l.check_checkout(third).unwrap_err();
        assert!(matches!(err, AppError::RateLimited(m) if m == TOO_MANY_ORDERS_FROM_NETWORK));
        assert!(
            l.check_checkout("2001:db8:7:8::1".parse().unwrap()).is_ok(),
            "the neighbouring /64 is someone else"
        );
    }

    #[test]
    fn resets_are_limited_per_network_and_per_email() {
        let l = limits(&[("RATE_LIMIT_PASSWORD_RESET_PER_HOUR", "2")]);
        let ip: IpAddr = "198.51.100.1".parse().unwrap();
        assert!(l.check_reset(ip, "a@example.com").is_ok());
        assert!(l.check_reset(ip, "b@example.com").is_ok());
        // A third address from the same network: the per-IP allowance is spent.
        let err = l.check_reset(ip, "c@example.com").unwrap_err();
        assert!(matches!(err, AppError::RateLimited(m) if m == TOO_MANY_RESETS));
        // One email from many networks: the per-email allowance.
        let l = limits(&[("RATE_LIMIT_PASSWORD_RESET_PER_HOUR", "2")]);
        for n in 1..=2 {
            let ip: IpAddr = format!("198.51.100.{n}").parse().unwrap();
            assert!(l.check_reset(ip, "victim@example.com").is_ok());
        }
        assert!(
            l.check_reset("198.51.100.3".parse().unwrap(), "victim@example.com")
                .is_err()
        );
    }

    #[test]
    fn password_checks_are_limited_per_merchant() {
        // Login 6/min: accounts get half, at least 3.
        let l = limits(&[("RATE_LIMIT_LOGIN_PER_MINUTE", "6")]);
        let (m, other) = (Uuid::now_v7(), Uuid::now_v7());
        for _ in 0..3 {
            assert!(l.check_password_attempt(m).is_ok());
        }
        let err = l.check_password_attempt(m).unwrap_err();
        assert!(matches!(err, AppError::RateLimited(msg) if msg == TOO_MANY_PASSWORD_ATTEMPTS));
        assert!(l.check_password_attempt(other).is_ok());
    }

    #[test]
    fn orders_are_limited_per_phone_and_per_shop() {
        let l = limits(&[
            ("RATE_LIMIT_CHECKOUT_PER_PHONE_PER_HOUR", "2"),
            ("RATE_LIMIT_CHECKOUT_PER_SHOP_PER_HOUR", "3"),
        ]);
        let (shop, other_shop) = (Uuid::now_v7(), Uuid::now_v7());
        assert!(l.check_checkout_order(shop, "+2348020000001").is_ok());
        assert!(l.check_checkout_order(other_shop, "+2348020000001").is_ok());
        let err = l.check_checkout_order(shop, "+2348020000001").unwrap_err();
        assert!(matches!(err, AppError::RateLimited(m) if m == TOO_MANY_ORDERS_FOR_PHONE));
        // The refused phone did not spend the shop's allowance: two more fit, then none.
        assert!(l.check_checkout_order(shop, "+2348020000002").is_ok());
        assert!(l.check_checkout_order(shop, "+2348020000003").is_ok());
        let err = l.check_checkout_order(shop, "+2348020000004").unwrap_err();
        assert!(matches!(err, AppError::RateLimited(m) if m == TOO_MANY_ORDERS_FOR_SHOP));
        assert!(l.check_checkout_order(other_shop, "+2348020000004").is_ok());
    }

    #[test]
    fn the_global_gate_has_one_permit_per_core() {
        let cores = std::thread::available_parallelism().unwrap().get();
        assert_eq!(CpuGate::global().size(), cores);
        assert_eq!(CpuGate::new(0).size(), 1, "never a gate that admits nobody");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_gate_runs_no_more_jobs_at_once_than_it_has_permits() {
        let gate = CpuGate::new(2);
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let jobs = (0..8).map(|i| {
            let (gate, running, most) = (gate.clone(), running.clone(), most.clone());
            tokio::spawn(async move {
                gate.run(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    // Long enough for the other jobs to pile up behind the gate.
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                    i * 2
                })
                .await
            })
        });
        let mut results = Vec::new();
        for job in jobs.collect::<Vec<_>>() {
            results.push(job.await.unwrap().unwrap());
        }
        assert_eq!(results, (0..8).map(|i| i * 2).collect::<Vec<_>>());
        let most = most.load(Ordering::SeqCst);
        assert!(most <= 2, "{most} jobs ran at once through a gate of 2");
    }
}
