//! The command line: `proxy --listen ADDR --upstream ADDR [--upstream ADDR ...]`
//! and its optional settings.

use std::time::Duration;

use crate::upstreams::Upstream;

pub const USAGE: &str = "\
usage: proxy --listen ADDR --upstream ADDR [--upstream ADDR ...] [options]

  --listen ADDR          where to listen: IP:PORT, [IPv6]:PORT or unix:PATH
  --upstream ADDR        a server to forward to: IP:PORT, HOST:PORT or unix:PATH
                         (several: round robin, a failed one skipped for a while)
  --connect-timeout S    connecting to an upstream (default 5)
  --read-timeout S       an upstream's response head, and each gap in its body
                         (default 60); past it the client gets 504
  --fail-timeout S       how long an upstream whose connect failed is skipped
                         (default 5)
  --max-conns N          connections kept to each upstream (default 256; more
                         requests wait for one)
  --log-errors           one line on stderr per failed exchange
  --ignore-client-abort  a client that shuts its sending side while it waits is
                         still answered (by default it is taken to have left,
                         as nginx does: the upstream request is cancelled)
  -h, --help             this text

It prints `listening on ADDR` once ready; SIGTERM or SIGINT stop it gracefully
(requests in flight finish), a second signal stops it at once.";

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    pub listen: String,
    pub upstreams: Vec<Upstream>,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub fail_timeout: Duration,
    pub max_conns: usize,
    pub log_errors: bool,
    pub ignore_client_abort: bool,
}

/// `Ok(None)` means `--help`.
pub fn parse(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut a = Args {
        listen: String::new(),
        upstreams: Vec::new(),
        connect_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(60),
        fail_timeout: Duration::from_secs(5),
        max_conns: 256,
        log_errors: false,
        ignore_client_abort: false,
    };
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg, None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(None),
            "--listen" => a.listen = value()?,
            "--upstream" => a.upstreams.push(Upstream::parse(&value()?)?),
            "--connect-timeout" => a.connect_timeout = seconds(&name, &value()?)?,
            "--read-timeout" => a.read_timeout = seconds(&name, &value()?)?,
            "--fail-timeout" => a.fail_timeout = seconds(&name, &value()?)?,
            "--max-conns" => {
                let v = value()?;
                a.max_conns = v
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("--max-conns: {v:?} is not a positive number"))?;
            }
            "--log-errors" => a.log_errors = true,
            "--ignore-client-abort" => a.ignore_client_abort = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if a.listen.is_empty() {
        return Err("--listen is required".into());
    }
    if a.upstreams.is_empty() {
        return Err("at least one --upstream is required".into());
    }
    Ok(Some(a))
}

fn seconds(name: &str, v: &str) -> Result<Duration, String> {
    v.parse::<f64>()
        .ok()
        .filter(|s| *s > 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| format!("{name}: {v:?} is not a positive number of seconds"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> Result<Option<Args>, String> {
        parse(s.split_whitespace().map(String::from))
    }

    #[test]
    fn listen_and_upstreams_are_required() {
        assert!(parse_str("--listen 127.0.0.1:1")
            .unwrap_err()
            .contains("--upstream"));
        assert!(parse_str("--upstream 127.0.0.1:1")
            .unwrap_err()
            .contains("--listen"));
        assert_eq!(parse_str("--help"), Ok(None));
    }

    #[test]
    fn takes_several_upstreams_and_the_settings() {
        let a = parse_str(
            "--listen 127.0.0.1:8080 --upstream 127.0.0.1:9000 --upstream=backend.local:80 \
             --upstream unix:/tmp/s --read-timeout 0.5 --fail-timeout=2 --max-conns 8",
        )
        .unwrap()
        .unwrap();
        assert_eq!(a.listen, "127.0.0.1:8080");
        assert_eq!(a.upstreams.len(), 3);
        assert_eq!(a.upstreams[1].to_string(), "backend.local:80");
        assert_eq!(a.upstreams[2].to_string(), "unix:/tmp/s");
        assert_eq!(a.read_timeout, Duration::from_millis(500));
        assert_eq!(a.fail_timeout, Duration::from_secs(2));
        assert_eq!(a.max_conns, 8);
    }

    #[test]
    fn refuses_bad_values() {
        for bad in [
            "--listen a --upstream b:1 --read-timeout x",
            "--listen a --upstream b:1 --read-timeout -1",
            "--listen a --upstream b:1 --max-conns 0",
            "--listen a --upstream nohostport",
            "--listen a --upstream b:1 --frobnicate",
            "--listen a --upstream",
        ] {
            assert!(parse_str(bad).is_err(), "{bad}");
        }
    }
}
