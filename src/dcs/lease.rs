//! The leader lease's rules (pure): when a node renews, when it must stop
//! taking writes, and what it does on each look at etcd and at itself.
//!
//! Safety rests on one inequality. etcd starts a lease's time-to-live
//! again when it handles a renewal, which is after replikit sent it; so a
//! lease renewed by a request sent at `sent` cannot expire before
//! `sent + ttl` (a change of etcd leader only lengthens it). A primary
//! that stops taking writes by `sent + ttl - margin` has stopped before
//! any other node can take the key; the margin covers the fence itself
//! (setting read-only, ending sessions) and the clocks' drift.

use std::time::{Duration, Instant};

/// Renewals per time-to-live: several tries before the margin runs out.
const RENEWALS_PER_TTL: u32 = 4;

/// How often the keeper looks and renews.
pub fn renew_every(ttl: Duration) -> Duration {
    ttl / RENEWALS_PER_TTL
}

/// How long before the lease could expire the primary fences itself:
/// 30 % of the time-to-live (3 s of the default 10 s).
pub fn margin(ttl: Duration) -> Duration {
    ttl * 3 / 10
}

/// How long the keeper waits for its own server to answer: a tenth of
/// the time-to-live, between 0.3 and 2 s (1 s of the default 10 s). A
/// look at the fence time must end well inside the margin, so that a
/// server that does not answer is stopped before the lease can expire.
pub fn server_timeout(ttl: Duration) -> Duration {
    (ttl / 10).clamp(Duration::from_millis(300), Duration::from_secs(2))
}

/// The moment a primary must be read-only by, after etcd confirmed a
/// renewal sent at `sent` that left the lease `left` to live. `left` comes
/// from the network (a plain-HTTP etcd answers anyone who can reach it):
/// it counts for no more than the configured time-to-live, so that no
/// answer buys more time than the lease replikit asked for, nor overflows
/// the clock.
pub fn fence_by(sent: Instant, left: Duration, ttl: Duration) -> Instant {
    sent + left.min(ttl).saturating_sub(margin(ttl))
}

/// The shortest pause between looks: a holder whose looks keep failing
/// before they reach a decision does not spin.
const SHORTEST_PAUSE: Duration = Duration::from_millis(50);

/// How long the keeper waits before its next look: `every`, but for a
/// holder never past its fence time. A holder whose fence time has come
/// looks again almost at once, so that a look that ended just after it
/// (etcd's answer waited for until then) fences now, not a pause later.
pub fn pause(
    every: Duration,
    holds: bool,
    fence_in: Option<Duration>,
    others_every: Duration,
) -> Duration {
    match fence_in {
        Some(left) if holds => every.min(left.max(SHORTEST_PAUSE)),
        _ if holds => every,
        _ => every.min(others_every),
    }
}

/// Who holds the leader key, as far as this look could tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyHolder {
    Me,
    Other,
    Nobody,
    /// etcd did not answer.
    Unknown,
}

/// One look: the key, and this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Look {
    pub key: KeyHolder,
    /// The node's own record names it the primary.
    pub recorded_primary: bool,
    pub writable: bool,
    /// The last confirmed renewal's `fence_by` has passed (or there was
    /// none since this node took writes).
    pub past_fence_time: bool,
    /// The node is read-only because the keeper fenced it (or it is
    /// starting as the primary); a fence set by anyone else (a
    /// switchover, an operator) is never lifted here.
    pub fenced_by_keeper: bool,
    /// The keeper has seen a node hold the key since it started: a key
    /// that is gone after that was lost by a leader; one never seen may
    /// be a cluster whose primary is still starting.
    pub leader_seen: bool,
    /// Automatic failover is paused (maintenance), or this node tried one
    /// a moment ago.
    pub paused: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// Keep the lease the key is bound to alive; then, if
    /// `and_lift`, open the node for writes.
    Renew {
        and_lift: bool,
    },
    /// Take the free key with a new lease.
    Take,
    /// Make the node read-only and end its sessions, now.
    Fence,
    /// The leader's lease expired: fail over (the most advanced member
    /// that answers is promoted, whichever node runs it).
    FailOver,
    Nothing,
}

