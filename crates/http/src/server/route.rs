//! [`Router`]: which handler answers which request.

use std::fmt;

use evloop::Ctx;
use http::{HeaderValue, Method, Response};

use super::{Body, Request};

/// What a handler returns: a response now, or the promise of one later
/// through the request's [`Responder`](super::Responder).
#[derive(Debug)]
pub enum Reply {
    /// Send this response.
    Now(Response<Body>),
    /// The handler (or a timer, another callback, another thread) answers
    /// later with the request's responder. Until then the connection's
    /// later responses wait (they go out in request order).
    Later,
}

impl From<Response<Body>> for Reply {
    fn from(r: Response<Body>) -> Reply {
        Reply::Now(r)
    }
}

pub(crate) type HandlerFn<T> = dyn FnMut(&mut Ctx<'_, T>, &mut T, Request) -> Reply;

/// One route: a path (exact or prefix), the methods it takes and its
/// handler. Returned by [`Router::exact`] and [`Router::prefix`] to set
/// options.
pub struct Route<T: 'static> {
    pub(crate) path: String,
    pub(crate) prefix: bool,
    pub(crate) methods: Vec<Method>,
    /// The standard methods the route takes, one bit each
    /// ([`standard_bit`]): a request's method is checked without a walk of
    /// `methods`.
    standard: u16,
    pub(crate) handler: Option<Box<HandlerFn<T>>>,
    pub(crate) streaming: bool,
    pub(crate) max_body: Option<u64>,
    pub(crate) any_method: bool,
}

impl<T: 'static> fmt::Debug for Route<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Route")
            .field("path", &self.path)
            .field("prefix", &self.prefix)
            .field("methods", &self.methods)
            .field("streaming", &self.streaming)
            .field("any_method", &self.any_method)
            .finish_non_exhaustive()
    }
}

impl<T: 'static> Route<T> {
    /// The handler is called as soon as the head has arrived, and gets the
    /// body piece by piece through
    /// [`Responder::read_body`](super::Responder::read_body), with
    /// back-pressure; the server's [`Limits::max_body`](crate::proto::Limits)
    /// does not apply (see [`max_body`](Self::max_body)). Without it the
    /// server reads the whole body first (up to `Limits::max_body`, `413`
    /// above) and calls the handler with it.
    pub fn stream_body(&mut self) -> &mut Self {
        self.streaming = true;
        self
    }

    /// The route takes every method, those HTTP does not define included
    /// (WebDAV's `PROPFIND`, `MKCOL`, caches' `PURGE`, ...), whatever its
    /// method list says: what a reverse proxy or a gateway that passes
    /// requests on needs. Without it, a method that neither RFC 9110 nor
    /// a route's list names gets `501 Not Implemented` before any handler
    /// runs (the fallback does not get it either).
    ///
    /// ```
    /// use evloop_http::server::{Body, Router};
    /// use http::Response;
    ///
    /// let mut router: Router<()> = Router::new();
    /// router
    ///     .prefix("/", &[], |_ctx, _, req| {
    ///         Response::new(Body::from(format!("{} passed on", req.method())))
    ///     })
    ///     .any_method();
    /// ```
    pub fn any_method(&mut self) -> &mut Self {
        self.any_method = true;
        self
    }

    /// The largest body this route takes (`413` above it), instead of the
    /// server's `Limits::max_body`; for a streaming route, `None` (its
    /// default) means no limit.
    pub fn max_body(&mut self, max: Option<u64>) -> &mut Self {
        self.max_body = max;
        self
    }
}

