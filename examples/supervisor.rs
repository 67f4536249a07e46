//! A process supervisor: keeps N copies of a command running, restarting
//! each one with a back-off when it exits, and stops them all cleanly on
//! SIGTERM or SIGINT.
//!
//! ```text
//! cargo run --example supervisor -- [--children N] [--max-restarts N] [-- COMMAND ARGS...]
//! ```
//!
//! Without a command it runs `sh -c 'sleep $(($$ % 3 + 1)); exit 1'`: a
//! child that fails after one to three seconds. Press Ctrl-C to stop it (a
//! second Ctrl-C kills it at once).
//!
//! What it shows:
//!
//! * One child watcher per process ([`Ctx::new_child`]), which reaps exactly
//!   that pid and stops itself once the child is gone; the [`ChildEvent`]
//!   its callback gets says how it ended.
//! * Restart back-off with one-shot timers ([`Ctx::once_timer`]): 100 ms,
//!   doubling up to 5 s, and back to 100 ms for a child that ran at least
//!   10 s. A pending restart is called off with [`Ctx::cancel_once`].
//! * Signal watchers ([`Ctx::new_signal`]) for an orderly shutdown: stop
//!   restarting, SIGTERM every child, and let the loop end by itself once
//!   the last child watcher has stopped (no explicit "are we done" check).
//!   Ctrl-C (SIGINT) or SIGTERM thus ends it with exit status 0.
//! * A grace timer that does not keep the loop alive
//!   ([`Ctx::set_once_keepalive`]`(false)`): it SIGKILLs children that
//!   ignore SIGTERM, but does not delay the exit when they all went quietly.

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use evloop::{signum, ChildEvent, ChildId, ChildStatus, Ctx, Loop, Once, RunMode, SignalId};

const USAGE: &str = "\
usage: supervisor [--children N] [--max-restarts N] [-- COMMAND ARGS...]

Runs N copies of COMMAND and restarts each one when it exits, after a
back-off of 100 ms that doubles up to 5 s (reset when a child ran 10 s).
On SIGTERM or SIGINT it stops restarting, sends SIGTERM to the children
(SIGKILL to those still there 5 s later), waits for them and exits 0.

options:
  --children N        how many copies to run (default 3)
  --max-restarts N    after N restarts in total, the next exit stops the
                      supervisor as SIGTERM would (default: no limit)
  --help              print this and exit

COMMAND defaults to: sh -c 'sleep $(($$ % 3 + 1)); exit 1'
Every start and exit is logged on stdout, one line each.";

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A child that ran this long was healthy: its back-off starts over.
const STABLE_AFTER: Duration = Duration::from_secs(10);
/// How long children get between SIGTERM and SIGKILL at shutdown.
const GRACE: Duration = Duration::from_secs(5);

/// The command line.
struct Options {
    children: usize,
    max_restarts: Option<u64>,
    command: Vec<String>,
}

/// One supervised position (#0, #1, ...), whatever process fills it now.
struct Slot {
    /// The running process: its pid and when it started.
    running: Option<(i32, Instant)>,
    /// The timer of a restart that is waiting out its back-off.
    restart: Option<Once<()>>,
    /// The delay before the next restart.
    backoff: Duration,
}

/// The state that `run` lends to every callback.
struct App {
    command: Vec<String>,
    slots: Vec<Slot>,
    /// Restarts scheduled so far, against `max_restarts`.
    restarts: u64,
    max_restarts: Option<u64>,
    /// Set once shutdown began: exits are only logged from then on.
    stopping: bool,
    /// The SIGTERM and SIGINT watchers, removed at shutdown.
    signals: Vec<SignalId>,
    exit_code: u8,
}

