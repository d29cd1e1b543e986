//! Which user class the n-th user belongs to, as Locust's dispatcher decides it: users of
//! `fixed_count` classes first, then the weighted classes in smooth weighted round-robin order
//! (classes sorted by name, weights normalised so the smallest is 2). The users running at any
//! moment are always a prefix of this sequence, so the mix follows the weights while users are
//! added and removed. Pure.
//!
//! Memory is one entry per fixed-count user plus one weighted period (`2 × Σw ÷ min w`): both
//! are bounded here by `plan::limits` (weights ≤ `MAX_WEIGHT`, fixed users ≤ `MAX_USERS`) even
//! for a plan that skipped validation — `fixed_count = 4000000000` once asked for 32 GB.

use crate::plan::limits::{MAX_USERS, MAX_WEIGHT};

/// One class as the dispatcher sees it.
#[derive(Clone, Debug)]
pub struct ClassSlot<'a> {
    pub name: &'a str,
    pub weight: u32,
    pub fixed_count: Option<u32>,
}

/// The class index (into the slice given to [`ClassSequence::new`]) of every user, in order.
#[derive(Clone, Debug)]
pub struct ClassSequence {
    /// Users of fixed-count classes, spawned first (class indexes; u32 halves the memory).
    fixed: Vec<u32>,
    /// One period of the weighted cycle; repeats forever.
    cycle: Vec<u32>,
}

impl ClassSequence {
    /// The sequence of a run's selected classes (their names, weights and fixed counts).
    pub fn of_classes(classes: &[crate::plan::model::UserClass]) -> ClassSequence {
        let slots: Vec<ClassSlot<'_>> = classes
            .iter()
            .map(|c| ClassSlot {
                name: &c.name,
                weight: c.weight,
                fixed_count: c.fixed_count,
            })
            .collect();
        ClassSequence::new(&slots)
    }

