//! A listener that runs out of file descriptors neither spins nor dies,
//! and accepts again once descriptors are free.
//!
//! The test re-executes its own binary as a child (`EMFILE_CHILD=1`) that
//! lowers its `RLIMIT_NOFILE`, listens, and prints what happens. The
//! parent opens more connections than the child can hold, measures the
//! child's CPU time while it is paused (from `/proc/<pid>/stat`), then
//! hangs up and waits for the child to have accepted every connection.
//! `harness = false` because the child needs `main`.

use std::io::{BufRead, BufReader, ErrorKind, Read};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use evloop::{Events, Loop, RunMode};
use evloop_buffer::{Accepted, ListenAddr, ListenerEvent, ListenerExt, ListenerOptions};

const CHILD_ENV: &str = "EMFILE_CHILD";
/// The child's fd limit: stdio, the epoll fd and the listener take 5.
const FD_LIMIT: u64 = 24;
/// More than the child can hold at once.
const CLIENTS: usize = 40;
/// Generous: only a broken listener gets near it.
const PATIENCE: Duration = Duration::from_secs(20);

fn main() {
    if std::env::var_os(CHILD_ENV).is_some() {
        child();
    } else {
        println!("\nrunning 1 test");
        parent();
        println!("test emfile_pauses_without_spinning_and_recovers ... ok\n");
        println!("test result: ok. 1 passed; 0 failed\n");
    }
}

/// Counts accepted connections and prints every listener event.
fn child() {
    let lim = libc::rlimit {
        rlim_cur: FD_LIMIT,
        rlim_max: FD_LIMIT,
    };
    // SAFETY: the pointer refers to a live, initialised rlimit.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    assert_eq!(rc, 0, "setrlimit: {}", std::io::Error::last_os_error());

    let mut lp: Loop<usize> = Loop::new().unwrap();
    let opts =
        ListenerOptions::new().retry_delays(Duration::from_millis(10), Duration::from_millis(200));
    let addr: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    let id = lp
        .ctx()
        .listen(addr, &opts, |ctx, accepted, _id, conn| {
            *accepted += 1;
            println!("accepted {accepted}");
            let Accepted::Tcp { stream, .. } = conn else {
                unreachable!()
            };
            // Hold the connection until the client hangs up.
            let io = ctx
                .new_io(stream, Events::READ, |ctx, _, io, _| {
                    let w = ctx.io(io).unwrap();
                    let mut buf = [0u8; 64];
                    let r = w.source().read(&mut buf);
                    match r {
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                        Ok(n) if n > 0 => {}
                        _ => w.remove(),
                    }
                })
                .unwrap();
            ctx.start(io).unwrap();
        })
        .unwrap();
    lp.ctx()
        .listener(id)
        .unwrap()
        .on_event(|_, _, _, ev| match ev {
            ListenerEvent::Paused { error, retry_in } => {
                assert!(
                    matches!(error.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)),
                    "{error}"
                );
                println!("paused {retry_in:?} {error}");
            }
            ListenerEvent::Resumed { failed_retries } => println!("resumed {failed_retries}"),
        });
    let ListenAddr::Tcp(addr) = lp.ctx().listener(id).unwrap().local_addr().unwrap() else {
        unreachable!()
    };
    println!("port {}", addr.port());
    let mut accepted = 0;
    lp.run(&mut accepted, RunMode::Default).unwrap();
}

/// Kills the child however the parent ends.
struct Reaper(Child);

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn parent() {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .env(CHILD_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let child = Reaper(child);
    let pid = child.0.id();
    let (tx, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut log = Vec::new();
    let wait_for = |what: &dyn Fn(&str) -> bool, log: &mut Vec<String>| -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => {
                    log.push(line.clone());
                    if what(&line) {
                        return line;
                    }
                }
                Err(e) => panic!("child: {e}; its output so far: {log:#?}"),
            }
        }
    };

    let port_line = wait_for(&|l| l.starts_with("port "), &mut log);
    let port: u16 = port_line[5..].parse().unwrap();
    let clients: Vec<TcpStream> = (0..CLIENTS)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    wait_for(&|l| l.starts_with("paused "), &mut log);

    // While paused, the child should sleep between retries.
    let (cpu0, t0) = (cpu_time(pid), Instant::now());
    std::thread::sleep(Duration::from_secs(1));
    let (cpu1, t1) = (cpu_time(pid), Instant::now());
    let share = (cpu1 - cpu0).as_secs_f64() / (t1 - t0).as_secs_f64();
    println!("child cpu while paused: {:.1}% of wall time", share * 100.0);
    assert!(
        share < 0.30,
        "the paused child spins: {:.0}% CPU",
        share * 100.0
    );
    let accepted_before: usize = log
        .iter()
        .filter_map(|l| l.strip_prefix("accepted "))
        .map(|n| n.parse().unwrap())
        .max()
        .unwrap();
    assert!(accepted_before < CLIENTS, "the fd limit did not bite");

    // Hang up: the child closes its side, and must accept the rest.
    drop(clients);
    wait_for(&|l| l.starts_with("resumed "), &mut log);
    wait_for(&|l| l == format!("accepted {CLIENTS}"), &mut log);
    // And new clients still get in.
    let _late = TcpStream::connect(("127.0.0.1", port)).unwrap();
    wait_for(&|l| l == format!("accepted {}", CLIENTS + 1), &mut log);
    drop(child);
}

/// The child's user + system CPU time so far.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The command name (field 2) may hold spaces; fields after it are plain.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of the whole line.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf takes no pointers.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_secs_f64(ticks as f64 / hz as f64)
}
