//! What the client keeps in the loop's extension slot: clients, their
//! pools and connections, and every request in flight.

use std::cell::Cell;
use std::collections::{HashMap, VecDeque};
use std::io;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;

use evloop::{Ctx, TimerId};
use evloop_buffer::{Buffer, StreamId};
use evloop_dns::connect::ConnectId;
use evloop_dns::resolver::ResolverId;
use http::{HeaderMap, Method, Uri, Version};

use super::{
    ClientError, ClientOptions, ConnectionInfo, RequestBody, RequestId, Response, ResponseChunk,
};
use crate::proto::{ChunkedDecoder, FieldCache, ResponseHead, ResponseScanner};

/// A multiply-rotate hash for the engine's maps: their keys are its own
/// counters and the application's host names, nothing a peer chooses, so
/// SipHash's flood resistance buys nothing and costs a few percent of a
/// request.
#[derive(Default, Clone, Copy)]
pub(crate) struct FastHasher(u64);

impl FastHasher {
    #[inline]
    fn add(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl std::hash::Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Whole words, then the rest a byte at a time: no copy into a
        // scratch word (a memcpy call per word).
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            self.add(u64::from_le_bytes([
                w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7],
            ]));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            self.add(rest.iter().fold(0, |n, &b| n << 8 | u64::from(b)));
        }
    }
    fn write_u8(&mut self, n: u8) {
        self.add(n.into());
    }
    fn write_u16(&mut self, n: u16) {
        self.add(n.into());
    }
    fn write_u32(&mut self, n: u32) {
        self.add(n.into());
    }
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// The engine's maps.
pub(crate) type Map<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<FastHasher>>;

pub(crate) type DoneCb<T> = dyn FnOnce(&mut Ctx<'_, T>, &mut T, Result<Response, ClientError>);
pub(crate) type ChunkCb<T> = dyn FnMut(&mut Ctx<'_, T>, &mut T, RequestId, ResponseChunk);
pub(crate) type DrainCb<T> = dyn FnMut(&mut Ctx<'_, T>, &mut T, RequestId);

/// The crate's client extension value in a loop.
pub(crate) struct Clients<T: 'static> {
    pub(crate) next: u64,
    pub(crate) clients: Map<u64, ClientState>,
    pub(crate) conns: Map<u64, Conn>,
    /// Boxed: a request record is large, and moving it into and out of
    /// the map cost more than the allocation.
    pub(crate) reqs: Map<u64, Box<Req<T>>>,
    /// Stopped request timers for later requests, with the cell that
    /// tells each which request it works for.
    pub(crate) spare_timers: Vec<(TimerId, Rc<Cell<u64>>)>,
    /// Records of requests read to their end, for later requests (the
    /// allocation of a record cost more than reusing one).
    // The boxes are what is kept: they go back into `reqs` as they are.
    #[allow(clippy::vec_box)]
    pub(crate) spare_reqs: Vec<Box<Req<T>>>,
}

impl<T: 'static> Default for Clients<T> {
    fn default() -> Self {
        Clients {
            next: 1,
            clients: Map::default(),
            conns: Map::default(),
            reqs: Map::default(),
            spare_timers: Vec::new(),
            spare_reqs: Vec::new(),
        }
    }
}

impl<T: 'static> Clients<T> {
    pub(crate) fn id(&mut self) -> u64 {
        self.next += 1;
        self.next
    }
}

/// Where a connection goes: the pool it belongs to.
#[derive(Debug, Clone, Eq)]
pub(crate) enum PoolKey {
    /// `http://host:port` (host lowercase, IPv6 without brackets). The
    /// host is shared: the requests of a pool reuse its key.
    Tcp {
        host: Rc<str>,
        port: u16,
    },
    Unix(PathBuf),
}

impl PartialEq for PoolKey {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            // Keys of one pool mostly share their host: no text compare.
            (PoolKey::Tcp { host: a, port: p }, PoolKey::Tcp { host: b, port: q }) => {
                p == q && (Rc::ptr_eq(a, b) || a == b)
            }
            (PoolKey::Unix(a), PoolKey::Unix(b)) => a == b,
            _ => false,
        }
    }
}

