//! One exchange: the client's request sent on to an upstream, the
//! upstream's response sent back, bodies streamed both ways with
//! back-pressure, errors turned into 502/503/504.

use bytes::{Bytes, BytesMut};
use evloop::Ctx;
use evloop_buffer::{StreamExt, StreamId};
use evloop_http::client::{
    ClientError, ClientExt, RequestBody, RequestId, RequestOptions, Response as UpResponse,
    ResponseChunk, TimeoutKind,
};
use evloop_http::server::{Body, BodyChunk, Reply, Request, Responder};
use http::header::{CONNECTION, CONTENT_TYPE, UPGRADE};
use http::uri::{PathAndQuery, Scheme};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, Uri};

use crate::headers;
use crate::hops;
use crate::tunnel;
use crate::Proxy;

/// Bytes of a body allowed to wait on one side before the other side is
/// paused (the server's `buffered` for responses, the client's for
/// uploads). With what the sockets hold, this bounds the memory one
/// exchange takes, however slow the reader is.
const HIGH_WATER: usize = 256 * 1024;

/// A response whose `Content-Length` is at most this is read whole and
/// sent with its length (so that an upstream failing before its end still
/// gets the client a 502); a longer one is streamed with its length, one
/// without a length streamed chunked (to HTTP/1.1 clients).
const SMALL_BODY: u64 = 64 * 1024;

/// What the response callback needs to know about the exchange.
struct Exchange {
    responder: Responder,
    /// The upstream this attempt went to.
    upstream: usize,
    /// A HEAD request: the response has no body whatever it says.
    head: bool,
    /// For a request without a body when there are other upstreams: what
    /// is needed to send it again if this upstream cannot be reached
    /// (nothing of it reached this one).
    retry: Option<Box<Retry>>,
}

struct Retry {
    method: Method,
    target: PathAndQuery,
    headers: HeaderMap,
    tried: Vec<usize>,
}

/// The handler of every route: `streaming` for the route that streams
/// request bodies (every path), false for the fallback (`OPTIONS *`),
/// whose body the server has read already.
pub fn handle(ctx: &mut Ctx<'_, Proxy>, p: &mut Proxy, mut req: Request, streaming: bool) -> Reply {
    let responder = req.responder();
    if req.method() == Method::CONNECT {
        // A reverse proxy names its upstreams itself.
        return Reply::Now(error_response(StatusCode::METHOD_NOT_ALLOWED));
    }
    // Looked at only for the two methods it concerns: the field map of
    // other requests is not built for it.
    let hops = if hops::applies(req.method()) {
        match hops::limit(req.headers()) {
            Some(0) => return Reply::Now(hops::final_answer(&req)),
            n => n,
        }
    } else {
        None
    };
    let has_body = req.has_body();
    let body = if !streaming {
        RequestBody::Bytes(req.take_body())
    } else if has_body {
        RequestBody::Stream
    } else {
        RequestBody::Empty
    };
    let peer = req.peer_addr().map(|a| a.ip());
    let version = req.version();
    let (parts, _) = req.into_http().into_parts();
    let mut headers = parts.headers;
    if let Some(n) = hops {
        hops::decrement(&mut headers, n);
    }
    let upgrade = headers::to_upstream(&mut headers, version, peer, &mut p.peer_text);
    if let Some(protocols) = upgrade {
        // The one hop-by-hop field that is passed on, when asked for
        // (the client adds `Connection: upgrade` with it).
        headers.insert(UPGRADE, protocols);
    }
    let target = parts
        .uri
        .into_parts()
        .path_and_query
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let Some(upstream) = p.upstreams.pick(ctx.now(), &[]) else {
        return Reply::Now(error_response(StatusCode::BAD_GATEWAY));
    };
    // Only a request without a body is sent again (the retry sends none).
    let retry = (matches!(body, RequestBody::Empty) && p.upstreams.len() > 1).then(|| {
        Box::new(Retry {
            method: parts.method.clone(),
            target: target.clone(),
            headers: headers.clone(),
            tried: Vec::new(),
        })
    });
    let ex = Exchange {
        responder,
        upstream,
        head: parts.method == Method::HEAD,
        retry,
    };
    let rid = match send(ctx, p, ex, parts.method, target, headers, body) {
        Ok(rid) => rid,
        Err(status) => return Reply::Now(error_response(status)),
    };
    if streaming && has_body {
        pump_upload(ctx, responder, rid);
    }
    Reply::Later
}