/// Routes requests by path to handlers (evhttp's `evhttp_set_cb` and
/// `evhttp_set_gencb`): exact paths first, then the longest matching
/// prefix, then the fallback (`404 Not Found` unless set).
///
/// A route names the methods it takes (an empty list takes any); one that
/// takes `GET` takes `HEAD` too (answered by the `GET` handler, the body
/// left out). A method the route does not take gets `405 Method Not
/// Allowed` with an `Allow` header; a method no route names and that HTTP
/// does not define gets `501 Not Implemented`, unless the route its path
/// leads to takes any method ([`Route::any_method`]).
///
/// `OPTIONS *` asks about the server in general (RFC 9110 9.3.7), not
/// about a path. It goes to a route registered for the path `*`, else to
/// the fallback (a proxy forwards it there); without either, the router
/// answers it with `200 OK` and an `Allow` header listing every method its
/// routes take (and `OPTIONS`), where a path would get `404`.
///
/// ```
/// use evloop_http::server::{Body, Reply, Router};
/// use http::{Method, Response};
///
/// let mut router: Router<u64> = Router::new();
/// router.exact("/", &[Method::GET], |_ctx, hits, _req| {
///     *hits += 1;
///     Response::new(Body::from("home"))
/// });
/// router.prefix("/files/", &[Method::GET, Method::PUT], |_ctx, _, req| {
///     Response::new(Body::from(format!("file {}", &req.path()[7..])))
/// });
/// router.fallback(|_ctx, _, _req| {
///     let mut r = Response::new(Body::from("nothing here"));
///     *r.status_mut() = http::StatusCode::NOT_FOUND;
///     Reply::Now(r)
/// });
/// ```
pub struct Router<T: 'static> {
    pub(crate) routes: Vec<Route<T>>,
    pub(crate) fallback: Option<Box<HandlerFn<T>>>,
    /// Methods that routes name beyond the standard ones.
    extra_methods: Vec<Method>,
}

impl<T: 'static> fmt::Debug for Router<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router")
            .field("routes", &self.routes)
            .field("fallback", &self.fallback.is_some())
            .finish()
    }
}

impl<T: 'static> Default for Router<T> {
    fn default() -> Self {
        Router::new()
    }
}

/// Which handler a request goes to, or which status it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Routed {
    Route(usize),
    Fallback,
    NotFound,
    /// The route at this index does not take the method.
    NotAllowed(usize),
    NotImplemented,
    /// `OPTIONS *` with no route for `*`: the server's own answer.
    ServerOptions,
}

