//! Where and how a media shard's thread runs: which CPU it is pinned to, its scheduling class
//! (real-time while it has room, `RealtimeGuard`), its timer slack and nice value. Owns the
//! thread settings only; never touches sockets or streams.
//!
//! Why: a shard must start its slot within a millisecond. Left to the scheduler, two busy shards
//! sometimes share one core while the other runs the load, and then take turns at the
//! scheduler's 4 ms tick; and a shard that wakes on a core where another program is running
//! waits for that program's time slice. Measured with 3 000 prompt listeners on 2 cores, the
//! machine 70–85 % busy (docs/performance.md): p99 jitter 8–10 ms as before, 4.7–6.7 ms pinned,
//! 0.2–2.8 ms in most runs pinned and real-time. Everything else (Tokio, SQLite, other
//! processes) still runs on any core, and gets every moment a shard sleeps.

use std::io;
use std::time::Duration;

/// How shard threads are placed (`[media] pin_threads`, `[media] realtime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// One CPU per shard when the process may use enough of them.
    pub pin: bool,
    /// SCHED_RR while the shard is busy less than `RealtimeGuard::LEAVE` of the time.
    pub realtime: bool,
}

/// The real-time priority asked for (1–99; the kernel's own interrupt threads run at 50).
pub const RT_PRIORITY: i32 = 10;

/// The CPUs this process may run on (its affinity mask: a cgroup or `taskset` may narrow it).
pub fn allowed_cpus() -> Vec<usize> {
    #[cfg(target_os = "linux")]
    // SAFETY: the set is a plain bit array we own; sched_getaffinity(0) fills it for the
    // calling thread; CPU_ISSET reads within its bounds (i < CPU_SETSIZE).
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0 {
            return (0..libc::CPU_SETSIZE as usize)
                .filter(|&i| libc::CPU_ISSET(i, &set))
                .collect();
        }
    }
    Vec::new()
}

/// The CPU for each of `shards` shards: one each, in order, when there are at least as many
/// allowed CPUs as shards; none at all otherwise (two shards on one CPU would be the very
/// sharing pinning is meant to avoid, so the scheduler places them).
pub fn plan(allowed: &[usize], shards: usize) -> Vec<Option<usize>> {
    if shards == 0 || allowed.len() < shards {
        return vec![None; shards];
    }
    allowed[..shards].iter().map(|&c| Some(c)).collect()
}