fn main() -> ExitCode {
    let opts = match parse_args(std::env::args().skip(1)) {
        Ok(Some(opts)) => opts,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("supervisor: {msg}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match supervise(opts) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("supervisor: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `Ok(None)` means `--help`.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut opts = Options {
        children: 3,
        max_restarts: None,
        command: ["sh", "-c", "sleep $(($$ % 3 + 1)); exit 1"]
            .map(String::from)
            .to_vec(),
    };
    while let Some(arg) = args.next() {
        if arg == "--" {
            opts.command = args.collect();
            if opts.command.is_empty() {
                return Err("no command after --".into());
            }
            break;
        }
        // Accept both `--opt VALUE` and `--opt=VALUE`.
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut number = |what: &str| -> Result<u64, String> {
            let v = inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs {what}"))?;
            v.parse()
                .map_err(|_| format!("{name}: {v:?} is not a whole number"))
        };
        match name.as_str() {
            "--help" | "-h" => return Ok(None),
            "--children" => {
                opts.children = number("N")?
                    .try_into()
                    .ok()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or("--children: give 1 to 1000")?;
            }
            "--max-restarts" => opts.max_restarts = Some(number("N")?),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Some(opts))
}

fn supervise(opts: Options) -> Result<u8, Box<dyn std::error::Error>> {
    let mut lp: Loop<App> = Loop::new()?;
    let mut app = App {
        command: opts.command,
        slots: (0..opts.children)
            .map(|_| Slot {
                running: None,
                restart: None,
                backoff: FIRST_BACKOFF,
            })
            .collect(),
        restarts: 0,
        max_restarts: opts.max_restarts,
        stopping: false,
        signals: Vec::new(),
        exit_code: 0,
    };
    // Signal watchers first: a SIGTERM that arrives while the children start
    // must already mean "shut down", not "die and orphan them".
    let mut ctx = lp.ctx();
    for (signal, name) in [(signum::SIGTERM, "SIGTERM"), (signum::SIGINT, "SIGINT")] {
        let id = ctx.new_signal(signal, move |ctx, app, _id, _ev| shutdown(ctx, app, name))?;
        ctx.start(id)?;
        app.signals.push(id);
    }
    for i in 0..opts.children {
        if let Err(e) = spawn(&mut ctx, &mut app, i) {
            // A command that cannot start at all is a usage error, not
            // something to retry forever: stop the ones already running.
            eprintln!("supervisor: cannot start {:?}: {e}", app.command[0]);
            app.exit_code = 1;
            shutdown(&mut ctx, &mut app, "start failed");
            break;
        }
    }
    // Returns once nothing is left: no child watcher, no restart timer, and
    // (after shutdown) no signal watcher.
    lp.run(&mut app, RunMode::Default)?;
    println!("done");
    Ok(app.exit_code)
}

/// Starts the process of slot `i` and its child watcher.
fn spawn(
    ctx: &mut Ctx<'_, App>,
    app: &mut App,
    i: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut child = Command::new(&app.command[0])
        .args(&app.command[1..])
        .spawn()?;
    // std made the u32 from the kernel's pid_t: it fits back.
    let pid = child.id() as i32;
    let watched = ctx
        .new_child(pid, false, move |ctx, app, id, ev| {
            on_exit(ctx, app, i, id, ev)
        })
        .and_then(|id| ctx.start(id));
    if let Err(e) = watched {
        // Nobody would ever reap it: take it down now.
        let _ = child.kill();
        let _ = child.wait();
        return Err(e.into());
    }
    // From here the watcher reaps the process; dropping the `Child` handle
    // neither kills nor waits for it.
    drop(child);
    app.slots[i].running = Some((pid, ctx.now()));
    println!("start #{i} pid {pid}");
    Ok(())
}

/// The child of slot `i` exited (its watcher has stopped itself).
fn on_exit(ctx: &mut Ctx<'_, App>, app: &mut App, i: usize, id: ChildId, ev: ChildEvent) {
    let _ = ctx.remove(id);
    let Some((pid, started)) = app.slots[i].running.take() else {
        return;
    };
    let lived = ctx.now().saturating_duration_since(started);
    let what = format!("exit #{i} pid {pid}: {}", describe(ev.status));
    gone(ctx, app, i, lived, what);
}

/// Slot `i` has no process any more (it exited, or a restart failed):
/// schedule the next restart, or shut down if the budget is spent. `what`
/// starts the log line.
fn gone(ctx: &mut Ctx<'_, App>, app: &mut App, i: usize, lived: Duration, what: String) {
    if app.stopping {
        println!("{what}");
        return;
    }
    if app.max_restarts.is_some_and(|max| app.restarts >= max) {
        println!("{what}; restart limit reached");
        shutdown(ctx, app, "restart limit reached");
        return;
    }
    let delay = next_backoff(&mut app.slots[i], lived);
    println!("{what}; restart in {delay:?}");
    app.restarts += 1;
    let timer = ctx.once_timer(delay, move |ctx, app, _ev| {
        app.slots[i].restart = None;
        if let Err(e) = spawn(ctx, app, i) {
            // Maybe a passing shortage (EAGAIN, EMFILE): treat it as an exit.
            gone(ctx, app, i, Duration::ZERO, format!("fail #{i}: {e}"));
        }
    });
    match timer {
        Ok(t) => app.slots[i].restart = Some(t),
        Err(e) => {
            eprintln!("supervisor: cannot schedule a restart: {e}");
            app.exit_code = 1;
            shutdown(ctx, app, "internal error");
        }
    }
}

/// The delay before the slot's next restart, and the one after that.
fn next_backoff(slot: &mut Slot, lived: Duration) -> Duration {
    if lived >= STABLE_AFTER {
        slot.backoff = FIRST_BACKOFF;
    }
    let delay = slot.backoff;
    slot.backoff = (delay * 2).min(MAX_BACKOFF);
    delay
}

/// Stops restarting and asks every child to terminate. The loop then ends
/// by itself when the last child watcher has reported its exit.
fn shutdown(ctx: &mut Ctx<'_, App>, app: &mut App, why: &str) {
    if app.stopping {
        return;
    }
    app.stopping = true;
    println!("stopping: {why}");
    // Removing the watchers puts the default dispositions back: a second
    // Ctrl-C now kills the supervisor instead of being ignored.
    for id in app.signals.drain(..) {
        let _ = ctx.remove(id);
    }
    for slot in &mut app.slots {
        if let Some(t) = slot.restart.take() {
            ctx.cancel_once(t); // harmless if it already fired
        }
    }
    if !signal_children(app, signum::SIGTERM) {
        return;
    }
    let grace = ctx.once_timer(GRACE, |_ctx, app, _ev| {
        if signal_children(app, libc::SIGKILL) {
            println!("children still running after {GRACE:?}: sent SIGKILL");
        }
    });
    match grace {
        // Only the children should keep the loop alive, not this timer.
        Ok(t) => {
            let _ = ctx.set_once_keepalive(t, false);
        }
        Err(e) => eprintln!("supervisor: no SIGKILL fallback: {e}"),
    }
}

/// Sends `signal` to every running child; returns whether there was any.
fn signal_children(app: &App, signal: i32) -> bool {
    let mut any = false;
    for (pid, _) in app.slots.iter().filter_map(|s| s.running) {
        any = true;
        // SAFETY: kill takes plain integers. The pid cannot belong to an
        // unrelated process: it is our child, and until its watcher has
        // reaped it (which takes it out of `running`) the kernel keeps the
        // pid reserved for it, even after it exited.
        if unsafe { libc::kill(pid, signal) } != 0 {
            let e = std::io::Error::last_os_error();
            eprintln!("supervisor: cannot signal pid {pid}: {e}");
        }
    }
    any
}

fn describe(status: ChildStatus) -> String {
    match status {
        ChildStatus::Exited(code) => format!("exited with status {code}"),
        ChildStatus::Signaled {
            signal,
            core_dumped,
        } => format!(
            "killed by signal {signal}{}",
            if core_dumped { " (core dumped)" } else { "" }
        ),
        ChildStatus::Stopped(signal) => format!("stopped by signal {signal}"),
        ChildStatus::Continued => "continued".to_string(),
    }
}
