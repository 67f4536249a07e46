//! From a request path to a file under the root, refusing every way out
//! of it.

use std::ffi::OsStr;
use std::io::ErrorKind;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Why a path is not served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Malformed: bad percent-encoding, an encoded `/` or `\`, a NUL.
    BadRequest(&'static str),
    /// A `..` segment (plain or percent-encoded), or a path that leaves
    /// the root once symlinks are resolved.
    Forbidden(&'static str),
    /// Nothing there.
    NotFound,
}

/// Decodes `%XX` escapes of one segment.
fn percent_decode(segment: &str) -> Result<Vec<u8>, Refusal> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or(Refusal::BadRequest("bad percent-encoding"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// The file `request_path` names under `root` (which must be canonical):
/// each segment percent-decoded on its own (so an encoded slash cannot
/// make a new segment), `.` and empty segments skipped, `..` refused
/// outright (rather than resolved), then the result canonicalized and
/// required to stay under `root` (which refuses symlinks that point out).
pub fn resolve(root: &Path, request_path: &str) -> Result<PathBuf, Refusal> {
    let Some(rest) = request_path.strip_prefix('/') else {
        return Err(Refusal::BadRequest("the path must start with /"));
    };
    let mut path = root.to_path_buf();
    for segment in rest.split('/') {
        let decoded = percent_decode(segment)?;
        if decoded.iter().any(|&b| b == b'/' || b == b'\\') {
            return Err(Refusal::BadRequest("encoded slash in the path"));
        }
        if decoded.contains(&0) {
            return Err(Refusal::BadRequest("NUL in the path"));
        }
        match decoded.as_slice() {
            b"" | b"." => {}
            b".." => return Err(Refusal::Forbidden("'..' in the path")),
            name => path.push(OsStr::from_bytes(name)),
        }
    }
    let real = path.canonicalize().map_err(|e| match e.kind() {
        ErrorKind::PermissionDenied => Refusal::Forbidden("permission denied"),
        _ => Refusal::NotFound,
    })?;
    if !real.starts_with(root) {
        return Err(Refusal::Forbidden("the path leaves the root"));
    }
    Ok(real)
}