/// Pin the calling thread to `cpu`.
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    // SAFETY: the set is a plain bit array we own; CPU_SET is bounds-checked against
    // CPU_SETSIZE below; sched_setaffinity(0) changes only the calling thread.
    unsafe {
        if cpu >= libc::CPU_SETSIZE as usize {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Move the calling thread into SCHED_RR at `RT_PRIORITY` (`on`) or back to the normal class.
/// Refused without CAP_SYS_NICE or an RLIMIT_RTPRIO of at least `RT_PRIORITY`.
pub fn set_realtime(on: bool) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    // SAFETY: sched_param is a plain struct we own; pid 0 is the calling thread.
    unsafe {
        let (policy, priority) = if on {
            (libc::SCHED_RR, RT_PRIORITY)
        } else {
            (libc::SCHED_OTHER, 0)
        };
        let param = libc::sched_param {
            sched_priority: priority,
        };
        if libc::sched_setscheduler(0, policy, &param) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Keeps a real-time shard from starving the rest of the server. A shard in the real-time class
/// runs whenever it wants; admission control normally sheds new calls well before that is a
/// problem (shards 75 % busy), but a shard busy nearly all the time for a whole second (a load
/// admission could not refuse: calls already up, something else slowing the machine) would
/// leave the SIP side, and with it the shedding and the 911 path, only the kernel's 5 %
/// real-time throttling margin. So the shard leaves the real-time class then, and comes back
/// once it has room again. Pure: the shard feeds it busy time, it answers with changes.
#[derive(Debug)]
pub struct RealtimeGuard {
    wanted: bool,
    on: bool,
    busy: Duration,
    window: Duration,
}

/// What the shard should do with its scheduling class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Realtime,
    Normal,
}

impl RealtimeGuard {
    /// Busy more than this of a window: leave the real-time class.
    pub const LEAVE: f64 = 0.9;
    /// Busy less than this of a window: come back to it (admission control keeps shards under
    /// it, so a shard that left during a burst — a ramp of new calls, thousands hanging up —
    /// comes back once the burst is over).
    pub const RETURN: f64 = 0.75;
    pub const WINDOW: Duration = Duration::from_secs(1);

    /// `on`: whether the shard got the real-time class at start.
    pub fn new(wanted: bool, on: bool) -> RealtimeGuard {
        RealtimeGuard {
            wanted,
            on,
            busy: Duration::ZERO,
            window: Duration::ZERO,
        }
    }

    pub fn is_on(&self) -> bool {
        self.on
    }

    /// One slot: `busy` of work within `elapsed` of time. A change of class at the end of a
    /// window, if one is due.
    pub fn observe(&mut self, busy: Duration, elapsed: Duration) -> Option<Class> {
        if !self.wanted {
            return None;
        }
        self.busy += busy;
        self.window += elapsed;
        if self.window < Self::WINDOW {
            return None;
        }
        let frac = self.busy.as_secs_f64() / self.window.as_secs_f64();
        self.busy = Duration::ZERO;
        self.window = Duration::ZERO;
        match self.on {
            true if frac > Self::LEAVE => Some(Class::Normal),
            false if frac < Self::RETURN => Some(Class::Realtime),
            _ => None,
        }
    }

    /// The class change was made (or refused: `ok` false leaves the state as it was).
    pub fn applied(&mut self, class: Class, ok: bool) {
        if ok {
            self.on = class == Class::Realtime;
        } else if class == Class::Realtime {
            // Refused (privileges gone): stop asking.
            self.wanted = false;
        }
    }
}

/// Ask the kernel for 1 µs timer slack on this thread (default 50 µs) so slot wake-ups are
/// punctual, and for a better scheduling share (5 nice levels above the process: relative, so
/// a server started under `nice -n -10` keeps its shards ahead of its own other threads) so a
/// busy machine delays media last (it matters when the real-time class is refused or left).
/// Both are best effort (refused without privileges).
pub fn tune_current_thread() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK takes an unsigned long and affects only the calling thread;
    // getpriority/setpriority on our own thread id read and change only this thread's nice
    // value; errno is thread-local.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        // getpriority may return -1 as a valid nice value: errno tells an error apart.
        *libc::__errno_location() = 0;
        let base = libc::getpriority(libc::PRIO_PROCESS, tid);
        if base != -1 || *libc::__errno_location() == 0 {
            libc::setpriority(libc::PRIO_PROCESS, tid, (base - 5).max(-20));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_cpu_per_shard_in_the_allowed_order() {
        assert_eq!(plan(&[0, 1], 2), vec![Some(0), Some(1)]);
        // A cgroup that allows CPUs 2, 5 and 7: the shards take the first ones allowed.
        assert_eq!(plan(&[2, 5, 7], 2), vec![Some(2), Some(5)]);
    }

    #[test]
    fn more_shards_than_cpus_are_left_to_the_scheduler() {
        assert_eq!(plan(&[0, 1], 3), vec![None, None, None]);
        assert_eq!(plan(&[], 1), vec![None]);
        assert!(plan(&[0], 0).is_empty());
    }

    const MS: Duration = Duration::from_millis(1);

    /// `slots` 1 ms slots each busy `busy_us`; the changes asked for.
    fn feed(g: &mut RealtimeGuard, slots: usize, busy_us: u64) -> Vec<Class> {
        (0..slots)
            .filter_map(|_| g.observe(Duration::from_micros(busy_us), MS))
            .collect()
    }

    #[test]
    fn a_shard_with_room_stays_real_time() {
        let mut g = RealtimeGuard::new(true, true);
        assert!(feed(&mut g, 5_000, 750).is_empty());
        assert!(g.is_on());
    }

    #[test]
    fn a_saturated_shard_leaves_real_time_after_a_window_and_returns_when_it_eases() {
        let mut g = RealtimeGuard::new(true, true);
        // Under a window: no decision yet, however busy.
        assert!(feed(&mut g, 999, 990).is_empty());
        assert_eq!(feed(&mut g, 1, 990), vec![Class::Normal]);
        g.applied(Class::Normal, true);
        assert!(!g.is_on());
        // Still busy, then between the thresholds: stays out (hysteresis).
        assert!(feed(&mut g, 1_000, 950).is_empty());
        assert!(feed(&mut g, 1_000, 800).is_empty());
        assert_eq!(feed(&mut g, 1_000, 650), vec![Class::Realtime]);
        g.applied(Class::Realtime, true);
        assert!(g.is_on());
    }

    #[test]
    fn a_refused_return_is_not_asked_again() {
        let mut g = RealtimeGuard::new(true, false);
        assert_eq!(feed(&mut g, 1_000, 100), vec![Class::Realtime]);
        g.applied(Class::Realtime, false);
        assert!(feed(&mut g, 5_000, 100).is_empty());
    }

    #[test]
    fn a_guard_for_a_shard_that_never_wanted_real_time_is_silent() {
        let mut g = RealtimeGuard::new(false, false);
        assert!(feed(&mut g, 5_000, 100).is_empty());
        assert!(feed(&mut g, 5_000, 999).is_empty());
    }

    #[test]
    fn this_process_may_run_somewhere() {
        assert!(!allowed_cpus().is_empty());
    }
}
