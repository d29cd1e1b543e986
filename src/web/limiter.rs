//! The brake on guessing the token: per client IP, a small allowance of failed attempts that
//! refills one a second; past it the client's token attempts are refused for a while, twice as
//! long after each further failure. Only failures cost anything, so a client that knows the
//! token is never slowed. It owns no I/O: callers pass the clock in, and the memory it keeps is
//! bounded (`max_tracked_clients`, stalest forgotten first).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::config::ServerLimits;

/// A client unseen for this long starts again with a full allowance and the shortest block.
const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// Refused attempts of one client are logged at most this often (with a count), so a flood of
/// them cannot flood the log; failures themselves are few (the allowance) and each is logged.
const REFUSAL_LOG_EVERY: Duration = Duration::from_secs(1);

/// Who a client is for the limiter: its IP, or for IPv6 its /64, since one host usually holds a
/// whole /64 and could otherwise rotate addresses to reset its count.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct ClientKey(IpAddr);

impl ClientKey {
    pub fn of(ip: IpAddr) -> ClientKey {
        match ip {
            IpAddr::V4(_) => ClientKey(ip),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientKey(IpAddr::V4(v4)),
                None => {
                    let mut s = v6.segments();
                    s[4..].fill(0);
                    ClientKey(IpAddr::V6(s.into()))
                }
            },
        }
    }
}

impl std::fmt::Display for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V6(_) => write!(f, "{}/64", self.0),
            IpAddr::V4(_) => write!(f, "{}", self.0),
        }
    }
}

#[derive(Debug)]
struct Strikes {
    /// Attempts the client may still make before a block; each attempt reserves one when it
    /// starts (so that concurrent guesses cannot all slip through), a success gives it back.
    allowance: f64,
    /// When `allowance` was last refilled (in the future while blocked: no refill then).
    refilled_at: Instant,
    /// How many blocks in a row: the next lasts `base * 2^level`.
    level: u32,
    blocked_until: Option<Instant>,
    last_failure: Instant,
    refused_unlogged: u64,
    last_refusal_log: Option<Instant>,
}

impl Strikes {
    fn refill(&mut self, now: Instant, burst: f64) {
        if now > self.refilled_at {
            let secs = (now - self.refilled_at).as_secs_f64();
            self.allowance = (self.allowance + secs).min(burst);
            self.refilled_at = now;
        }
    }
}

/// A refusal: wait this long before trying again; `log` carries the number of refusals to log
/// now (None: already logged within the last second).
#[derive(Debug, PartialEq, Eq)]
pub struct Refused {
    pub retry_after: Duration,
    pub log: Option<u64>,
}

/// An attempt let through by [`AttemptLimiter::check`]; hand it back to `failed` or
/// `succeeded`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// The client has no failures on record: nothing was reserved.
    Free,
    /// One unit of the client's allowance was reserved for this attempt.
    Reserved,
}

pub struct AttemptLimiter {
    clients: Mutex<HashMap<ClientKey, Strikes>>,
    burst: f64,
    base_block: Duration,
    max_block: Duration,
    max_clients: usize,
}

impl AttemptLimiter {
    pub fn new(limits: &ServerLimits) -> AttemptLimiter {
        AttemptLimiter {
            clients: Mutex::new(HashMap::new()),
            burst: f64::from(limits.auth_burst.max(1)),
            base_block: limits.auth_base_block,
            max_block: limits.auth_max_block.max(limits.auth_base_block),
            max_clients: limits.max_tracked_clients.max(1),
        }
    }

