//! Command line: `--listen`, `-m`, `-c`, `-I`, `--stdio`, `--help`, with
//! memcached's defaults and limits.

use std::net::{SocketAddr, ToSocketAddrs};

/// The help text.
pub const USAGE: &str = "\
usage: memcached [--listen ADDR:PORT] [-m MiB] [-c CONNS] [-I SIZE] [--stdio]

A memcached 1.6 compatible cache server (text and meta protocols) on one
evloop thread.

options:
  --listen ADDR:PORT        address to listen on (default 127.0.0.1:11211)
  -m, --memory-limit MiB    item memory in megabytes (default 64)
  -c, --conn-limit CONNS    max simultaneous connections (default 1024)
  -I, --max-item-size SIZE  max item size, bytes or with a k/m suffix
                            (default 1m; at least 1024, at most 1/2 of -m)
  --stdio                   serve one client on stdin/stdout instead of TCP
  -h, --help                show this help
";

/// The server's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Memory limit for items, in bytes (`-m` is in MiB).
    pub memory_limit: usize,
    /// Most connections open at once.
    pub max_connections: usize,
    /// Largest item, in bytes, as memcached counts it.
    pub item_size_max: usize,
    /// Serve stdin/stdout instead of TCP.
    pub stdio: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 11211)),
            memory_limit: 64 << 20,
            max_connections: 1024,
            item_size_max: 1 << 20,
            stdio: false,
        }
    }
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Args {
    /// Run with this configuration.
    Run(Config),
    /// Print [`USAGE`] and exit.
    Help,
}

/// Parses the arguments after the program name. Options take their value
/// as the next argument or after `=` (`--listen=ADDR:PORT`).
pub fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<Args, String> {
    let mut cfg = Config::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |what: &str| -> Result<String, String> {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs {what}"))
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(Args::Help),
            "--stdio" => cfg.stdio = true,
            "--listen" => {
                let v = value("ADDR:PORT")?;
                cfg.listen = v
                    .to_socket_addrs()
                    .ok()
                    .and_then(|mut a| a.next())
                    .ok_or_else(|| format!("--listen: cannot use {v:?} as ADDR:PORT"))?;
            }
            "-m" | "--memory-limit" => {
                let v = value("a size in MiB")?;
                let mb: usize = v
                    .parse()
                    .map_err(|_| format!("-m: {v:?} is not a number of MiB"))?;
                if mb == 0 {
                    return Err("-m: the memory limit must be at least 1 MiB".into());
                }
                cfg.memory_limit = mb.checked_mul(1 << 20).ok_or("-m: too large")?;
            }
            "-c" | "--conn-limit" => {
                let v = value("a number of connections")?;
                cfg.max_connections = v
                    .parse()
                    .ok()
                    .filter(|&c| c > 0)
                    .ok_or_else(|| format!("-c: {v:?} is not a positive number"))?;
            }
            "-I" | "--max-item-size" => {
                let v = value("a size")?;
                cfg.item_size_max =
                    parse_size(&v).ok_or_else(|| format!("-I: {v:?} is not a size"))?;
            }
            _ => return Err(format!("unknown option {arg:?}")),
        }
    }
    if cfg.item_size_max < 1024 {
        return Err("Item max size cannot be less than 1024 bytes.".into());
    }
    if cfg.item_size_max > 1 << 30 {
        return Err("Cannot set item size limit higher than 1 GB.".into());
    }
    if cfg.item_size_max > cfg.memory_limit / 2 {
        return Err("Cannot set item size limit higher than 1/2 of memory max.".into());
    }
    Ok(Args::Run(cfg))
}

/// A byte count with an optional `k`/`m`/`g` suffix (powers of 1024).
fn parse_size(s: &str) -> Option<usize> {
    let (digits, shift) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 10),
        b'm' | b'M' => (&s[..s.len() - 1], 20),
        b'g' | b'G' => (&s[..s.len() - 1], 30),
        _ => (s, 0),
    };
    digits.parse::<usize>().ok()?.checked_mul(1 << shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    fn run(args: &[&str]) -> Config {
        match parse(args) {
            Ok(Args::Run(c)) => c,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let c = run(&[]);
        assert_eq!(c.listen, "127.0.0.1:11211".parse().unwrap());
        assert_eq!(c.memory_limit, 64 << 20);
        assert_eq!(c.max_connections, 1024);
        assert_eq!(c.item_size_max, 1 << 20);
        assert!(!c.stdio);
    }

    #[test]
    fn all_options() {
        let c = run(&[
            "--listen",
            "127.0.0.1:4000",
            "-m",
            "128",
            "-c",
            "10",
            "-I",
            "2m",
            "--stdio",
        ]);
        assert_eq!(c.listen, "127.0.0.1:4000".parse().unwrap());
        assert_eq!(c.memory_limit, 128 << 20);
        assert_eq!(c.max_connections, 10);
        assert_eq!(c.item_size_max, 2 << 20);
        assert!(c.stdio);
        let c = run(&[
            "--listen=[::1]:5000",
            "--memory-limit=8",
            "--max-item-size=4096",
        ]);
        assert_eq!(c.listen, "[::1]:5000".parse().unwrap());
        assert_eq!(c.memory_limit, 8 << 20);
        assert_eq!(c.item_size_max, 4096);
        assert_eq!(run(&["-I", "512k"]).item_size_max, 512 << 10);
    }

    #[test]
    fn help() {
        assert_eq!(parse(&["--help"]), Ok(Args::Help));
        assert_eq!(parse(&["-m", "10", "-h"]), Ok(Args::Help));
    }

    #[test]
    fn errors() {
        for bad in [
            &["--listen"][..],
            &["--listen", "nonsense"],
            &["-m", "x"],
            &["-m", "0"],
            &["-c", "0"],
            &["-c", "-5"],
            &["-I", "1q"],
            &["-I", "100"],
            &["-I", "2g", "-m", "10000"],
            &["-m", "1"],
            &["--bogus"],
            &["-p", "11211"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(
            parse(&["-m", "1"]),
            Err("Cannot set item size limit higher than 1/2 of memory max.".into())
        );
    }
}