// By content, as `eq` compares.
impl std::hash::Hash for PoolKey {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        match self {
            PoolKey::Tcp { host, port } => {
                h.write_u8(0);
                host.hash(h);
                port.hash(h);
            }
            PoolKey::Unix(path) => {
                h.write_u8(1);
                path.hash(h);
            }
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Pool {
    /// Idle connections, the most recently used last.
    pub(crate) idle: Vec<u64>,
    /// Connections open or opening (idle ones included).
    pub(crate) open: usize,
}

pub(crate) struct ClientState {
    pub(crate) opts: ClientOptions,
    pub(crate) resolver: Option<ResolverId>,
    pub(crate) pools: Map<PoolKey, Pool>,
    pub(crate) total: usize,
    /// Requests waiting for a connection, oldest first.
    pub(crate) queue: VecDeque<u64>,
    /// The pool key of the last request sent, for the next one to the
    /// same place (most are) to share.
    pub(crate) last_key: Option<PoolKey>,
    pub(crate) shut: bool,
}

pub(crate) enum ConnPhase {
    /// Being made for request `for_req` (which another connection may
    /// serve first; then this one goes to the pool).
    Connecting {
        for_req: Option<u64>,
        dns: Option<ConnectId>,
        /// When the client started on it (before any DNS lookup).
        since: Instant,
    },
    Idle,
    Busy(u64),
}

pub(crate) struct Conn {
    pub(crate) client: u64,
    pub(crate) key: PoolKey,
    pub(crate) stream: Option<StreamId>,
    pub(crate) phase: ConnPhase,
    /// Responses read to their end on it: a request on a connection with
    /// `served > 0` may meet the keep-alive race.
    pub(crate) served: u32,
    /// Its stream does not keep the loop running (it has been idle; while
    /// it reads for a request, the request's timer does).
    pub(crate) unrefd: bool,
    /// The peer sent EOF (reading has stopped), or the socket failed.
    pub(crate) eof: bool,
    pub(crate) error: Option<io::Error>,
    /// Reading is switched off (a streamed body not being taken).
    pub(crate) read_off: bool,
    /// The fields of the last response read on it.
    pub(crate) fields: FieldCache,
    /// Its addresses and connect time (`reused` unset), noted once it is
    /// made, for each request's response to copy.
    pub(crate) info: ConnectionInfo,
}

/// A streamed request body's sending side.
pub(crate) struct OutStream<T: 'static> {
    pub(crate) chunked: bool,
    pub(crate) declared: Option<u64>,
    pub(crate) sent: u64,
    pub(crate) finished: bool,
    pub(crate) on_drain: Option<Box<DrainCb<T>>>,
}

/// How the response body is delimited, once the head is read.
pub(crate) enum In {
    Length(u64),
    Chunked(Box<(ChunkedDecoder, Buffer)>),
    Close,
}

pub(crate) struct Req<T: 'static> {
    pub(crate) client: u64,
    pub(crate) key: PoolKey,
    pub(crate) method: Method,
    pub(crate) url: Uri,
    pub(crate) version: Version,
    /// The caller's fields (for a redirect's next request).
    pub(crate) headers: HeaderMap,
    pub(crate) unix: Option<PathBuf>,
    pub(crate) connect_to: Option<(String, u16)>,
    /// The request head as sent (copied to each connection it goes on:
    /// a shared `Bytes` would cost an allocation to share).
    pub(crate) wire_head: Vec<u8>,
    pub(crate) body: RequestBody,
    pub(crate) out: Option<OutStream<T>>,
    /// Framed request-body bytes not handed to the connection yet (no
    /// connection, or waiting for `100 Continue`).
    pub(crate) held: Buffer,
    /// The body is held back for `100 Continue`.
    pub(crate) expect_wait: bool,
    /// The request was sent with `Expect: 100-continue`.
    pub(crate) expect: bool,
    /// The server answered before the body was sent: it is dropped, and
    /// the connection closes after the response.
    pub(crate) body_abandoned: bool,
    /// The body (fixed, or streamed and finished) is all on the connection.
    pub(crate) body_queued: bool,
    pub(crate) stream_response: bool,
    pub(crate) upgrade: bool,
    /// The request asks for the connection to close after it.
    pub(crate) close: bool,
    pub(crate) cb: Option<Box<DoneCb<T>>>,
    pub(crate) read_cb: Option<Box<ChunkCb<T>>>,
    pub(crate) conn: Option<u64>,
    /// The connection it was last put on, for its response.
    pub(crate) connection: ConnectionInfo,
    /// A connection being made for it.
    pub(crate) connecting: Option<u64>,
    pub(crate) fresh_only: bool,
    pub(crate) retried: bool,
    pub(crate) timer: TimerId,
    /// The request the timer works for: set to 0 when it is recycled.
    pub(crate) timer_rid: Rc<Cell<u64>>,
    pub(crate) armed: Option<Instant>,
    /// The timer is armed only to keep the loop running.
    pub(crate) hold: bool,
    pub(crate) started: Instant,
    pub(crate) timeout: Option<std::time::Duration>,
    pub(crate) head_since: Option<Instant>,
    pub(crate) body_since: Instant,
    pub(crate) continue_since: Option<Instant>,
    pub(crate) got_bytes: bool,
    pub(crate) scanner: ResponseScanner,
    pub(crate) informational: Vec<ResponseHead>,
    pub(crate) head: Option<ResponseHead>,
    pub(crate) framing: Option<In>,
    pub(crate) collected: Buffer,
    /// The head went to the callback (streamed response).
    pub(crate) head_delivered: bool,
    pub(crate) paused: bool,
    pub(crate) kicked: bool,
    /// The streamed head's callback is running, called from [`pump`]
    /// (which goes on reading once it returns, so `read_body` and
    /// `resume_body` need not have the loop come back for the input).
    ///
    /// [`pump`]: super::conn::pump
    pub(crate) in_head_cb: bool,
    pub(crate) pending_error: Option<ClientError>,
    pub(crate) redirects: usize,
    pub(crate) max_redirects: u32,
    /// A redirect to follow once this response's body is read.
    pub(crate) redirect: Option<Box<super::follow::Next>>,
    /// Bytes of a redirect's body read and dropped.
    pub(crate) discarded: u64,
}

