//! When the primary goes on without a replica's acknowledgement, and when
//! it waits for one again (pure), with REPLIKIT_SEMI_SYNC=on and
//! REPLIKIT_DCS: Patroni's non-strict synchronous mode, done with MySQL's
//! semi-synchronous replication.
//!
//! The server itself never falls back (its timeout is
//! `semi_sync::NEVER`). The keeper does, once commits have waited
//! REPLIKIT_SEMI_SYNC_TIMEOUT with no acknowledgement: it first sets the
//! async mark in etcd, then turns the source side off, which lets the
//! waiting commits go on. While the mark is set, automatic failover does
//! not promote a replica, which could lack what the primary acknowledged
//! alone. Once a replica seems caught up, the source side goes on again;
//! the first commit a replica acknowledges after that proves that it has
//! everything before it, and the mark is cleared.

use std::time::{Duration, Instant};

use crate::replication::semi_sync::SourceState;

/// What the keeper does about semi-synchronous replication at one look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Nothing,
    /// Set the async mark, then turn the source side off.
    FallBack,
    /// Turn the source side on again: a replica seems caught up with
    /// what this primary acknowledged alone.
    Resume,
    /// Turn the source side on: it was off with no mark recording a
    /// fallback (a start that has not turned it on yet, or a person's
    /// failover that cleared the mark).
    TurnOn,
    /// Clear the async mark: a replica has every write again.
    Clear,
    /// Commit something, so that a replica's acknowledgement can prove
    /// that it holds everything (a cluster with no writes would keep the
    /// mark, and automatic failover off, for ever).
    Prove,
}

/// What one look found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub source: SourceState,
    /// The async mark names this node.
    pub marked: bool,
    /// A replica's binary log session has sent it everything
    /// (`semi_sync::a_replica_is_caught_up`).
    pub caught_up: bool,
}

/// The longest wait between a fallback and the next try to resume.
const MOST_BETWEEN_TRIES: Duration = Duration::from_secs(300);

/// The keeper's memory between looks.
#[derive(Debug, Default)]
pub struct Watch {
    /// The acknowledgement count at the last look.
    acknowledged: Option<u64>,
    /// Since when commits have waited with no acknowledgement.
    stalled_since: Option<Instant>,
    /// The acknowledgement count when the source side went on again (or
    /// was first seen on under the mark): one past it is the proof.
    resumed_at: Option<u64>,
    /// No try to resume before then.
    not_before: Option<Instant>,
    /// How long after a fallback the next try may come: the timeout,
    /// doubled after each try that ended in another fallback.
    between_tries: Option<Duration>,
    /// When the last proof commit was asked for.
    proved_at: Option<Instant>,
}

impl Watch {
    /// Commits are waiting with no acknowledgement: the keeper looks more
    /// often, so that the fallback comes close to the timeout.
    pub fn stalled(&self) -> bool {
        self.stalled_since.is_some()
    }

    pub fn decide(&mut self, seen: &Seen, timeout: Duration, now: Instant) -> Step {
        let s = seen.source;
        let progressed = self.acknowledged != Some(s.acknowledged);
        self.acknowledged = Some(s.acknowledged);
        if !s.enabled || s.waiting == 0 {
            self.stalled_since = None;
        } else if progressed || self.stalled_since.is_none() {
            self.stalled_since = Some(now);
        }
        if !s.enabled {
            // Off with no mark (the mark cleared by a person's failover,
            // or a start that has not turned it on yet): a primary is
            // semi-synchronous, and nothing records otherwise.
            if !seen.marked {
                self.resumed_at = None;
                return Step::TurnOn;
            }
            let may_try = self.not_before.is_none_or(|t| now >= t);
            if seen.marked && seen.caught_up && may_try {
                self.resumed_at = Some(s.acknowledged);
                return Step::Resume;
            }
            return Step::Nothing;
        }
        // Fallen back by the server's own doing (its timeout changed by
        // hand): recorded as late as that is.
        if !s.on && !seen.marked {
            return self.fall_back(timeout, now);
        }
        if self
            .stalled_since
            .is_some_and(|t| now.duration_since(t) >= timeout)
        {
            return self.fall_back(timeout, now);
        }
        if seen.marked {
            let base = *self.resumed_at.get_or_insert(s.acknowledged);
            if s.on && s.acknowledged > base {
                self.resumed_at = None;
                self.between_tries = None;
                self.proved_at = None;
                return Step::Clear;
            }
            // No commit waits: none is coming to prove it. One proof a
            // timeout at most; a proof that waits the timeout falls back.
            if s.on
                && s.waiting == 0
                && self
                    .proved_at
                    .is_none_or(|t| now.duration_since(t) >= timeout)
            {
                self.proved_at = Some(now);
                return Step::Prove;
            }
        }
        Step::Nothing
    }

