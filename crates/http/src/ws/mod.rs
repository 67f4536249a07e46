//! WebSocket (RFC 6455) over an upgraded connection.