/// Sends one attempt of the exchange to upstream `ex.upstream`.
fn send(
    ctx: &mut Ctx<'_, Proxy>,
    p: &mut Proxy,
    ex: Exchange,
    method: Method,
    target: PathAndQuery,
    headers: HeaderMap,
    body: RequestBody,
) -> Result<RequestId, StatusCode> {
    let up = p.upstreams.get(ex.upstream);
    let mut uri = http::uri::Parts::default();
    uri.scheme = Some(Scheme::HTTP);
    uri.authority = Some(up.authority());
    uri.path_and_query = Some(target);
    let uri = Uri::from_parts(uri).map_err(|_| StatusCode::BAD_REQUEST)?;
    let mut opts = RequestOptions::new().stream_response(true);
    if let Some(path) = up.unix_path() {
        opts = opts.unix_socket(path);
    }
    let mut req = http::Request::new(body);
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.headers_mut() = headers;
    let name = p.log_errors.then(|| up.to_string());
    let responder = ex.responder;
    let mut client = ctx
        .client(p.client)
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)?;
    let rid = client
        .send_with(req, opts, move |ctx, p, res| match res {
            Ok(resp) => on_response(ctx, p, ex, resp),
            Err(e) => on_error(ctx, p, ex, e),
        })
        .map_err(|e| {
            if let Some(name) = name {
                eprintln!("proxy: upstream {name}: cannot send: {e}");
            }
            status_for(&e)
        })?;
    // The client left before its answer was complete: the upstream
    // request (and its connection) is given up too. Replaces the callback
    // of an earlier attempt.
    let _ = responder.on_close(ctx, move |ctx, _, _| {
        rid.cancel(ctx);
    });
    Ok(rid)
}

/// The request body, from the client to the upstream: the client is
/// paused while the upstream connection has `HIGH_WATER` bytes waiting,
/// and resumed when they have gone out.
fn pump_upload(ctx: &mut Ctx<'_, Proxy>, responder: Responder, rid: RequestId) {
    let read = responder.read_body(ctx, move |ctx, _, r, chunk| match chunk {
        BodyChunk::Data(data) => {
            if rid.send_body(ctx, data).is_ok() && rid.buffered(ctx) > HIGH_WATER {
                let _ = r.pause_body(ctx);
            }
        }
        BodyChunk::End(trailers) => {
            let _ = rid.finish_body(ctx, trailers);
        }
        // The client is gone, or its body broke: so is the point of the
        // upstream request, and no answer will come for the client.
        BodyChunk::Aborted => {
            rid.cancel(ctx);
            let _ = r.abort(ctx);
        }
    });
    if read.is_err() {
        rid.cancel(ctx);
        return;
    }
    let _ = rid.on_drain(ctx, move |ctx, _, _| {
        let _ = responder.resume_body(ctx);
    });
}

fn on_error(ctx: &mut Ctx<'_, Proxy>, p: &mut Proxy, mut ex: Exchange, e: ClientError) {
    let now = ctx.now();
    let unreachable = matches!(
        e,
        ClientError::Connect(_)
            | ClientError::Resolve(_)
            | ClientError::Timeout(TimeoutKind::Connect)
    );
    if p.log_errors {
        eprintln!("proxy: upstream {}: {e}", p.upstreams.get(ex.upstream));
    }
    if unreachable {
        p.upstreams.failed(ex.upstream, now);
        // Nothing reached the upstream: another one may take the request.
        if let Some(mut retry) = ex.retry.take() {
            retry.tried.push(ex.upstream);
            if let Some(next) = p.upstreams.pick(now, &retry.tried) {
                let (method, target, headers) = (
                    retry.method.clone(),
                    retry.target.clone(),
                    retry.headers.clone(),
                );
                let responder = ex.responder;
                let again = Exchange {
                    responder,
                    upstream: next,
                    head: ex.head,
                    retry: Some(retry),
                };
                if let Err(status) =
                    send(ctx, p, again, method, target, headers, RequestBody::Empty)
                {
                    let _ = responder.respond(ctx, error_response(status));
                }
                return;
            }
        }
    }
    let _ = ex.responder.respond(ctx, error_response(status_for(&e)));
}

/// What the client gets when the upstream exchange failed before a
/// response head came.
fn status_for(e: &ClientError) -> StatusCode {
    match e {
        ClientError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
        ClientError::Shutdown => StatusCode::SERVICE_UNAVAILABLE,
        ClientError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::BAD_GATEWAY,
    }
}

fn on_response(ctx: &mut Ctx<'_, Proxy>, p: &mut Proxy, ex: Exchange, mut resp: UpResponse) {
    p.upstreams.succeeded(ex.upstream);
    if let Some(up) = resp.take_upgrade() {
        switch(ctx, ex.responder, up, resp);
        return;
    }
    let rid = resp.request_id();
    let streaming = resp.is_streaming();
    let version = resp.version();
    let (mut parts, body) = resp.into_http().into_parts();
    let length = headers::to_client(&mut parts.headers, version);
    let responder = ex.responder;
    if !streaming {
        let _ = responder.respond(ctx, Response::from_parts(parts, Body::Bytes(body)));
        return;
    }
    let status = parts.status;
    let bodiless = ex.head
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    if bodiless || length.is_some_and(|n| n <= SMALL_BODY) {
        read_whole(ctx, p.log_errors, responder, rid, parts);
    } else {
        stream_back(ctx, p.log_errors, responder, rid, parts);
    }
}

