//! The server: listeners, connections, routing, responses.
