//! Signal numbers, so that watching a signal needs no `libc` dependency.
//! They are the platform's own numbers (`i32`, as `kill(2)` takes them);
//! any other number from 1 to 64 works too, within the limits
//! [`Ctx::new_signal`](crate::Ctx::new_signal) states.

/// Hang-up: the terminal went away, or (by convention) reload the configuration.
pub const SIGHUP: i32 = libc::SIGHUP;
/// Interrupt from the keyboard (Ctrl-C).
pub const SIGINT: i32 = libc::SIGINT;
/// Quit from the keyboard (Ctrl-\).
pub const SIGQUIT: i32 = libc::SIGQUIT;
/// Broken pipe (Rust programs ignore it by default).
pub const SIGPIPE: i32 = libc::SIGPIPE;
/// Timer signal from `alarm(2)`.
pub const SIGALRM: i32 = libc::SIGALRM;
/// Termination request: what `kill` sends by default.
pub const SIGTERM: i32 = libc::SIGTERM;
/// User-defined signal 1.
pub const SIGUSR1: i32 = libc::SIGUSR1;
/// User-defined signal 2.
pub const SIGUSR2: i32 = libc::SIGUSR2;
/// A child stopped or terminated.
pub const SIGCHLD: i32 = libc::SIGCHLD;
/// Continue if stopped.
pub const SIGCONT: i32 = libc::SIGCONT;
/// Stop typed at the terminal (Ctrl-Z).
pub const SIGTSTP: i32 = libc::SIGTSTP;
/// The terminal window changed size.
pub const SIGWINCH: i32 = libc::SIGWINCH;

/// The lowest real-time signal the C library leaves to applications
/// (`SIGRTMIN`); those up to 64 may be watched.
pub fn sigrtmin() -> i32 {
    crate::sys::signal::sigrtmin()
}
