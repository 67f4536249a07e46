//! `tail -f` for one file, on a stat watcher.
//!
//! ```text
//! cargo run --example file_tail -- [--interval MS] [--no-inotify] [--exit-after-bytes N] PATH
//! ```
//!
//! It starts at the current end of PATH (like `tail -n 0 -F`) and copies
//! every byte appended from then on to stdout. It follows the *name*: when
//! the file is truncated it starts again from the beginning, and when PATH
//! is replaced (log rotation: a new file renamed over it, or deleted and
//! created again) it finishes the old file and reads the new one from its
//! start. Notes go to stderr. Ctrl-C (or SIGTERM) ends it.
//!
//! What it shows:
//!
//! * A stat watcher ([`Ctx::new_stat`]) on a path that may not exist yet. With
//!   inotify the loop sees changes at once and polls at the interval only
//!   as a check behind it; with `--no-inotify`
//!   ([`LoopBuilder::inotify`]`(false)`) polling is all there is, and
//!   changes show within one interval.
//! * Reading the attributes the watcher saw ([`Watcher::attrs`]): the size
//!   tells growth from truncation, the device and inode tell "the same file"
//!   from "another file under the same name".
//! * Signal watchers ending the loop with [`Ctx::break_loop`], so that the
//!   program returns from `run` and exits normally (status 0) on Ctrl-C or
//!   SIGTERM instead of being killed.
//!
//! Like libev, stat watchers `lstat` the path by default: a symbolic link
//! would be watched as the link, whose attributes do not change when its
//! target grows. This example turns on [`Watcher::set_follow`], so a
//! `current.log` symlink is followed to whatever file it points at.
//!
//! [`LoopBuilder::inotify`]: evloop::LoopBuilder::inotify
//! [`Watcher::attrs`]: evloop::Watcher::attrs
//! [`Watcher::set_follow`]: evloop::Watcher::set_follow

