//! Following redirects: deciding at the head ([`redirect::next_request`]
//! has the rules), reading the redirect's body to keep the connection,
//! then sending the next request.
//!
//! [`redirect::next_request`]: super::redirect::next_request

use evloop::Ctx;
use http::header::LOCATION;
use http::{HeaderMap, Method, Uri};

use super::finish::{defer_error, reset_response};
use super::pool::dispatch;
use super::prepare::{prepare, Ask};
use super::redirect::{next_request, KeepBody};
use super::state::{clients, req};
use super::{ClientError, RequestBody};

/// The most of a redirect's body read (and dropped) to keep its
/// connection; a longer one closes it.
pub(crate) const MAX_DISCARD: u64 = 64 * 1024;

/// The request a redirect leads to.
pub(crate) struct Next {
    pub(crate) method: Method,
    pub(crate) url: Uri,
    pub(crate) headers: HeaderMap,
    pub(crate) keep_body: bool,
}

pub(crate) enum Follow {
    No,
    /// Its body is read and dropped, then [`restart`] sends the next
    /// request.
    Yes,
    Fail(ClientError),
}

/// At a final head: whether it is a redirect to follow.
pub(crate) fn check<T: 'static>(ctx: &mut Ctx<'_, T>, rid: u64) -> Follow {
    let Some(r) = req::<T>(ctx, rid) else {
        return Follow::No;
    };
    if r.max_redirects == 0 {
        return Follow::No;
    }
    let Some(head) = r.head.as_ref() else {
        return Follow::No;
    };
    if !head.status.is_redirection() {
        return Follow::No;
    }
    let Some(location) = head.headers.get(LOCATION) else {
        return Follow::No;
    };
    let next = next_request(
        &r.method,
        &r.url,
        &r.headers,
        r.body.is_replayable(),
        head.status,
        location,
    );
    match next {
        Ok(None) => Follow::No,
        Err(e) => Follow::Fail(e),
        Ok(Some(_)) if r.redirects >= r.max_redirects as usize => {
            Follow::Fail(ClientError::TooManyRedirects)
        }
        Ok(Some((method, url, headers, keep))) => {
            r.redirect = Some(Box::new(Next {
                method,
                url,
                headers,
                keep_body: keep == KeepBody::Keep,
            }));
            Follow::Yes
        }
    }
}

/// Sends the next request of a redirect (its connection was released or
/// closed already).
pub(crate) fn restart<T: 'static>(ctx: &mut Ctx<'_, T>, rid: u64) {
    let Some(cs) = clients::<T>(ctx) else { return };
    let Some(r) = cs.reqs.get_mut(&rid) else {
        return;
    };
    let Some(next) = r.redirect.take() else {
        return;
    };
    let next = *next;
    let Some(cl) = cs.clients.get_mut(&r.client) else {
        return;
    };
    r.redirects += 1;
    if r.url.authority() != next.url.authority() {
        r.connect_to = None;
    }
    r.method = next.method;
    r.url = next.url;
    r.headers = next.headers;
    if !next.keep_body {
        r.body = RequestBody::Empty;
        r.out = None;
    }
    let ask = Ask {
        method: &r.method,
        url: &r.url,
        version: r.version,
        headers: &r.headers,
        body: &r.body,
        unix: r.unix.as_ref(),
        connect_to: r.connect_to.as_ref(),
        expect_continue: r.expect,
    };
    let mut head = std::mem::take(&mut r.wire_head);
    let p = match prepare(ask, &cl.opts, cl.last_key.as_ref(), &mut head) {
        Ok(p) => p,
        Err(e) => {
            defer_error(ctx, rid, e);
            return;
        }
    };
    r.key = p.key;
    r.wire_head = head;
    r.expect = p.expect;
    r.close = p.close;
    r.upgrade = p.upgrade;
    r.conn = None;
    r.fresh_only = false;
    r.retried = false;
    r.discarded = 0;
    reset_response(r);
    let client = r.client;
    cl.queue.push_front(rid);
    dispatch(ctx, client);
    super::deadline::arm(ctx, rid);
}