    /// Whether `client` may try a token now. Checked before the token is looked at, so a
    /// refused client learns nothing, even from the right token. A client without failures on
    /// record costs one map lookup.
    pub fn check(&self, client: ClientKey, now: Instant) -> Result<Attempt, Refused> {
        // std Mutex: held for a map lookup, never across an await.
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(s) = clients.get_mut(&client) else {
            return Ok(Attempt::Free);
        };
        let wait = match s.blocked_until {
            Some(until) if until > now => until - now,
            _ => {
                s.refill(now, self.burst);
                if s.allowance >= 1.0 {
                    s.allowance -= 1.0;
                    return Ok(Attempt::Reserved);
                }
                // Every unit is reserved by attempts still in flight: wait for the next one.
                Duration::from_secs_f64(1.0 - s.allowance)
            }
        };
        s.refused_unlogged += 1;
        let log_due = s
            .last_refusal_log
            .is_none_or(|t| now.duration_since(t) >= REFUSAL_LOG_EVERY);
        let log = log_due.then(|| {
            s.last_refusal_log = Some(now);
            std::mem::take(&mut s.refused_unlogged)
        });
        Err(Refused {
            retry_after: wait,
            log,
        })
    }

    /// The attempt let through had the right token: its reserved unit is given back.
    pub fn succeeded(&self, client: ClientKey, attempt: Attempt) {
        if attempt == Attempt::Reserved {
            let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(s) = clients.get_mut(&client) {
                s.allowance = (s.allowance + 1.0).min(self.burst);
            }
        }
    }

    /// The attempt let through had a wrong token; returns the block it starts, if it starts
    /// one (when it used the client's last unit).
    pub fn failed(&self, client: ClientKey, attempt: Attempt, now: Instant) -> Option<Duration> {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if !clients.contains_key(&client) && clients.len() >= self.max_clients {
            self.make_room(&mut clients, now);
        }
        let s = clients.entry(client).or_insert(Strikes {
            allowance: self.burst,
            refilled_at: now,
            level: 0,
            blocked_until: None,
            last_failure: now,
            refused_unlogged: 0,
            last_refusal_log: None,
        });
        if now.duration_since(s.last_failure) > FORGET_AFTER {
            s.level = 0;
        }
        s.last_failure = now;
        if attempt == Attempt::Free {
            // Its unit was not reserved (no record then, or a record made meanwhile).
            s.refill(now, self.burst);
            s.allowance = (s.allowance - 1.0).max(0.0);
        }
        if s.allowance >= 1.0 {
            return None;
        }
        let block = self
            .base_block
            .saturating_mul(1u32 << s.level.min(20))
            .min(self.max_block);
        s.level = s.level.saturating_add(1);
        let until = now + block;
        s.blocked_until = Some(until);
        // Waiting out a block buys one more try (then one a second), not a fresh burst.
        s.allowance = 1.0;
        s.refilled_at = until;
        Some(block)
    }

