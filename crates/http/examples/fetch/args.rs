//! The command line: curl's options, the few this example takes.

use std::path::PathBuf;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Method, Uri};

pub const USAGE: &str = "\
usage: fetch URL [-X METHOD] [-H 'Name: value']... [-d DATA | -T FILE] [-o FILE]
             [-v] [-i] [-I] [-f] [-s] [-L] [--max-time SECONDS] [--max-redirs N]
             [--limit-rate SPEED] [--unix-socket PATH]

  -X, --request METHOD   the method (default GET; POST with -d, PUT with -T)
  -H, --header 'K: V'    an extra header field (repeatable)
  -d, --data DATA        send DATA as the body (@FILE: the file's bytes, as
                         curl's --data-binary, @- stdin's; Content-Type
                         application/x-www-form-urlencoded unless given)
  -T, --upload-file FILE send FILE as the body, streamed from disk (a URL
                         ending in / gets the file's name appended); -T -
                         streams stdin, chunked, as it is read
  -o, --output FILE      write the body to FILE instead of stdout
  -v, --verbose          request and response heads and timings on stderr
  -i, --include          the response head before the body in the output
  -I, --head             send HEAD and output the response head
  -f, --fail             no body and exit status 22 for a status of 400 or more
  -s, --silent           no error messages (the exit status still tells)
  -L, --location         follow redirects (up to --max-redirs, default 50)
  -m, --max-time S       give up after S seconds (fractions allowed)
      --limit-rate SPEED at most SPEED bytes a second each way (a k, m or
                         g suffix for KiB, MiB, GiB)
      --unix-socket PATH connect to this Unix socket instead of the URL's
                         host and port (which still name the Host field)
  -h, --help             this text

The body goes to stdout as it arrives. Exit status as curl's: 0 when a
response was received (whatever its status), otherwise non-zero with a
message on stderr.";

/// What to send.
#[derive(Debug)]
pub enum Upload {
    None,
    Data(Vec<u8>),
    File(PathBuf),
    Stdin,
}

/// The parsed command line.
#[derive(Debug)]
pub struct Args {
    pub url: Uri,
    pub method: Method,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub upload: Upload,
    pub output: Option<PathBuf>,
    pub verbose: bool,
    pub include: bool,
    pub fail: bool,
    pub silent: bool,
    pub follow: Option<u32>,
    pub max_time: Option<Duration>,
    pub limit_rate: Option<u64>,
    pub unix_socket: Option<PathBuf>,
}

/// A usage error (exit 2) or a malformed URL (exit 3), with its message.
#[derive(Debug, PartialEq, Eq)]
pub enum ArgError {
    Usage(String),
    Url(String),
}

/// `Ok(None)` means `--help`.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Args>, ArgError> {
    let usage = |m: String| ArgError::Usage(m);
    let mut url = None;
    let mut method = None;
    let mut headers = Vec::new();
    let mut upload = Upload::None;
    let mut output = None;
    let mut verbose = false;
    let mut include = false;
    let mut head = false;
    let mut fail = false;
    let mut silent = false;
    let mut location = false;
    let mut max_redirs = 50;
    let mut max_time = None;
    let mut limit_rate = None;
    let mut unix_socket = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| usage(format!("{name} needs a value")))
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(None),
            "-X" | "--request" => {
                let m = value()?;
                method = Some(
                    Method::from_bytes(m.as_bytes())
                        .map_err(|_| usage(format!("invalid method {m:?}")))?,
                );
            }
            "-H" | "--header" => headers.push(header(&value()?)?),
            "-d" | "--data" | "--data-binary" => {
                if !matches!(upload, Upload::None) {
                    return Err(usage("only one of -d and -T".into()));
                }
                let v = value()?;
                upload = Upload::Data(match v.strip_prefix('@') {
                    Some("-") => {
                        let mut all = Vec::new();
                        std::io::Read::read_to_end(&mut std::io::stdin(), &mut all)
                            .map_err(|e| usage(format!("cannot read stdin: {e}")))?;
                        all
                    }
                    Some(path) => std::fs::read(path)
                        .map_err(|e| usage(format!("cannot read {path}: {e}")))?,
                    None => v.into_bytes(),
                });
            }
            "-T" | "--upload-file" => {
                if !matches!(upload, Upload::None) {
                    return Err(usage("only one of -d and -T".into()));
                }
                let v = value()?;
                upload = if v == "-" {
                    Upload::Stdin
                } else {
                    Upload::File(PathBuf::from(v))
                };
            }
            "-o" | "--output" => output = Some(PathBuf::from(value()?)),
            "--unix-socket" => unix_socket = Some(PathBuf::from(value()?)),
            "-v" | "--verbose" => verbose = true,
            "-i" | "--include" => include = true,
            "-I" | "--head" => head = true,
            "-f" | "--fail" => fail = true,
            "-s" | "--silent" => silent = true,
            "-L" | "--location" => location = true,
            "--max-redirs" => {
                let v = value()?;
                max_redirs = v
                    .parse()
                    .map_err(|_| usage(format!("invalid --max-redirs {v:?}")))?;
            }
            "--limit-rate" => {
                let v = value()?;
                limit_rate =
                    Some(speed(&v).ok_or_else(|| usage(format!("invalid --limit-rate {v:?}")))?);
            }
            "-m" | "--max-time" => {
                let v = value()?;
                let secs: f64 = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0 && *s < 1e9)
                    .ok_or_else(|| usage(format!("invalid --max-time {v:?}")))?;
                max_time = Some(Duration::from_secs_f64(secs));
            }
            s if s.starts_with('-') && s.len() > 1 => {
                return Err(usage(format!("unknown option {s}")));
            }
            _ if url.is_some() => return Err(usage(format!("a second URL {arg:?}"))),
            _ => url = Some(arg),
        }
    }
    let url = url.ok_or_else(|| usage("no URL given".into()))?;
    let mut url = parse_url(&url)?;
    if let Upload::File(path) = &upload {
        url = with_file_name(url, path)?;
    }
    let method = method.unwrap_or(match upload {
        Upload::None if head => Method::HEAD,
        Upload::None => Method::GET,
        Upload::Data(_) => Method::POST,
        Upload::File(_) | Upload::Stdin => Method::PUT,
    });
    Ok(Some(Args {
        url,
        method,
        headers,
        upload,
        output,
        verbose,
        include: include || head,
        fail,
        silent,
        follow: location.then_some(max_redirs),
        max_time,
        limit_rate,
        unix_socket,
    }))
}

