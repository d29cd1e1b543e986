//! Login sessions: a random id per login, kept in this process's memory only (a restart ends
//! every session), ended by logout or after `session_idle` unused, at most `max_sessions` at
//! once (a new login ends the least recently used). It owns no I/O; callers pass the clock in.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::config::ServerLimits;

/// How often a used session's cookie is sent again, so that the browser's expiry slides along
/// with the server's without a Set-Cookie on every response.
const COOKIE_REFRESH: Duration = Duration::from_secs(3600);

/// The map is keyed by a digest of the id: a lookup's timing says nothing about the ids kept,
/// and a memory dump holds none.
type Key = [u8; 32];

struct Session {
    last_used: Instant,
    cookie_sent: Instant,
}

pub struct Sessions {
    map: Mutex<HashMap<Key, Session>>,
    idle: Duration,
    cap: usize,
}

/// A session found alive (and its clock restarted).
#[derive(Debug, PartialEq, Eq)]
pub struct Touched {
    /// Send the cookie again: the browser's copy would expire before the server's.
    pub refresh_cookie: bool,
}

fn key(id: &str) -> Key {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    pub fn new(limits: &ServerLimits) -> Sessions {
        Sessions {
            map: Mutex::new(HashMap::new()),
            idle: limits.session_idle,
            cap: limits.max_sessions.max(1),
        }
    }

    /// How long a session lives unused; the cookie's Max-Age.
    pub fn idle(&self) -> Duration {
        self.idle
    }

    /// Starts a session; returns its id (256 random bits from the OS-seeded CSPRNG, as hex).
    pub fn create(&self, now: Instant) -> String {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        // std Mutex: held for map operations only, never across an await.
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= self.cap {
            map.retain(|_, s| now.duration_since(s.last_used) < self.idle);
        }
        if map.len() >= self.cap {
            if let Some(oldest) = map.iter().min_by_key(|(_, s)| s.last_used).map(|(k, _)| *k) {
                map.remove(&oldest);
            }
        }
        map.insert(
            key(&id),
            Session {
                last_used: now,
                cookie_sent: now,
            },
        );
        id
    }

    /// Whether `id` is a live session; if so its idle clock restarts.
    pub fn touch(&self, id: &str, now: Instant) -> Option<Touched> {
        let k = key(id);
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        let s = map.get_mut(&k)?;
        if now.duration_since(s.last_used) >= self.idle {
            map.remove(&k);
            return None;
        }
        s.last_used = now;
        let refresh_cookie = now.duration_since(s.cookie_sent) >= COOKIE_REFRESH;
        if refresh_cookie {
            s.cookie_sent = now;
        }
        Some(Touched { refresh_cookie })
    }

    /// Ends the session `id`; whether it was alive.
    pub fn remove(&self, id: &str) -> bool {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        map.remove(&key(id)).is_some()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions(idle_s: u64, cap: usize) -> Sessions {
        Sessions::new(&ServerLimits {
            session_idle: Duration::from_secs(idle_s),
            max_sessions: cap,
            ..ServerLimits::default()
        })
    }

    #[test]
    fn ids_are_random_and_expire_when_unused() {
        let s = sessions(100, 10);
        let t0 = Instant::now();
        let a = s.create(t0);
        let b = s.create(t0);
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        // Used every 60 s, it outlives the 100 s idle limit (sliding) ...
        let mut t = t0;
        for _ in 0..5 {
            t += Duration::from_secs(60);
            assert!(s.touch(&a, t).is_some());
        }
        // ... while b, unused since t0, is gone.
        assert_eq!(s.touch(&b, t), None);
        assert_eq!(s.touch(&a, t + Duration::from_secs(100)), None);
        assert_eq!(s.touch("nope", t), None);
    }

    #[test]
    fn logout_ends_a_session_and_the_cap_evicts_the_least_recently_used() {
        let s = sessions(1000, 3);
        let t0 = Instant::now();
        let ids: Vec<String> = (0..3)
            .map(|i| s.create(t0 + Duration::from_secs(i)))
            .collect();
        assert!(s.touch(&ids[0], t0 + Duration::from_secs(5)).is_some());
        let d = s.create(t0 + Duration::from_secs(6));
        assert_eq!(s.len(), 3);
        assert!(
            s.touch(&ids[1], t0 + Duration::from_secs(7)).is_none(),
            "LRU evicted"
        );
        assert!(s.touch(&ids[0], t0 + Duration::from_secs(7)).is_some());
        assert!(s.remove(&d));
        assert!(!s.remove(&d));
        assert!(s.touch(&d, t0 + Duration::from_secs(7)).is_none());
    }

    #[test]
    fn the_cookie_is_sent_again_once_an_hour_of_use() {
        let s = sessions(12 * 3600, 10);
        let t0 = Instant::now();
        let a = s.create(t0);
        let t = t0 + Duration::from_secs(600);
        assert_eq!(
            s.touch(&a, t),
            Some(Touched {
                refresh_cookie: false
            })
        );
        let t = t0 + COOKIE_REFRESH;
        assert_eq!(
            s.touch(&a, t),
            Some(Touched {
                refresh_cookie: true
            })
        );
        assert_eq!(
            s.touch(&a, t + Duration::from_secs(1)),
            Some(Touched {
                refresh_cookie: false
            })
        );
    }
}