use std::fs::File;
use std::io::{self, ErrorKind, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use evloop::{signum, Break, Ctx, Events, Loop, RunMode, StatAttrs, StatId};

const USAGE: &str = "\
usage: file_tail [--interval MS] [--no-inotify] [--exit-after-bytes N] PATH

Prints what is appended to PATH from now on, following truncation (read
again from the start) and replacement (read the new file from its start).
PATH need not exist yet. Ctrl-C (or SIGTERM) ends it, with status 0.

options:
  --interval MS          how often to check PATH (default 1000; with
                         inotify this is only the fallback)
  --no-inotify           do not use inotify: poll only
  --exit-after-bytes N   exit after printing N bytes (for tests)
  --help                 print this and exit";

/// The command line.
struct Options {
    path: PathBuf,
    interval: Duration,
    inotify: bool,
    exit_after: Option<u64>,
}

/// What is being followed (the state `run` lends to the callbacks).
struct Tail {
    path: PathBuf,
    /// The open file, with its device and inode numbers: while PATH has
    /// these, it is still the same file.
    file: Option<(File, (u64, u64))>,
    /// Bytes of the open file already printed.
    offset: u64,
    /// Bytes still to print before exiting, if limited.
    left: Option<u64>,
    /// Set when the program should end: the byte limit was reached, or
    /// stdout was closed.
    done: bool,
    /// An error that ends the program.
    error: Option<io::Error>,
}

fn main() -> ExitCode {
    let opts = match parse_args(std::env::args().skip(1)) {
        Ok(Some(opts)) => opts,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("file_tail: {msg}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match follow(opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("file_tail: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `Ok(None)` means `--help`.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut path = None;
    let mut opts = Options {
        path: PathBuf::new(),
        interval: Duration::from_secs(1),
        inotify: true,
        exit_after: None,
    };
    while let Some(arg) = args.next() {
        // Accept both `--opt VALUE` and `--opt=VALUE`.
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut number = || -> Result<u64, String> {
            let v = inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a number"))?;
            v.parse()
                .map_err(|_| format!("{name}: {v:?} is not a whole number"))
        };
        match name.as_str() {
            "--help" | "-h" => return Ok(None),
            "--interval" => {
                // evloop raises intervals below 10 ms to 10 ms by itself.
                let ms = Some(number()?)
                    .filter(|&ms| ms > 0)
                    .ok_or("--interval: 0")?;
                opts.interval = Duration::from_millis(ms);
            }
            "--no-inotify" => opts.inotify = false,
            "--exit-after-bytes" => opts.exit_after = Some(number()?),
            _ if arg.starts_with('-') && arg != "-" => {
                return Err(format!("unknown argument {arg:?}"))
            }
            _ if path.is_some() => return Err(format!("more than one PATH: {arg:?}")),
            _ => path = Some(PathBuf::from(arg)),
        }
    }
    opts.path = path.ok_or("no PATH given")?;
    Ok(Some(opts))
}

fn follow(opts: Options) -> Result<(), Box<dyn std::error::Error>> {
    let mut lp: Loop<Tail> = Loop::builder().inotify(opts.inotify).build()?;
    let mut tail = Tail {
        path: opts.path.clone(),
        file: None,
        offset: 0,
        left: opts.exit_after,
        done: opts.exit_after == Some(0),
        error: None,
    };
    // Start at the current end; a file that does not exist yet is read
    // from its start once it appears.
    match File::open(&opts.path) {
        Ok(f) => {
            let meta = f.metadata()?;
            tail.offset = meta.len();
            tail.file = Some((f, (meta.dev(), meta.ino())));
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(format!("{}: {e}", opts.path.display()).into()),
    }

    let mut ctx = lp.ctx();
    let watcher = ctx.new_stat(&opts.path, opts.interval, on_change)?;
    let mut w = ctx.stat(watcher)?;
    w.set_follow(true)?;
    w.start()?;
    // Whatever changed between opening the file and starting the watcher
    // produced no event: look once by hand.
    let now = w.attrs().1;
    for signal in [signum::SIGINT, signum::SIGTERM] {
        let id = ctx.new_signal(signal, |ctx, _tail, _id, _ev| ctx.break_loop(Break::All))?;
        ctx.start(id)?;
    }
    tail.update(now);
    let how = if opts.inotify {
        "inotify, checking"
    } else {
        "polling"
    };
    eprintln!(
        "file_tail: following {} ({how} every {:?})",
        opts.path.display(),
        opts.interval
    );

    if !tail.done && tail.error.is_none() {
        // The stat and signal watchers stay active: this returns only
        // through break_loop (or a failing backend).
        lp.run(&mut tail, RunMode::Default)?;
    }
    match tail.error {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// PATH's attributes changed.
fn on_change(ctx: &mut Ctx<'_, Tail>, tail: &mut Tail, id: StatId, _ev: Events) {
    match ctx.stat(id) {
        Ok(w) => tail.update(w.attrs().1),
        Err(e) => unreachable!("a watcher that runs exists: {e}"),
    }
    if tail.done || tail.error.is_some() {
        ctx.break_loop(Break::All);
    }
}

impl Tail {
    /// Catches up with PATH, whose attributes are now `now`.
    fn update(&mut self, now: StatAttrs) {
        match self.sync(now) {
            Ok(()) => {}
            // Our reader went away (`file_tail x | head`): just stop.
            Err(e) if e.kind() == ErrorKind::BrokenPipe => self.done = true,
            Err(e) => self.error = Some(e),
        }
    }

    fn sync(&mut self, now: StatAttrs) -> io::Result<()> {
        let path = self.path.display().to_string();
        let same_file = self
            .file
            .as_ref()
            .is_some_and(|(_, id)| now.exists && *id == (now.dev, now.ino));
        if same_file {
            if now.size < self.offset {
                eprintln!("file_tail: {path}: truncated; reading from the start");
                self.offset = 0;
            }
            return self.copy_new_bytes();
        }
        // PATH is gone or names another file. What the writer appended to
        // the old file before letting go of it still counts.
        let had_file = self.file.is_some();
        if had_file {
            self.copy_new_bytes()?;
            self.file = None;
        }
        if !now.exists {
            if had_file {
                eprintln!("file_tail: {path}: gone; waiting for it to reappear");
            }
            return Ok(());
        }
        let file = match File::open(&self.path) {
            Ok(f) => f,
            // Gone again already; the next change will tell.
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        // The identity of what we opened, not of what the watcher saw: the
        // name may have moved on in between, and the next event fixes that.
        let meta = file.metadata()?;
        self.file = Some((file, (meta.dev(), meta.ino())));
        self.offset = 0;
        let what = if had_file { "replaced" } else { "appeared" };
        eprintln!("file_tail: {path}: {what}; reading the new file");
        self.copy_new_bytes()
    }

    /// Copies the open file from `offset` to its end to stdout (within the
    /// byte limit).
    fn copy_new_bytes(&mut self) -> io::Result<()> {
        let Some((file, _)) = &self.file else {
            return Ok(());
        };
        let mut out = io::stdout().lock();
        let mut buf = vec![0; 64 * 1024];
        while !self.done {
            let want = self.left.map_or(buf.len(), |left| {
                usize::try_from(left).map_or(buf.len(), |l| l.min(buf.len()))
            });
            let n = match file.read_at(&mut buf[..want], self.offset) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            out.write_all(&buf[..n])?;
            self.offset += n as u64;
            if let Some(left) = &mut self.left {
                *left -= n as u64;
                self.done = *left == 0;
            }
        }
        out.flush()
    }
}