    fn fall_back(&mut self, timeout: Duration, now: Instant) -> Step {
        self.stalled_since = None;
        let between = match (self.resumed_at.take(), self.between_tries) {
            (Some(_), Some(last)) => (last * 2).min(MOST_BETWEEN_TRIES),
            _ => timeout.min(MOST_BETWEEN_TRIES),
        };
        self.between_tries = Some(between);
        self.not_before = Some(now + between);
        Step::FallBack
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(10);

    fn source(enabled: bool, on: bool, waiting: u64, acknowledged: u64) -> SourceState {
        SourceState {
            enabled,
            on,
            waiting,
            acknowledged,
        }
    }

    fn seen(source: SourceState, marked: bool, caught_up: bool) -> Seen {
        Seen {
            source,
            marked,
            caught_up,
        }
    }

    /// Looks `every` apart from `start`, each with what it sees; the steps.
    fn run(w: &mut Watch, start: Instant, every: Duration, looks: &[Seen]) -> Vec<Step> {
        looks
            .iter()
            .enumerate()
            .map(|(i, s)| w.decide(s, T, start + every * i as u32))
            .collect()
    }

    #[test]
    fn acknowledged_commits_never_fall_back_however_long_they_wait() {
        let mut w = Watch::default();
        let looks: Vec<Seen> = (0..100)
            .map(|i| seen(source(true, true, 5, i), false, false))
            .collect();
        let steps = run(&mut w, Instant::now(), Duration::from_secs(1), &looks);
        assert!(steps.iter().all(|&s| s == Step::Nothing), "{steps:?}");
    }

    #[test]
    fn commits_waiting_a_timeout_unacknowledged_fall_back_once() {
        let mut w = Watch::default();
        let start = Instant::now();
        let stuck = seen(source(true, true, 2, 7), false, false);
        assert!(!w.stalled());
        let steps = run(&mut w, start, Duration::from_secs(1), &[stuck; 11]);
        assert_eq!(steps[..10], [Step::Nothing; 10]);
        assert_eq!(steps[10], Step::FallBack, "at 10 s: {steps:?}");
        assert!(!w.stalled());
        // Still stuck: counted from the fallback, not from the first wait.
        assert_eq!(w.decide(&stuck, T, start + T * 2), Step::Nothing);
        assert!(w.stalled());
    }

    #[test]
    fn an_acknowledgement_restarts_the_wait() {
        let mut w = Watch::default();
        let start = Instant::now();
        let mut looks = vec![seen(source(true, true, 1, 7), false, false); 8];
        looks.extend(vec![seen(source(true, true, 1, 8), false, false); 8]);
        let steps = run(&mut w, start, Duration::from_secs(1), &looks);
        assert!(steps.iter().all(|&s| s == Step::Nothing), "{steps:?}");
        // Nothing waiting is no stall either.
        let mut w = Watch::default();
        let idle = vec![seen(source(true, true, 0, 7), false, false); 30];
        assert!(run(&mut w, start, Duration::from_secs(1), &idle)
            .iter()
            .all(|&s| s == Step::Nothing));
    }

    #[test]
    fn a_server_that_fell_back_by_itself_is_marked_at_once() {
        let mut w = Watch::default();
        let off = seen(source(true, false, 0, 7), false, false);
        assert_eq!(w.decide(&off, T, Instant::now()), Step::FallBack);
        let marked = seen(source(true, false, 0, 7), true, false);
        assert_eq!(w.decide(&marked, T, Instant::now()), Step::Nothing);
    }

    #[test]
    fn the_side_goes_on_again_only_under_the_mark_caught_up_and_not_too_soon() {
        let mut w = Watch::default();
        let start = Instant::now();
        let stuck = seen(source(true, true, 1, 7), false, false);
        let t = |s: u64| start + Duration::from_secs(s);
        w.decide(&stuck, T, t(0));
        assert_eq!(w.decide(&stuck, T, t(10)), Step::FallBack);
        let off = |marked, caught_up| seen(source(false, false, 0, 7), marked, caught_up);
        assert_eq!(
            w.decide(&off(true, true), T, t(11)),
            Step::Nothing,
            "too soon"
        );
        assert_eq!(w.decide(&off(true, false), T, t(21)), Step::Nothing);
        assert_eq!(w.decide(&off(true, true), T, t(21)), Step::Resume);
    }

    #[test]
    fn a_side_off_with_no_mark_goes_on_at_once() {
        let mut w = Watch::default();
        let off = seen(source(false, false, 0, 7), false, false);
        assert_eq!(w.decide(&off, T, Instant::now()), Step::TurnOn);
    }

    #[test]
    fn only_an_acknowledgement_after_the_resume_clears_the_mark() {
        let mut w = Watch::default();
        let start = Instant::now();
        let t = |s: u64| start + Duration::from_secs(s);
        let off = seen(source(false, false, 0, 7), true, true);
        assert_eq!(w.decide(&off, T, t(0)), Step::Resume);
        let on = |acknowledged| seen(source(true, true, 0, acknowledged), true, false);
        assert_eq!(w.decide(&on(7), T, t(1)), Step::Prove, "no commit comes");
        assert_eq!(
            w.decide(&on(7), T, t(5)),
            Step::Nothing,
            "one proof a timeout"
        );
        assert_eq!(w.decide(&on(7), T, t(11)), Step::Prove);
        assert_eq!(w.decide(&on(8), T, t(12)), Step::Clear);
        let cleared = seen(source(true, true, 0, 9), false, false);
        assert_eq!(w.decide(&cleared, T, t(30)), Step::Nothing, "unmarked");
        // A restarted keeper under the mark takes its first look as the base.
        let mut w = Watch::default();
        assert_eq!(w.decide(&on(50), T, t(0)), Step::Prove);
        assert_eq!(w.decide(&on(51), T, t(1)), Step::Clear);
    }

    #[test]
    fn no_proof_while_commits_wait_or_the_side_is_off() {
        let mut w = Watch::default();
        let now = Instant::now();
        let waiting = seen(source(true, true, 2, 7), true, false);
        assert_eq!(w.decide(&waiting, T, now), Step::Nothing);
        let fell_back = seen(source(true, false, 0, 7), true, false);
        assert_eq!(w.decide(&fell_back, T, now), Step::Nothing);
        let off = seen(source(false, false, 0, 7), true, false);
        assert_eq!(w.decide(&off, T, now), Step::Nothing);
        let unmarked = seen(source(true, true, 0, 7), false, false);
        assert_eq!(w.decide(&unmarked, T, now), Step::Nothing);
    }

    #[test]
    fn tries_that_end_in_a_fallback_come_ever_further_apart() {
        let mut w = Watch::default();
        let start = Instant::now();
        let mut now = start;
        let mut gaps = Vec::new();
        for _ in 0..8 {
            let stuck = seen(source(true, true, 1, 7), true, false);
            w.decide(&stuck, T, now);
            now += T;
            assert_eq!(w.decide(&stuck, T, now), Step::FallBack);
            let fell_back = now;
            let off = seen(source(false, false, 0, 7), true, true);
            while w.decide(&off, T, now) != Step::Resume {
                now += Duration::from_secs(1);
            }
            gaps.push((now - fell_back).as_secs());
        }
        assert_eq!(gaps, [10, 20, 40, 80, 160, 300, 300, 300]);
        // A clear starts again from the timeout.
        let on = |acknowledged| seen(source(true, true, 0, acknowledged), true, false);
        w.decide(&on(7), T, now);
        assert_eq!(w.decide(&on(8), T, now), Step::Clear);
        let stuck = seen(source(true, true, 1, 8), false, false);
        w.decide(&stuck, T, now);
        now += T;
        assert_eq!(w.decide(&stuck, T, now), Step::FallBack);
        let off = seen(source(false, false, 0, 8), true, true);
        assert_eq!(w.decide(&off, T, now + T), Step::Resume);
    }
}