/// `101 Switching Protocols`: the answer goes to the client with its
/// `Upgrade` field, then the two connections are spliced.
fn switch(ctx: &mut Ctx<'_, Proxy>, responder: Responder, up: StreamId, resp: UpResponse) {
    let version = resp.version();
    let (mut parts, _) = resp.into_http().into_parts();
    let protocols = parts.headers.get(UPGRADE).cloned();
    let _ = headers::to_client(&mut parts.headers, version);
    if let Some(v) = protocols {
        parts.headers.insert(UPGRADE, v);
        parts
            .headers
            .insert(CONNECTION, HeaderValue::from_static("upgrade"));
    }
    match responder.upgrade(ctx, Response::from_parts(parts, ())) {
        Ok(down) => tunnel::splice(ctx, down, up),
        Err(_) => {
            // The client's request cannot be upgraded (or it is gone).
            if let Ok(s) = ctx.stream(up) {
                s.close();
            }
            let _ = responder.respond(ctx, error_response(StatusCode::BAD_GATEWAY));
        }
    }
}

/// A small response: read whole, then sent with its `Content-Length`
/// (and a failure before its end is still a 502).
fn read_whole(
    ctx: &mut Ctx<'_, Proxy>,
    log: bool,
    responder: Responder,
    rid: RequestId,
    parts: http::response::Parts,
) {
    let mut head = Some(parts);
    let mut body = Collected::default();
    let read = rid.read_body(ctx, move |ctx, _, _, chunk| match chunk {
        ResponseChunk::Data(data) => body.push(data),
        ResponseChunk::End(_) => {
            if let Some(parts) = head.take() {
                let body = Body::Bytes(body.take());
                let _ = responder.respond(ctx, Response::from_parts(parts, body));
            }
        }
        ResponseChunk::Error(e) => {
            if log {
                eprintln!("proxy: upstream response body: {e}");
            }
            if head.take().is_some() {
                let _ = responder.respond(ctx, error_response(status_for(&e)));
            }
        }
    });
    if let Err(e) = read {
        let _ = responder.respond(ctx, error_response(status_for(&e)));
    }
}

/// A large or open-ended response: the head sent at once (with the
/// upstream's `Content-Length`, which the server keeps), the body as it
/// comes, the upstream paused while the client connection has
/// `HIGH_WATER` bytes waiting. If the upstream fails before the end, the
/// client's response is aborted: its connection closes without the body's
/// end, so it cannot take the part it got for the whole.
fn stream_back(
    ctx: &mut Ctx<'_, Proxy>,
    log: bool,
    responder: Responder,
    rid: RequestId,
    parts: http::response::Parts,
) {
    if responder
        .stream(ctx, Response::from_parts(parts, ()))
        .is_err()
    {
        // The client is gone.
        rid.cancel(ctx);
        return;
    }
    let _ = responder.on_drain(ctx, move |ctx, _, _| {
        let _ = rid.resume_body(ctx);
    });
    let read = rid.read_body(ctx, move |ctx, _, rid, chunk| match chunk {
        ResponseChunk::Data(data) => {
            if responder.send(ctx, data).is_err() {
                // The client is gone (or the upstream sent more than its
                // length, which its client refuses first).
                rid.cancel(ctx);
                let _ = responder.abort(ctx);
            } else if responder.buffered(ctx) > HIGH_WATER {
                let _ = rid.pause_body(ctx);
            }
        }
        ResponseChunk::End(trailers) => {
            let _ = responder.finish_with_trailers(ctx, &trailers);
        }
        ResponseChunk::Error(e) => {
            // The head is out: the status cannot change any more.
            if log {
                eprintln!("proxy: upstream response body: {e}");
            }
            let _ = responder.abort(ctx);
        }
    });
    if read.is_err() {
        rid.cancel(ctx);
    }
}

/// A body read piece by piece; one piece (the common case) is kept as it
/// came, without a copy.
#[derive(Default)]
struct Collected {
    first: Bytes,
    rest: Option<BytesMut>,
}

impl Collected {
    fn push(&mut self, data: Bytes) {
        if self.first.is_empty() && self.rest.is_none() {
            self.first = data;
            return;
        }
        let rest = self.rest.get_or_insert_with(|| {
            let mut b = BytesMut::with_capacity(self.first.len() + data.len());
            b.extend_from_slice(&self.first);
            b
        });
        rest.extend_from_slice(&data);
    }

    fn take(&mut self) -> Bytes {
        match self.rest.take() {
            Some(b) => b.freeze(),
            None => std::mem::take(&mut self.first),
        }
    }
}

/// The proxy's own answer when no upstream response can be passed on.
pub fn error_response(status: StatusCode) -> Response<Body> {
    let reason = status.canonical_reason().unwrap_or("Error");
    let mut r = Response::new(Body::from(format!("{} {reason}\n", status.as_str())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}
