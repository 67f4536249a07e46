//! Following redirects: deciding at the head, restarting after the body.

use evloop::Ctx;
use http::{HeaderMap, Method, Uri};

/// The request a redirect leads to.
pub(crate) struct Next {
    pub(crate) method: Method,
    pub(crate) url: Uri,
    pub(crate) headers: HeaderMap,
    pub(crate) keep_body: bool,
}

/// At a final head: whether it is a redirect to follow (then its body is
/// read and dropped, and [`restart`] sends the next request).
pub(crate) fn check<T: 'static>(_ctx: &mut Ctx<'_, T>, _rid: u64) -> bool {
    false
}

/// Sends the next request of a redirect.
pub(crate) fn restart<T: 'static>(_ctx: &mut Ctx<'_, T>, _data: &mut T, _rid: u64) {}