    /// Forgets clients that no longer matter; if all still do, the stalest tenth, so that the
    /// scan runs once per many new clients rather than on each.
    fn make_room(&self, clients: &mut HashMap<ClientKey, Strikes>, now: Instant) {
        clients.retain(|_, s| {
            now.duration_since(s.last_failure) <= FORGET_AFTER
                || s.blocked_until.is_some_and(|b| b > now)
        });
        if clients.len() < self.max_clients {
            return;
        }
        let mut ages: Vec<Instant> = clients.values().map(|s| s.last_failure).collect();
        let nth = (self.max_clients / 10).min(ages.len() - 1);
        let (_, cut, _) = ages.select_nth_unstable(nth);
        let cut = *cut;
        clients.retain(|_, s| s.last_failure > cut);
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(burst: u32, max_clients: usize) -> AttemptLimiter {
        AttemptLimiter::new(&ServerLimits {
            auth_burst: burst,
            auth_base_block: Duration::from_secs(1),
            auth_max_block: Duration::from_secs(8),
            max_tracked_clients: max_clients,
            ..ServerLimits::default()
        })
    }

    fn ip(n: u32) -> ClientKey {
        ClientKey::of(IpAddr::V4(n.into()))
    }

    /// One attempt through the limiter, as the guard makes it.
    fn attempt(l: &AttemptLimiter, c: ClientKey, right: bool, now: Instant) -> Result<(), Refused> {
        let a = l.check(c, now)?;
        if right {
            l.succeeded(c, a);
        } else {
            l.failed(c, a, now);
        }
        Ok(())
    }

    #[test]
    fn a_burst_is_free_then_blocks_double_up_to_the_cap() {
        let l = limiter(3, 100);
        let t0 = Instant::now();
        let c = ip(1);
        assert_eq!(
            l.check(c, t0),
            Ok(Attempt::Free),
            "no record, nothing reserved"
        );
        assert_eq!(l.failed(c, Attempt::Free, t0), None);
        assert_eq!(attempt(&l, c, false, t0), Ok(()));
        // The third failure uses the last unit and starts a 1 s block.
        let a = l.check(c, t0).unwrap();
        assert_eq!(a, Attempt::Reserved);
        assert_eq!(l.failed(c, a, t0), Some(Duration::from_secs(1)));
        let refused = l.check(c, t0).unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_secs(1));
        assert_eq!(refused.log, Some(1));
        assert_eq!(
            l.check(c, t0).unwrap_err().log,
            None,
            "logged once a second"
        );
        // Another client is not affected.
        assert_eq!(l.check(ip(2), t0), Ok(Attempt::Free));
        // After each block: one more try, and its failure blocks twice as long, up to 8 s.
        let mut t = t0 + Duration::from_secs(1);
        for want in [2, 4, 8, 8] {
            let a = l.check(c, t).unwrap();
            assert_eq!(l.failed(c, a, t), Some(Duration::from_secs(want)));
            t += Duration::from_secs(want);
        }
        // Waiting 2 s more refills 2 units: the 3rd failure then blocks.
        t += Duration::from_secs(2);
        assert_eq!(attempt(&l, c, false, t), Ok(()));
        assert_eq!(attempt(&l, c, false, t), Ok(()));
        let a = l.check(c, t).unwrap();
        assert_eq!(l.failed(c, a, t), Some(Duration::from_secs(8)));
        // Forgotten after a quiet quarter of an hour: the shortest block again.
        let t = t + FORGET_AFTER + Duration::from_secs(10);
        for _ in 0..2 {
            assert_eq!(attempt(&l, c, false, t), Ok(()));
        }
        let a = l.check(c, t).unwrap();
        assert_eq!(l.failed(c, a, t), Some(Duration::from_secs(1)));
    }

    #[test]
    fn concurrent_guesses_cannot_outrun_the_allowance_and_successes_cost_nothing() {
        let l = limiter(3, 100);
        let t0 = Instant::now();
        let c = ip(1);
        assert_eq!(l.failed(c, Attempt::Free, t0), None);
        // Two units left: two attempts in flight take them, a third is refused at once.
        let a1 = l.check(c, t0).unwrap();
        let a2 = l.check(c, t0).unwrap();
        let refused = l.check(c, t0).unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_secs(1));
        // The right token gives its unit back.
        l.succeeded(c, a1);
        for _ in 0..50 {
            assert_eq!(attempt(&l, c, true, t0), Ok(()));
        }
        assert_eq!(l.failed(c, a2, t0), None);
        let a3 = l.check(c, t0).unwrap();
        assert_eq!(l.failed(c, a3, t0), Some(Duration::from_secs(1)));
    }

    #[test]
    fn memory_is_bounded_by_forgetting_the_stalest() {
        let l = limiter(1, 50);
        let t0 = Instant::now();
        for n in 0..500u32 {
            l.failed(
                ip(n),
                Attempt::Free,
                t0 + Duration::from_millis(u64::from(n)),
            );
            assert!(l.tracked() <= 50, "{} tracked", l.tracked());
        }
        // The newest are kept: the last client is still remembered (a forgotten one would
        // start again at the 1 s block).
        assert_eq!(
            l.failed(ip(499), Attempt::Free, t0 + Duration::from_millis(499)),
            Some(Duration::from_secs(2))
        );
    }

    #[test]
    fn ipv6_clients_are_grouped_by_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ClientKey::of(a), ClientKey::of(b));
        assert_ne!(ClientKey::of(a), ClientKey::of(c));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(ClientKey::of(mapped), ip(0x0a00_0001));
        assert_eq!(ClientKey::of(a).to_string(), "2001:db8:1:2::/64");
    }
}
