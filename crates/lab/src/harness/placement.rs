//! Which CPUs a measurement's threads run on.
//!
//! Left to the scheduler, the one-download rows' client (the measuring thread) and the
//! server's runtime thread may share a core, which a client across the network never
//! does, and a download measured so is slower (`reports/README.md`, "A CPU each for the
//! one-download client and server"). So those rows bind the two apart, and keep the
//! server's other threads (the parallel path's encoding workers) off the client's CPU.

use std::io;

/// A set of CPUs a thread may run on.
#[derive(Clone, Copy)]
pub(crate) struct Cpus(imp::Set);

impl Cpus {
    /// The CPUs the calling thread may run on.
    pub(crate) fn of_this_thread() -> io::Result<Cpus> {
        imp::get().map(Cpus)
    }

    /// The set of `cpu` alone (empty, so that binding to it fails, for a CPU past what
    /// a set holds).
    pub(crate) fn only(cpu: usize) -> Cpus {
        Cpus(imp::single(cpu))
    }

    /// The set without `cpu`.
    pub(crate) fn without(&self, cpu: usize) -> Cpus {
        Cpus(imp::without(self.0, cpu))
    }

    /// The CPUs in the set, lowest first.
    pub(crate) fn list(&self) -> Vec<usize> {
        imp::list(&self.0)
    }

    /// Restricts the calling thread to the set.
    pub(crate) fn bind_this_thread(&self) -> io::Result<()> {
        imp::set(&self.0)
    }
}

impl std::fmt::Debug for Cpus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.list()).finish()
    }
}

/// Runs `f` with the calling thread bound to one CPU (the first it may run on), then
/// gives the thread its CPUs back. A process started meanwhile inherits the binding, so
/// a paired alternation with another process (Go's) runs both sides on one CPU, and
/// each pair sees what the host does to that CPU: apart, one side's virtual CPU could
/// run slow for a stretch (a busy neighbour on the host, presumably) while the other's
/// did not, and pairing did not cancel it. Where no CPU can be bound, `f` runs as it is.
pub(crate) fn on_one_cpu<T>(f: impl FnOnce() -> T) -> T {
    let first = Cpus::of_this_thread()
        .ok()
        .and_then(|cpus| cpus.list().first().copied());
    on_cpu(first, f)
}

/// Runs `f` with the calling thread bound to `cpu` (when given and possible), then gives
/// the thread its CPUs back. Without a CPU, `f` runs as it is, with no call to the OS.
pub(crate) fn on_cpu<T>(cpu: Option<usize>, f: impl FnOnce() -> T) -> T {
    let Some(cpu) = cpu else {
        return f();
    };
    let saved = Cpus::of_this_thread().ok();
    if saved.is_some() {
        // Unbound if it fails: the measurement still runs, as before.
        let _ = Cpus::only(cpu).bind_this_thread();
    }
    let out = f();
    if let Some(saved) = saved {
        let _ = saved.bind_this_thread();
    }
    out
}

/// Two CPUs the calling thread may run on, one for a client and one for its server;
/// `None` when it may run on fewer (or the platform cannot pin threads).
pub(crate) fn apart() -> Option<(usize, usize)> {
    let cpus = Cpus::of_this_thread().ok()?.list();
    Some((*cpus.first()?, *cpus.get(1)?))
}

/// The CPUs the calling thread may run on beyond the two [`apart`] gives a client and
/// its server: those a one-download server's encoding workers have to themselves.
/// `None` where the platform cannot pin threads (the workers then run anywhere).
pub(crate) fn spare_cpus() -> Option<usize> {
    let cpus = Cpus::of_this_thread().ok()?.list().len();
    Some(cpus.saturating_sub(2))
}

#[cfg(target_os = "linux")]
mod imp {
    use std::io;

    pub(super) type Set = libc::cpu_set_t;

    pub(super) fn get() -> io::Result<Set> {
        // SAFETY: `cpu_set_t` is plain data; the kernel writes at most its size.
        unsafe {
            let mut set: Set = std::mem::zeroed();
            match libc::sched_getaffinity(0, std::mem::size_of::<Set>(), &mut set) {
                0 => Ok(set),
                _ => Err(io::Error::last_os_error()),
            }
        }
    }

    pub(super) fn set(set: &Set) -> io::Result<()> {
        // SAFETY: `set` is a valid `cpu_set_t` of the size given.
        match unsafe { libc::sched_setaffinity(0, std::mem::size_of::<Set>(), set) } {
            0 => Ok(()),
            _ => Err(io::Error::last_os_error()),
        }
    }

