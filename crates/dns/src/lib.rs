//! DNS for [evloop]: a stub resolver and a server side.
//!
//! - [`config`]: resolver settings, from code, resolv.conf or a hosts file.
//! - [`resolver`]: lookups of any record type on the loop, with retries,
//!   failover, strict reply checks and a cache.
//! - [`connect`]: happy-eyeballs TCP connect by host name (RFC 8305),
//!   giving an evloop-buffer stream.
//! - [`server`]: serve DNS over UDP and TCP with a handler closure
//!   (libevent's `evdns_server_port`).
//!
//! Both ends can live in one loop: here a server answers for
//! `host.example.` and a resolver asks it.
//!
//! ```
//! use std::net::Ipv4Addr;
//! use evloop::{Loop, RunMode};
//! use evloop_dns::config::Config;
//! use evloop_dns::resolver::ResolverExt;
//! use evloop_dns::server::{Action, ServerExt, ServerOptions};
//! use hickory_proto::rr::{rdata::A, RData, Record, RecordType};
//!
//! let mut lp: Loop<Vec<String>> = Loop::new()?;
//! let mut ctx = lp.ctx();
//! let server = ctx.serve_dns("127.0.0.1:0".parse()?, &ServerOptions::new(), |_, _, req| {
//!     if req.name().to_ascii() == "host.example." && req.qtype() == RecordType::A {
//!         let a = RData::A(A(Ipv4Addr::new(192, 0, 2, 1)));
//!         req.answer([Record::from_rdata(req.name().clone(), 60, a)])
//!     } else {
//!         Action::Refuse
//!     }
//! })?;
//! let addr = ctx.dns_server(server)?.local_addr();
//! let r = ctx.new_resolver(Config::default().with_nameserver(addr))?;
//! ctx.resolver(r)?.lookup("host.example.", RecordType::A, move |ctx, out, res| {
//!     out.extend(res.addrs.iter().map(|a| a.to_string()));
//!     ctx.dns_server(server).unwrap().close(); // then run returns
//! });
//! let mut out = Vec::new();
//! lp.run(&mut out, RunMode::Default)?;
//! assert_eq!(out, ["192.0.2.1"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

pub mod config;
pub mod connect;
mod frame;
pub mod resolver;
pub mod server;