/// What the keeper does on a look (pure).
pub fn decide(look: &Look) -> Act {
    let may_lift = look.fenced_by_keeper && look.recorded_primary && !look.writable;
    match look.key {
        // Nobody else can hold it: renew, even past the fence time (a
        // renewal that succeeds sets a new one).
        KeyHolder::Me => Act::Renew { and_lift: may_lift },
        // Another node is the leader: this one must not take writes.
        KeyHolder::Other if look.writable => Act::Fence,
        KeyHolder::Other => Act::Nothing,
        // A writable node past its fence time without the key, whether
        // etcd answers or not, stops first.
        KeyHolder::Nobody | KeyHolder::Unknown if look.writable && look.past_fence_time => {
            Act::Fence
        }
        // The recorded primary takes a free key when it takes writes, or
        // when the keeper fenced it and may open it again; a fence of
        // anyone else's is left alone, and so is the key, for a failover.
        KeyHolder::Nobody if look.recorded_primary && (look.writable || look.fenced_by_keeper) => {
            Act::Take
        }
        // A replica that saw a leader and now sees none: it lost its
        // lease, so it has fenced itself, or is gone.
        KeyHolder::Nobody if !look.recorded_primary && look.leader_seen && !look.paused => {
            Act::FailOver
        }
        KeyHolder::Nobody | KeyHolder::Unknown => Act::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use KeyHolder::*;

    #[test]
    fn the_fence_comes_before_the_lease_can_expire() {
        let sent = Instant::now();
        for ttl_s in [3u64, 10, 30, 3600] {
            let ttl = Duration::from_secs(ttl_s);
            for left_s in 0..=ttl_s {
                let left = Duration::from_secs(left_s);
                let by = fence_by(sent, left, ttl);
                // Never after the earliest expiry, with the margin kept
                // whenever the lease had more than the margin left.
                assert!(by <= sent + left, "{ttl_s} {left_s}");
                if left >= margin(ttl) {
                    assert_eq!(sent + left - by, margin(ttl));
                }
            }
            // Enough renewals fit before the margin runs out.
            assert!(renew_every(ttl) * 2 < ttl - margin(ttl));
        }
        assert_eq!(margin(Duration::from_secs(10)), Duration::from_secs(3));
    }

    #[test]
    fn no_answer_from_etcd_buys_more_than_the_configured_lease() {
        let sent = Instant::now();
        let ttl = Duration::from_secs(10);
        // A hostile or broken etcd: a day, i64::MAX seconds, u64::MAX.
        for left in [
            Duration::from_secs(86_400),
            Duration::from_secs(1_000_000_000),
            Duration::from_secs(i64::MAX as u64),
            Duration::MAX,
        ] {
            assert_eq!(
                fence_by(sent, left, ttl),
                sent + ttl - margin(ttl),
                "{left:?}"
            );
        }
    }

    #[test]
    fn a_holder_past_its_fence_time_looks_again_at_once() {
        let every = Duration::from_millis(2500);
        let second = Duration::from_secs(1);
        // Past the fence time (no time left): the shortest pause.
        assert_eq!(
            pause(every, true, Some(Duration::ZERO), second),
            SHORTEST_PAUSE
        );
        assert!(SHORTEST_PAUSE * 10 < margin(Duration::from_secs(3)));
        assert_eq!(
            pause(every, true, Some(Duration::from_millis(300)), second),
            Duration::from_millis(300)
        );
        assert_eq!(
            pause(every, true, Some(Duration::from_secs(7)), second),
            every
        );
        // A holder with no fence time yet (taking the key) renews on time.
        assert_eq!(pause(every, true, None, second), every);
        // The others look every second, fence time or not.
        assert_eq!(pause(every, false, None, second), second);
        assert_eq!(pause(every, false, Some(Duration::ZERO), second), second);
    }

    #[test]
    fn a_silent_server_is_given_up_on_inside_the_margin() {
        // The look at the fence time waits for the server at most this
        // long, then the keeper stops it: twice over, it fits the margin,
        // so the server is stopped before the lease can expire.
        for ttl_s in 3u64..=3600 {
            let ttl = Duration::from_secs(ttl_s);
            assert!(server_timeout(ttl) * 2 <= margin(ttl), "{ttl_s}");
        }
        assert_eq!(
            server_timeout(Duration::from_secs(10)),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn every_look_has_one_act() {
        // (key, recorded primary, writable, past fence time, fenced by
        // keeper) -> act, with a leader seen and nothing paused
        let lift = Act::Renew { and_lift: true };
        let renew = Act::Renew { and_lift: false };
        let cases = [
            // Holding: renew; lift only a fence of the keeper's, on the recorded primary.
            ((Me, true, true, false, false), renew),
            ((Me, true, false, false, true), lift),
            ((Me, true, false, true, true), lift),
            ((Me, true, false, false, false), renew), // a switchover's fence stays
            ((Me, false, false, false, true), renew), // record moved on: stay fenced
            // Another leader: a writable node fences; a read-only one waits.
            ((Other, true, true, false, false), Act::Fence),
            ((Other, false, true, false, false), Act::Fence),
            ((Other, true, false, false, true), Act::Nothing),
            // Free key: the recorded primary takes it; a writable node past
            // its time fences first.
            ((Nobody, true, false, false, true), Act::Take),
            ((Nobody, true, false, false, false), Act::Nothing), // fenced by a switchover or by another leader
            ((Nobody, true, true, true, false), Act::Fence),
            ((Nobody, true, true, false, false), Act::Take),
            ((Nobody, false, false, false, false), Act::FailOver),
            ((Nobody, false, false, false, true), Act::FailOver),
            // etcd silent: nothing new, but the fence time is kept.
            ((Unknown, true, true, false, false), Act::Nothing),
            ((Unknown, true, true, true, false), Act::Fence),
            ((Unknown, true, false, true, true), Act::Nothing),
            ((Unknown, false, false, false, false), Act::Nothing),
        ];
        for ((key, recorded_primary, writable, past_fence_time, fenced_by_keeper), want) in cases {
            let look = Look {
                key,
                recorded_primary,
                writable,
                past_fence_time,
                fenced_by_keeper,
                leader_seen: true,
                paused: false,
            };
            assert_eq!(decide(&look), want, "{look:?}");
        }
    }

    #[test]
    fn a_failover_needs_a_lost_leader_and_no_pause() {
        let look = |key, recorded_primary, writable, leader_seen, paused| Look {
            key,
            recorded_primary,
            writable,
            past_fence_time: false,
            fenced_by_keeper: false,
            leader_seen,
            paused,
        };
        // (key, recorded primary, writable, leader seen, paused) -> act
        let cases = [
            (look(Nobody, false, false, true, false), Act::FailOver),
            // A cluster starting: no leader seen yet, the primary may be on its way.
            (look(Nobody, false, false, false, false), Act::Nothing),
            // Maintenance, or a failover tried a moment ago.
            (look(Nobody, false, false, true, true), Act::Nothing),
            // A leader holds the key, or etcd is silent: no failover.
            (look(Other, false, false, true, false), Act::Nothing),
            (look(Unknown, false, false, true, false), Act::Nothing),
            // The recorded primary takes the key instead, when it may.
            (look(Nobody, true, true, true, false), Act::Take),
        ];
        for (look, want) in cases {
            assert_eq!(decide(&look), want, "{look:?}");
        }
    }

    #[test]
    fn no_look_lets_a_node_without_the_key_past_its_time_stay_writable_nor_fails_over_unasked() {
        // Exhaustive over every look.
        for key in [Me, Other, Nobody, Unknown] {
            for bits in 0..64u8 {
                let look = Look {
                    key,
                    recorded_primary: bits & 1 != 0,
                    writable: bits & 2 != 0,
                    past_fence_time: bits & 4 != 0,
                    fenced_by_keeper: bits & 8 != 0,
                    leader_seen: bits & 16 != 0,
                    paused: bits & 32 != 0,
                };
                let act = decide(&look);
                // Failover only where a leader was lost, and never paused.
                if act == Act::FailOver {
                    assert!(key == Nobody && look.leader_seen && !look.paused);
                    assert!(!look.recorded_primary);
                }
                if look.writable && key != Me && (look.past_fence_time || key == Other) {
                    assert_eq!(act, Act::Fence, "{look:?}");
                }
                // Nothing but holding the key ever lifts a fence.
                if let Act::Renew { and_lift: true } = act {
                    assert_eq!(key, Me);
                    assert!(look.fenced_by_keeper && look.recorded_primary);
                }
            }
        }
    }
}