impl<T: 'static> Router<T> {
    /// No routes; everything gets `404` (or `501` for unknown methods).
    pub fn new() -> Self {
        Router {
            routes: Vec::new(),
            fallback: None,
            extra_methods: Vec::new(),
        }
    }

    /// Routes requests whose path is exactly `path` (the query is not part
    /// of it) and whose method is in `methods` (any if empty) to `handler`.
    /// A later route for the same path is never reached.
    pub fn exact<F, R>(&mut self, path: &str, methods: &[Method], handler: F) -> &mut Route<T>
    where
        F: FnMut(&mut Ctx<'_, T>, &mut T, Request) -> R + 'static,
        R: Into<Reply>,
    {
        self.add(path, false, methods, handler)
    }

    /// Routes requests whose path starts with `prefix` to `handler`; the
    /// longest matching prefix wins, exact routes go first.
    pub fn prefix<F, R>(&mut self, prefix: &str, methods: &[Method], handler: F) -> &mut Route<T>
    where
        F: FnMut(&mut Ctx<'_, T>, &mut T, Request) -> R + 'static,
        R: Into<Reply>,
    {
        self.add(prefix, true, methods, handler)
    }

    /// The handler for requests no route matches, any method (default:
    /// `404 Not Found`).
    pub fn fallback<F, R>(&mut self, handler: F)
    where
        F: FnMut(&mut Ctx<'_, T>, &mut T, Request) -> R + 'static,
        R: Into<Reply>,
    {
        self.fallback = Some(wrap(handler));
    }

    fn add<F, R>(
        &mut self,
        path: &str,
        prefix: bool,
        methods: &[Method],
        handler: F,
    ) -> &mut Route<T>
    where
        F: FnMut(&mut Ctx<'_, T>, &mut T, Request) -> R + 'static,
        R: Into<Reply>,
    {
        for m in methods {
            if !is_standard(m) && !self.extra_methods.contains(m) {
                self.extra_methods.push(m.clone());
            }
        }
        let standard = methods
            .iter()
            .filter_map(standard_bit)
            .fold(0, |bits, b| bits | b);
        self.routes.push(Route {
            path: path.to_owned(),
            prefix,
            methods: methods.to_vec(),
            standard,
            handler: Some(wrap(handler)),
            streaming: false,
            max_body: None,
            any_method: false,
        });
        let last = self.routes.len() - 1;
        &mut self.routes[last]
    }

    pub(crate) fn route(&self, method: &Method, path: &str) -> Routed {
        let known = is_standard(method) || self.extra_methods.contains(method);
        let found = self.find(path);
        if found.is_none() && self.fallback.is_none() && path == "*" && *method == Method::OPTIONS {
            return Routed::ServerOptions;
        }
        if !known {
            return match found {
                Some(i) if self.routes[i].any_method => Routed::Route(i),
                _ => Routed::NotImplemented,
            };
        }
        match found {
            Some(i) if self.routes[i].any_method || self.routes[i].takes(method) => {
                Routed::Route(i)
            }
            Some(i) => Routed::NotAllowed(i),
            None if self.fallback.is_some() => Routed::Fallback,
            None => Routed::NotFound,
        }
    }

    /// The route for `path`: the exact one, else the longest prefix.
    fn find(&self, path: &str) -> Option<usize> {
        self.routes
            .iter()
            .position(|r| !r.prefix && r.path == path)
            .or_else(|| {
                self.routes
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.prefix && path.starts_with(r.path.as_str()))
                    .max_by_key(|(_, r)| r.path.len())
                    .map(|(i, _)| i)
            })
    }

    /// The `Allow` header of `OPTIONS *`: every method a route takes (all
    /// of HTTP's if a route takes any), `HEAD` with `GET`, and `OPTIONS`.
    pub(crate) fn allow_all(&self) -> HeaderValue {
        let any = self
            .routes
            .iter()
            .any(|r| r.any_method || r.methods.is_empty());
        let mut bits = OPTIONS_BIT;
        for r in &self.routes {
            bits |= r.standard;
            if r.standard & GET_BIT != 0 {
                bits |= HEAD_BIT;
            }
        }
        let mut names: Vec<&str> = STANDARD
            .iter()
            .filter(|m| any || standard_bit(m).is_some_and(|b| bits & b != 0))
            .map(Method::as_str)
            .collect();
        names.extend(self.extra_methods.iter().map(Method::as_str));
        HeaderValue::from_str(&names.join(", ")).unwrap_or(HeaderValue::from_static("OPTIONS"))
    }

    /// The `Allow` header of route `i`.
    pub(crate) fn allow(&self, i: usize) -> HeaderValue {
        let methods = &self.routes[i].methods;
        let mut s = String::new();
        for m in methods {
            if !s.is_empty() {
                s.push_str(", ");
            }
            s.push_str(m.as_str());
        }
        if methods.contains(&Method::GET) && !methods.contains(&Method::HEAD) {
            s.push_str(", HEAD");
        }
        HeaderValue::from_str(&s).unwrap_or(HeaderValue::from_static(""))
    }
}

fn wrap<T: 'static, F, R>(mut handler: F) -> Box<HandlerFn<T>>
where
    F: FnMut(&mut Ctx<'_, T>, &mut T, Request) -> R + 'static,
    R: Into<Reply>,
{
    Box::new(move |ctx, data, req| handler(ctx, data, req).into())
}

impl<T: 'static> Route<T> {
    /// Whether the route's method list takes `m` (HEAD where it takes GET).
    fn takes(&self, m: &Method) -> bool {
        if self.methods.is_empty() {
            return true;
        }
        match standard_bit(m) {
            Some(bit) => {
                let head_by_get = bit == HEAD_BIT && self.standard & GET_BIT != 0;
                self.standard & bit != 0 || head_by_get
            }
            None => self.methods.contains(m),
        }
    }
}

const GET_BIT: u16 = 1;
const HEAD_BIT: u16 = 2;

/// HTTP's methods (RFC 9110 and RFC 5789's PATCH), in the order `Allow`
/// lists them.
const STANDARD: [Method; 9] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::CONNECT,
    Method::OPTIONS,
    Method::TRACE,
    Method::PATCH,
];

/// `OPTIONS`'s bit.
const OPTIONS_BIT: u16 = 64;

/// A bit for each of [`STANDARD`]; `None` for any other method.
fn standard_bit(m: &Method) -> Option<u16> {
    Some(match *m {
        Method::GET => GET_BIT,
        Method::HEAD => HEAD_BIT,
        Method::POST => 4,
        Method::PUT => 8,
        Method::DELETE => 16,
        Method::CONNECT => 32,
        Method::OPTIONS => OPTIONS_BIT,
        Method::TRACE => 128,
        Method::PATCH => 256,
        _ => return None,
    })
}

/// The methods RFC 9110 (and RFC 5789, PATCH) define.
fn is_standard(m: &Method) -> bool {
    standard_bit(m).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(_: &mut Ctx<'_, ()>, _: &mut (), _: Request) -> Reply {
        Reply::Later
    }

    #[test]
    fn method_bits_agree_with_the_method_list() {
        let purge = Method::from_bytes(b"PURGE").unwrap();
        // Each of HTTP's methods has a bit of its own.
        let bits: Vec<u16> = STANDARD.iter().filter_map(standard_bit).collect();
        assert_eq!(bits.len(), STANDARD.len());
        assert_eq!(
            bits.iter().fold(0, |a, b| a | b).count_ones() as usize,
            bits.len()
        );
        let mut all = STANDARD.to_vec();
        all.extend([purge.clone(), Method::from_bytes(b"get").unwrap()]);
        let lists: [&[Method]; 6] = [
            &[],
            &[Method::GET],
            &[Method::HEAD],
            &[Method::POST, Method::PUT],
            &[purge.clone(), Method::DELETE],
            &all,
        ];
        for list in lists {
            let mut r: Router<()> = Router::new();
            r.exact("/", list, ok);
            for m in &all {
                let want = list.is_empty()
                    || list.contains(m)
                    || (*m == Method::HEAD && list.contains(&Method::GET));
                assert_eq!(r.routes[0].takes(m), want, "{list:?} {m}");
            }
        }
    }

    #[test]
    fn exact_then_longest_prefix_then_fallback() {
        let mut r: Router<()> = Router::new();
        r.prefix("/a/", &[], ok);
        r.prefix("/a/b/", &[Method::GET], ok);
        r.exact("/a/b/c", &[Method::POST], ok);
        assert_eq!(r.route(&Method::POST, "/a/b/c"), Routed::Route(2));
        assert_eq!(r.route(&Method::GET, "/a/b/x"), Routed::Route(1));
        assert_eq!(r.route(&Method::HEAD, "/a/b/x"), Routed::Route(1));
        assert_eq!(r.route(&Method::PUT, "/a/b/x"), Routed::NotAllowed(1));
        assert_eq!(r.allow(1), "GET, HEAD");
        assert_eq!(r.route(&Method::DELETE, "/a/x"), Routed::Route(0));
        assert_eq!(r.route(&Method::GET, "/z"), Routed::NotFound);
        let purge = Method::from_bytes(b"PURGE").unwrap();
        assert_eq!(r.route(&purge, "/a/x"), Routed::NotImplemented);
        r.fallback(ok);
        assert_eq!(r.route(&Method::GET, "/z"), Routed::Fallback);
    }

    #[test]
    fn an_any_method_route_takes_unknown_methods() {
        let mut r: Router<()> = Router::new();
        r.prefix("/dav/", &[Method::GET], ok).any_method();
        r.prefix("/", &[Method::GET], ok);
        r.fallback(ok);
        let propfind = Method::from_bytes(b"PROPFIND").unwrap();
        assert_eq!(r.route(&propfind, "/dav/x"), Routed::Route(0));
        assert_eq!(r.route(&Method::DELETE, "/dav/x"), Routed::Route(0));
        // Other routes and the fallback keep the default.
        assert_eq!(r.route(&propfind, "/x"), Routed::NotImplemented);
        assert_eq!(r.route(&Method::DELETE, "/x"), Routed::NotAllowed(1));
    }

    #[test]
    fn a_method_a_route_names_is_known() {
        let mut r: Router<()> = Router::new();
        let purge = Method::from_bytes(b"PURGE").unwrap();
        r.exact("/c", std::slice::from_ref(&purge), ok);
        assert_eq!(r.route(&purge, "/c"), Routed::Route(0));
        assert_eq!(r.route(&purge, "/d"), Routed::NotFound);
    }
}
