//! The HTTP/1.1 wire rules, without sockets: request heads, body framing, the chunked coding.
