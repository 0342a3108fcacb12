//! Exponential backoff with jitter.
//!
//! The nominal delay before retry `n` (0-based) is `base * factor^n`, capped at `max`
//! (with the defaults: 1 s, 2 s, 4 s, 8 s, ... like the AgentPipe CLI's own retries).
//! Jitter then spreads it uniformly over `nominal * [1 - jitter, 1 + jitter]`, never above
//! `max`, so that clients failing together do not retry together.

use std::time::Duration;

use rand::Rng;

/// A retry schedule. Plain data: cheap to copy, no state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// Delay before the first retry.
    pub base: Duration,
    /// Growth per retry (2.0 doubles).
    pub factor: f64,
    /// Upper bound of any delay, jitter included.
    pub max: Duration,
    /// Relative spread in `[0, 1]`: 0.2 means ±20 %.
    pub jitter: f64,
}

impl Default for Backoff {
    /// 1 s base, doubling, at most 30 s, ±20 % jitter.
    fn default() -> Self {
        Backoff {
            base: Duration::from_secs(1),
            factor: 2.0,
            max: Duration::from_secs(30),
            jitter: 0.2,
        }
    }
}

impl Backoff {
    /// A schedule starting at `base`, doubling, capped at `max`, ±20 % jitter.
    pub fn new(base: Duration, max: Duration) -> Self {
        Backoff {
            base,
            max,
            ..Backoff::default()
        }
    }

    /// The delay before retry `attempt` (0-based) without jitter.
    pub fn nominal(&self, attempt: u32) -> Duration {
        let exp = self.factor.max(1.0).powi(attempt.min(64) as i32);
        let secs = self.base.as_secs_f64() * exp;
        let max = self.max.as_secs_f64();
        if !secs.is_finite() || secs >= max {
            self.max
        } else {
            Duration::from_secs_f64(secs.max(0.0))
        }
    }

    /// The delay before retry `attempt` (0-based), jittered with `rng`.
    pub fn delay_with<R: Rng + ?Sized>(&self, attempt: u32, rng: &mut R) -> Duration {
        let nominal = self.nominal(attempt).as_secs_f64();
        let j = self.jitter.clamp(0.0, 1.0);
        let r: f64 = if j > 0.0 { rng.random::<f64>() } else { 0.5 };
        let factor = 1.0 - j + 2.0 * j * r;
        let secs = (nominal * factor).min(self.max.as_secs_f64()).max(0.0);
        Duration::from_secs_f64(secs)
    }

    /// The delay before retry `attempt` (0-based), jittered with the thread RNG.
    pub fn delay(&self, attempt: u32) -> Duration {
        self.delay_with(attempt, &mut rand::rng())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn schedule_without_jitter_doubles_and_caps() {
        let b = Backoff {
            jitter: 0.0,
            ..Backoff::new(Duration::from_secs(1), Duration::from_secs(10))
        };
        let mut rng = StdRng::seed_from_u64(1);
        let got: Vec<u64> = (0..6)
            .map(|n| b.delay_with(n, &mut rng).as_millis() as u64)
            .collect();
        assert_eq!(got, vec![1000, 2000, 4000, 8000, 10_000, 10_000]);
        assert_eq!(b.nominal(1000), Duration::from_secs(10));
    }

    #[test]
    fn jitter_stays_within_bounds_and_varies() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let mut rng = StdRng::seed_from_u64(7);
        let mut seen = std::collections::HashSet::new();
        for attempt in 0..5u32 {
            let nominal = b.nominal(attempt).as_secs_f64();
            for _ in 0..200 {
                let d = b.delay_with(attempt, &mut rng).as_secs_f64();
                assert!(d >= nominal * 0.8 - 1e-9, "{d} < 0.8 * {nominal}");
                assert!(d <= (nominal * 1.2).min(1.0) + 1e-9, "{d} too large");
                seen.insert((d * 1e6) as u64);
            }
        }
        assert!(seen.len() > 100, "jitter should spread the delays");
    }

    #[test]
    fn seeded_schedule_is_reproducible() {
        let b = Backoff::default();
        let a: Vec<_> = {
            let mut rng = StdRng::seed_from_u64(42);
            (0..4).map(|n| b.delay_with(n, &mut rng)).collect()
        };
        let c: Vec<_> = {
            let mut rng = StdRng::seed_from_u64(42);
            (0..4).map(|n| b.delay_with(n, &mut rng)).collect()
        };
        assert_eq!(a, c);
        // the schedule grows: each delay's lower bound exceeds the previous upper bound / 2
        assert!(a[3] > a[0]);
    }
}
