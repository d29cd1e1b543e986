//! One run split over several load generators (`hornet agent`s), exactly and without a master
//! scheduling each user. Agent `index` of `count` runs user p of the single-process class
//! sequence when p mod count = index, starting it when it would have started in one process,
//! and open-model start k (due at t0 + k/rate) when k mod count = index. The parts of every
//! figure (users, starts, `max_users`) add up to the whole, so the total ramp and class mix equal
//! a run in one process. Pure: no clock, no I/O; the request carries a share, the engine
//! follows it.

/// The most agents one run may have.
pub const MAX_AGENTS: u32 = 1000;

/// This process's part of a run; [`Share::WHOLE`] is a run in one process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Share {
    index: u32,
    count: u32,
}

impl Default for Share {
    fn default() -> Self {
        Share::WHOLE
    }
}

impl Share {
    /// The whole run: agent 0 of 1.
    pub const WHOLE: Share = Share { index: 0, count: 1 };

    /// Agent `index` (0-based) of `count`.
    pub fn new(index: u32, count: u32) -> Result<Share, String> {
        if !(1..=MAX_AGENTS).contains(&count) {
            return Err(format!(
                "the agent count must be from 1 to {MAX_AGENTS}, got {count}"
            ));
        }
        if index >= count {
            return Err(format!(
                "agent index {index} is out of range for {count} agent(s) (0 to {})",
                count - 1
            ));
        }
        Ok(Share { index, count })
    }

    pub fn index(self) -> u32 {
        self.index
    }

    pub fn count(self) -> u32 {
        self.count
    }

    /// Whether user (or start) `p` of the whole run is this share's.
    pub fn owns(self, p: u64) -> bool {
        p % u64::from(self.count) == u64::from(self.index)
    }

    /// The place in the whole run of this share's `j`-th user (0-based): users are dealt
    /// index, index + count, ...
    pub fn nth_owned(self, j: u64) -> u64 {
        j * u64::from(self.count) + u64::from(self.index)
    }

    /// How many of the first `total` users (or starts) are this share's.
    pub fn part_of(self, total: u64) -> u64 {
        let count = u64::from(self.count);
        total / count + u64::from(total % count > u64::from(self.index))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn bad_shares_are_refused_with_their_numbers() {
        assert!(Share::new(0, 0)
            .unwrap_err()
            .contains("from 1 to 1000, got 0"));
        assert!(Share::new(3, 3)
            .unwrap_err()
            .contains("index 3 is out of range for 3"));
        assert_eq!(Share::new(0, 1), Ok(Share::WHOLE));
    }

    #[test]
    fn users_are_dealt_round_robin() {
        let s = Share::new(1, 3).unwrap();
        let mine: Vec<u64> = (0..10).filter(|p| s.owns(*p)).collect();
        assert_eq!(mine, [1, 4, 7]);
        assert_eq!(s.part_of(10), 3);
        assert_eq!(Share::new(0, 3).unwrap().part_of(10), 4);
        assert_eq!(Share::new(2, 3).unwrap().part_of(10), 3);
    }

    proptest! {
        /// Every user (or start) belongs to exactly one share, and the parts add up to the whole.
        #[test]
        fn the_parts_sum_to_the_whole(count in 1u32..=7, total in 0u64..100_000, p in 0u64..1_000_000) {
            let shares: Vec<Share> = (0..count).map(|i| Share::new(i, count).unwrap()).collect();
            prop_assert_eq!(shares.iter().filter(|s| s.owns(p)).count(), 1);
            prop_assert_eq!(shares.iter().map(|s| s.part_of(total)).sum::<u64>(), total);
            for s in &shares {
                let counted = (0..total.min(2_000)).filter(|q| s.owns(*q)).count() as u64;
                prop_assert_eq!(counted, s.part_of(total.min(2_000)));
                // Its j-th user is one it owns, and they come in order.
                let j = p % 1_000;
                prop_assert!(s.owns(s.nth_owned(j)));
                prop_assert!(s.nth_owned(j) < s.nth_owned(j + 1));
            }
        }
    }
}
