//! Slows down password guessing per client address: a few free mistakes, then a wait
//! that doubles with each further failure, so one attacker cannot lock out everyone.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Mistakes allowed before any waiting starts (typos happen).
const FREE_FAILURES: u32 = 3;
const MAX_DELAY: Duration = Duration::from_secs(300);
/// Entries idle for this long are forgotten, which bounds memory.
const FORGET_AFTER: Duration = Duration::from_secs(3600);

#[derive(Default)]
pub struct Throttle {
    entries: Mutex<HashMap<IpAddr, Entry>>,
}

struct Entry {
    failures: u32,
    blocked_until: Instant,
    last_failure: Instant,
}

impl Throttle {
    /// `Err(seconds)` if `client` must wait before trying again.
    pub fn check(&self, client: IpAddr) -> Result<(), u64> {
        let entries = self.lock();
        match entries.get(&client) {
            Some(entry) if entry.blocked_until > Instant::now() => {
                Err(seconds_until(entry.blocked_until))
            }
            _ => Ok(()),
        }
    }

    /// Records a wrong password; returns how long `client` must now wait, if at all.
    pub fn fail(&self, client: IpAddr) -> Option<u64> {
        let now = Instant::now();
        let mut entries = self.lock();
        if entries.len() > 10_000 {
            entries.retain(|_, entry| now.duration_since(entry.last_failure) < FORGET_AFTER);
        }
        let entry = entries.entry(client).or_insert(Entry {
            failures: 0,
            blocked_until: now,
            last_failure: now,
        });
        if now.duration_since(entry.last_failure) > FORGET_AFTER {
            entry.failures = 0;
        }
        entry.failures += 1;
        entry.last_failure = now;
        let delay = delay_after(entry.failures);
        entry.blocked_until = now + delay;
        (!delay.is_zero()).then(|| seconds_until(entry.blocked_until))
    }

    pub fn succeed(&self, client: IpAddr) {
        self.lock().remove(&client);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// 0 for the free failures, then 1 s, 2 s, 4 s … up to five minutes.
fn delay_after(failures: u32) -> Duration {
    if failures <= FREE_FAILURES {
        return Duration::ZERO;
    }
    let exponent = (failures - FREE_FAILURES - 1).min(16);
    Duration::from_secs(1u64 << exponent).min(MAX_DELAY)
}

fn seconds_until(deadline: Instant) -> u64 {
    deadline
        .saturating_duration_since(Instant::now())
        .as_secs_f64()
        .ceil()
        .max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_doubles_after_the_free_failures_and_is_capped() {
        let delays: Vec<u64> = (1..=14).map(|n| delay_after(n).as_secs()).collect();
        assert_eq!(
            delays,
            [0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
        );
    }

    #[test]
    fn throttling_is_per_client_and_cleared_by_success() {
        let throttle = Throttle::default();
        let attacker: IpAddr = "10.0.0.1".parse().unwrap();
        let bystander: IpAddr = "10.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(throttle.fail(attacker), None);
        }
        assert_eq!(throttle.fail(attacker), Some(1));
        assert!(throttle.check(attacker).is_err());
        assert!(throttle.check(bystander).is_ok());
        throttle.succeed(attacker);
        assert!(throttle.check(attacker).is_ok());
    }
}
