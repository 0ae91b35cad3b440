//! Worker processes of `--jobs` end when their parent dies.
//!
//! The parent names itself in [`PARENT_PID_ENV`]; a worker that finds it asks the kernel for
//! `SIGKILL` when its parent exits (`prctl(PR_SET_PDEATHSIG)`, Linux) and exits at once if the
//! parent is already gone. A killed worker leaves only whole part files (they are written
//! atomically), so `--resume` finishes the run with the same bytes.

/// The environment variable through which `--jobs` passes the parent's pid to its workers.
pub const PARENT_PID_ENV: &str = "UNCERTSAM_PARENT_PID";

/// In a worker of `--jobs` (when [`PARENT_PID_ENV`] is set): dies with the parent from now on.
pub fn follow_parent() {
    let Some(parent) = std::env::var(PARENT_PID_ENV)
        .ok()
        .and_then(|s| s.parse::<i32>().ok())
    else {
        return;
    };
    arm(parent);
}

#[cfg(target_os = "linux")]
fn arm(parent: i32) {
    // SAFETY: `prctl(PR_SET_PDEATHSIG, sig)` and `getppid()` take integers and touch no memory
    // of this program.
    #[allow(unsafe_code)]
    let ppid = unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        );
        libc::getppid()
    };
    if ppid != parent {
        // The parent died before the request took effect.
        crate::crash::exit_now(1);
    }
}

#[cfg(not(target_os = "linux"))]
fn arm(_parent: i32) {}