/// `Name: value` (curl's form; the value may be empty).
/// curl's SPEED: bytes a second, with a k, m or g suffix (powers of 1024),
/// above zero.
fn speed(text: &str) -> Option<u64> {
    let (digits, shift) = match text.char_indices().last()? {
        (i, 'k' | 'K') => (&text[..i], 10),
        (i, 'm' | 'M') => (&text[..i], 20),
        (i, 'g' | 'G') => (&text[..i], 30),
        _ => (text, 0),
    };
    let n: u64 = digits.parse().ok()?;
    n.checked_mul(1 << shift).filter(|&n| n > 0)
}

fn header(h: &str) -> Result<(HeaderName, HeaderValue), ArgError> {
    let bad = || ArgError::Usage(format!("invalid header {h:?} (want 'Name: value')"));
    let (name, value) = h.split_once(':').ok_or_else(bad)?;
    let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?;
    let value = HeaderValue::from_str(value.trim()).map_err(|_| bad())?;
    Ok((name, value))
}

/// An absolute URL; `http://` is assumed when no scheme is given, as curl
/// does. Other schemes are left for the client to refuse (its message
/// says which are spoken).
fn parse_url(s: &str) -> Result<Uri, ArgError> {
    let with_scheme = if s.contains("://") {
        s.to_string()
    } else {
        format!("http://{s}")
    };
    let uri: Uri = with_scheme
        .parse()
        .map_err(|e| ArgError::Url(format!("malformed URL {s:?}: {e}")))?;
    if uri.host().is_none_or(str::is_empty) {
        return Err(ArgError::Url(format!("malformed URL {s:?}: no host")));
    }
    Ok(uri)
}