    pub fn new(classes: &[ClassSlot<'_>]) -> ClassSequence {
        let mut order: Vec<usize> = (0..classes.len()).collect();
        order.sort_by(|&a, &b| classes[a].name.cmp(classes[b].name));
        // Fixed users beyond the cap are dropped (validation refuses such plans first).
        let mut room = MAX_USERS;
        let fixed: Vec<(usize, u32)> = order
            .iter()
            .filter_map(|&i| classes[i].fixed_count.map(|n| (i, n)))
            .map(|(i, n)| {
                let n = n.min(room);
                room -= n;
                (i, n)
            })
            .collect();
        let weighted: Vec<(usize, u32)> = order
            .iter()
            .filter(|&&i| classes[i].fixed_count.is_none())
            .map(|&i| (i, classes[i].weight.min(MAX_WEIGHT)))
            .collect();
        ClassSequence {
            fixed: fixed_order(&fixed),
            cycle: smooth_cycle(&weighted),
        }
    }

    /// The class of the user at position `n` (0-based), or None when no class can take it
    /// (only fixed-count classes and all of them full).
    pub fn class_of(&self, n: usize) -> Option<usize> {
        if let Some(&c) = self.fixed.get(n) {
            return Some(c as usize);
        }
        if self.cycle.is_empty() {
            return None;
        }
        Some(self.cycle[(n - self.fixed.len()) % self.cycle.len()] as usize)
    }

    /// How many users the sequence can hold (None: unbounded).
    pub fn capacity(&self) -> Option<usize> {
        self.cycle.is_empty().then_some(self.fixed.len())
    }

    /// Users per class when `n` users run.
    pub fn counts(&self, n: usize, classes: usize) -> Vec<u32> {
        let mut counts = vec![0; classes];
        for i in 0..n {
            match self.class_of(i) {
                Some(c) => counts[c] += 1,
                None => break,
            }
        }
        counts
    }
}

/// Fixed-count users, interleaved by smooth round-robin over their counts, each class stopping
/// when it has its count.
fn fixed_order(fixed: &[(usize, u32)]) -> Vec<u32> {
    let total: u32 = fixed.iter().map(|&(_, n)| n).sum();
    let cycle = smooth_cycle(fixed);
    let mut left: Vec<(usize, u32)> = fixed.to_vec();
    let mut out = Vec::with_capacity(total as usize);
    let mut i = 0;
    while out.len() < total as usize && !cycle.is_empty() {
        let class = cycle[i % cycle.len()];
        i += 1;
        if let Some(slot) = left.iter_mut().find(|(c, _)| *c == class as usize) {
            if slot.1 > 0 {
                slot.1 -= 1;
                out.push(class);
            }
        }
    }
    out
}

/// One period of the smooth weighted round-robin (nginx's algorithm, as the `roundrobin`
/// package Locust uses implements it) over weights normalised so the smallest is 2.
fn smooth_cycle(items: &[(usize, u32)]) -> Vec<u32> {
    let Some(min) = items.iter().map(|&(_, w)| w).filter(|&w| w > 0).min() else {
        return Vec::new();
    };
    let normalized: Vec<(usize, i64)> = items
        .iter()
        .map(|&(c, w)| (c, round_half_even(2.0 * f64::from(w) / f64::from(min))))
        .collect();
    let period: i64 = normalized.iter().map(|&(_, w)| w).sum();
    if normalized.len() == 1 {
        return vec![normalized[0].0 as u32; period.max(1) as usize];
    }
    let mut current = vec![0i64; normalized.len()];
    let mut out = Vec::with_capacity(period as usize);
    for _ in 0..period {
        let mut best: Option<usize> = None;
        for (i, &(_, w)) in normalized.iter().enumerate() {
            current[i] += w;
            if best.is_none_or(|b| current[b] < current[i]) {
                best = Some(i);
            }
        }
        if let Some(b) = best {
            current[b] -= period;
            out.push(normalized[b].0 as u32);
        }
    }
    out
}

/// Python's `round()`: halves go to the even neighbour.
fn round_half_even(x: f64) -> i64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 && (r as i64) % 2 != 0 {
        (r - x.signum()) as i64
    } else {
        r as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots<'a>(spec: &[(&'a str, u32, Option<u32>)]) -> Vec<ClassSlot<'a>> {
        spec.iter()
            .map(|&(name, weight, fixed_count)| ClassSlot {
                name,
                weight,
                fixed_count,
            })
            .collect()
    }

    #[test]
    fn distributes_like_locust_for_the_gateway_classes() {
        // Weights 1,5,3,4,1,1,5,10 at 50 users: Locust printed
        // {"AdminUIUser": 5, "FastTimeUser": 8, "HealthCheckUser": 2, "MCPJsonRpcUser": 7,
        //  "ReadOnlyAPIUser": 8, "RealisticUser": 16, "StressTestUser": 2, "WriteAPIUser": 2}
        let classes = slots(&[
            ("HealthCheckUser", 1, None),
            ("ReadOnlyAPIUser", 5, None),
            ("AdminUIUser", 3, None),
            ("MCPJsonRpcUser", 4, None),
            ("WriteAPIUser", 1, None),
            ("StressTestUser", 1, None),
            ("FastTimeUser", 5, None),
            ("RealisticUser", 10, None),
        ]);
        let seq = ClassSequence::new(&classes);
        assert_eq!(seq.counts(50, classes.len()), vec![2, 8, 5, 7, 2, 2, 8, 16]);
    }

    #[test]
    fn smooth_order_matches_the_roundrobin_package() {
        // The roundrobin docs: A=5, B=1 yields AAABAA (after normalising to 10:2 the period is 12).
        let classes = slots(&[("A", 5, None), ("B", 1, None)]);
        let seq = ClassSequence::new(&classes);
        let first: String = (0..12)
            .map(|i| if seq.class_of(i) == Some(0) { 'A' } else { 'B' })
            .collect();
        assert_eq!(first, "AAABAAAAABAA");
    }

    #[test]
    fn fixed_count_users_come_first_and_stop_at_their_count() {
        let classes = slots(&[
            ("Weighted", 1, None),
            ("Admin", 1, Some(2)),
            ("Probe", 1, Some(1)),
        ]);
        let seq = ClassSequence::new(&classes);
        assert_eq!(seq.counts(2, 3), vec![0, 1, 1]);
        assert_eq!(seq.counts(3, 3), vec![0, 2, 1]);
        assert_eq!(seq.counts(10, 3), vec![7, 2, 1]);
    }

    #[test]
    fn only_fixed_classes_have_a_capacity() {
        let classes = slots(&[("Admin", 1, Some(2))]);
        let seq = ClassSequence::new(&classes);
        assert_eq!(seq.capacity(), Some(2));
        assert_eq!(seq.class_of(2), None);
        assert_eq!(seq.counts(5, 1), vec![2]);
    }

    #[test]
    fn ramping_down_keeps_the_mix() {
        let classes = slots(&[("A", 3, None), ("B", 1, None)]);
        let seq = ClassSequence::new(&classes);
        assert_eq!(seq.counts(8, 2), vec![6, 2]);
        assert_eq!(seq.counts(4, 2), vec![3, 1]);
    }

    #[test]
    fn python_rounding() {
        assert_eq!(round_half_even(2.5), 2);
        assert_eq!(round_half_even(3.5), 4);
        assert_eq!(round_half_even(6.67), 7);
    }
}
