//! Happy-eyeballs connect by host name (RFC 8305).