/// curl's `-T FILE URL/`: the file's name appended to a URL ending in `/`.
fn with_file_name(url: Uri, path: &std::path::Path) -> Result<Uri, ArgError> {
    if !url.path().ends_with('/') || url.query().is_some() {
        return Ok(url);
    }
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return Ok(url);
    };
    let s = format!("{url}{name}");
    s.parse()
        .map_err(|e| ArgError::Url(format!("malformed URL {s:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Option<Args>, ArgError> {
        parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn defaults_and_methods() {
        let a = p(&["http://h/x"]).unwrap().unwrap();
        assert_eq!(a.method, Method::GET);
        assert!(a.follow.is_none() && !a.verbose && a.output.is_none());
        let a = p(&["h:8080/x", "-d", "a=1"]).unwrap().unwrap();
        assert_eq!(a.url, "http://h:8080/x");
        assert_eq!(a.method, Method::POST);
        assert!(matches!(a.upload, Upload::Data(ref d) if d == b"a=1"));
        let a = p(&["-X", "PATCH", "http://h/", "--data=x"])
            .unwrap()
            .unwrap();
        assert_eq!(a.method, Method::PATCH);
        let a = p(&["-T", "/etc/hostname", "http://h/dir/"])
            .unwrap()
            .unwrap();
        assert_eq!(a.method, Method::PUT);
        assert_eq!(a.url, "http://h/dir/hostname");
    }

    #[test]
    fn headers_and_flags() {
        let a = p(&[
            "-H",
            "X-A: 1",
            "-H",
            "x-b:",
            "-v",
            "-L",
            "--max-redirs",
            "3",
            "-m",
            "1.5",
            "-o",
            "out",
            "http://h/",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(a.headers.len(), 2);
        assert_eq!(a.headers[0].0, "x-a");
        assert_eq!(a.headers[0].1, "1");
        assert_eq!(a.headers[1].1, "");
        assert!(a.verbose);
        assert!(!a.include && !a.fail && !a.silent);
        assert_eq!(a.follow, Some(3));
        assert_eq!(a.max_time, Some(Duration::from_millis(1500)));
        assert_eq!(a.output.as_deref(), Some(std::path::Path::new("out")));
        let a = p(&["-I", "-f", "-s", "http://h/"]).unwrap().unwrap();
        assert_eq!(a.method, Method::HEAD);
        assert!(a.include && a.fail && a.silent);
        let a = p(&["-i", "http://h/"]).unwrap().unwrap();
        assert_eq!(a.method, Method::GET);
        assert!(a.include);
    }

    #[test]
    fn errors() {
        for bad in [
            &[][..],
            &["-X"],
            &["--nope", "http://h/"],
            &["http://h/", "http://i/"],
            &["-H", "no colon", "http://h/"],
            &["-d", "a", "-T", "f", "http://h/"],
            &["-m", "-1", "http://h/"],
            &["-m", "nan", "http://h/"],
            &["-X", "BAD METHOD", "http://h/"],
            &["-d", "@/no/such/file", "http://h/"],
        ] {
            assert!(matches!(p(bad), Err(ArgError::Usage(_))), "{bad:?}");
        }
        assert!(matches!(p(&["http://"]), Err(ArgError::Url(_))));
        assert!(matches!(p(&["http://h/a b"]), Err(ArgError::Url(_))));
        assert!(p(&["--help"]).unwrap().is_none());
    }
}