    /// The set of `cpu` alone (empty, so that binding to it fails, for a CPU past what
    /// a set holds).
    pub(super) fn single(cpu: usize) -> Set {
        // SAFETY: a zeroed `cpu_set_t` is the empty set, and CPU_SET writes within it
        // for a CPU below its size (past it, libc's CPU_SET indexes out of bounds).
        unsafe {
            let mut set: Set = std::mem::zeroed();
            if cpu < 8 * std::mem::size_of::<Set>() {
                libc::CPU_SET(cpu, &mut set);
            }
            set
        }
    }

    pub(super) fn without(mut set: Set, cpu: usize) -> Set {
        if cpu < 8 * std::mem::size_of::<Set>() {
            // SAFETY: CPU_CLR writes within the set for a CPU below its size.
            unsafe { libc::CPU_CLR(cpu, &mut set) };
        }
        set
    }

    pub(super) fn list(set: &Set) -> Vec<usize> {
        let size = 8 * std::mem::size_of::<Set>();
        // SAFETY: CPU_ISSET reads within the set for every CPU below its size.
        (0..size)
            .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, set) })
            .collect()
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use std::io;

    #[derive(Clone, Copy)]
    pub(super) struct Set;

    pub(super) fn get() -> io::Result<Set> {
        Err(io::ErrorKind::Unsupported.into())
    }

    pub(super) fn set(_: &Set) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }

    pub(super) fn single(_: usize) -> Set {
        Set
    }

    pub(super) fn without(set: Set, _: usize) -> Set {
        set
    }

    pub(super) fn list(_: &Set) -> Vec<usize> {
        Vec::new()
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_thread_bound_to_one_cpu_runs_there_and_its_old_set_restores_it() -> io::Result<()> {
        std::thread::spawn(|| {
            let all = Cpus::of_this_thread()?;
            let last = *all.list().last().expect("a thread may run somewhere");
            Cpus::only(last).bind_this_thread()?;
            assert_eq!(Cpus::of_this_thread()?.list(), [last]);
            // SAFETY: sched_getcpu has no preconditions.
            assert_eq!(unsafe { libc::sched_getcpu() }, last as i32);
            all.bind_this_thread()?;
            assert_eq!(Cpus::of_this_thread()?.list(), all.list());
            Ok(())
        })
        .join()
        .expect("the thread does not panic")
    }

    #[test]
    fn on_one_cpu_binds_the_thread_and_its_children_then_restores_it() -> io::Result<()> {
        std::thread::spawn(|| {
            let all = Cpus::of_this_thread()?.list();
            let child = on_one_cpu(|| {
                assert_eq!(Cpus::of_this_thread().map(|c| c.list())?, all[..1]);
                // A process started inside inherits the one CPU.
                std::process::Command::new("sh")
                    .args(["-c", "grep Cpus_allowed_list /proc/self/status"])
                    .output()
            })?;
            let text = String::from_utf8_lossy(&child.stdout);
            assert_eq!(
                text.split_whitespace().last(),
                Some(&*all[0].to_string()),
                "{text}"
            );
            assert_eq!(Cpus::of_this_thread()?.list(), all);
            Ok(())
        })
        .join()
        .expect("the thread does not panic")
    }

    #[test]
    fn the_spare_cpus_are_those_beyond_a_client_and_its_server() -> io::Result<()> {
        let cpus = Cpus::of_this_thread()?.list().len();
        assert_eq!(spare_cpus(), Some(cpus.saturating_sub(2)));
        // On one CPU there is none to spare (and no two to bind apart).
        let one = std::thread::spawn(|| {
            Cpus::only(Cpus::of_this_thread()?.list()[0]).bind_this_thread()?;
            Ok::<_, io::Error>((spare_cpus(), apart()))
        });
        assert_eq!(
            one.join().expect("the thread does not panic")?,
            (Some(0), None)
        );
        Ok(())
    }

    #[test]
    fn a_set_without_a_cpu_lists_the_others() {
        let two = Cpus(imp::without(imp::single(2), 5));
        assert_eq!(two.list(), [2]);
        assert!(two.without(2).list().is_empty());
    }

    #[test]
    fn binding_to_a_cpu_past_any_set_is_an_error_not_a_panic() {
        assert!(Cpus::only(1 << 20).list().is_empty());
        assert_eq!(Cpus::only(3).without(1 << 20).list(), [3]);
        let bound = std::thread::spawn(|| Cpus::only(1 << 20).bind_this_thread()).join();
        assert!(bound.expect("the thread does not panic").is_err());
    }
}
