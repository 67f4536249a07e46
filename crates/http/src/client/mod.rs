//! The client: requests on the loop, with a keep-alive pool (libevent's
//! evhttp_connection/evhttp_make_request, with what hyper's client and
//! curl add).
//!
//! See the [crate docs](crate#client) for an overview and the evhttp map.

mod body;
mod body_in;
mod body_out;
mod conn;
mod deadline;
mod error;
mod finish;
mod follow;
mod handle;
mod options;
mod pool;
mod prepare;
mod read;
mod response;
mod state;

pub use body::{RequestBody, ResponseChunk};
pub use error::{ClientError, TimeoutKind};
pub use handle::{Client, ClientExt, ClientId, RequestId};
pub use options::{ClientOptions, RequestOptions};
pub use response::Response;