pub(crate) fn clients<'c, T: 'static>(ctx: &'c mut Ctx<'_, T>) -> Option<&'c mut Clients<T>> {
    ctx.ext_mut::<Clients<T>>()
}

pub(crate) fn req<'c, T: 'static>(ctx: &'c mut Ctx<'_, T>, id: u64) -> Option<&'c mut Req<T>> {
    ctx.ext_mut::<Clients<T>>()?
        .reqs
        .get_mut(&id)
        .map(|r| &mut **r)
}

pub(crate) fn conn<'c, T: 'static>(ctx: &'c mut Ctx<'_, T>, id: u64) -> Option<&'c mut Conn> {
    ctx.ext_mut::<Clients<T>>()?.conns.get_mut(&id)
}

pub(crate) fn client<'c, T: 'static>(
    ctx: &'c mut Ctx<'_, T>,
    id: u64,
) -> Option<&'c mut ClientState> {
    ctx.ext_mut::<Clients<T>>()?.clients.get_mut(&id)
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn pool_keys_compare_and_hash_by_content() {
        let hash = |k: &PoolKey| std::hash::BuildHasherDefault::<FastHasher>::default().hash_one(k);
        let tcp = |host: &str, port| PoolKey::Tcp {
            host: host.into(),
            port,
        };
        let a = tcp("example.com", 80);
        let same = tcp("example.com", 80);
        let shared = a.clone();
        assert!(a == same && a == shared);
        assert_eq!(hash(&a), hash(&same));
        let other_port = tcp("example.com", 81);
        let other_host = tcp("example.org", 80);
        assert!(a != other_port && a != other_host);
        assert!(PoolKey::Unix("/a".into()) == PoolKey::Unix("/a".into()));
        assert!(PoolKey::Unix("/a".into()) != a);
        // Words and a tail: every byte counts.
        assert_ne!(
            hash(&PoolKey::Tcp {
                host: "abcdefgh-1".into(),
                port: 1
            }),
            hash(&PoolKey::Tcp {
                host: "abcdefgh-2".into(),
                port: 1
            })
        );
    }
}
