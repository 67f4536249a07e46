//! [`Request`]: one query as the handler sees it, and [`Responder`], the
//! token that answers it later.

use std::net::SocketAddr;

use evloop_buffer::StreamId;
use hickory_proto::op::{Edns, Header, Message, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, Record, RecordType};

use super::{Action, ServerId};

/// The transport a query came over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// A UDP datagram.
    Udp,
    /// A TCP connection (RFC 7766 framing).
    Tcp,
}

/// Where the answer goes: back over UDP to the peer, or into a TCP
/// connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    Udp,
    Tcp(StreamId),
}

/// The smallest UDP payload every DNS client accepts (RFC 1035).
pub const MIN_UDP_PAYLOAD: u16 = 512;

/// A query the server received: the parsed message (always a standard
/// query with exactly one question), who sent it and how.
///
/// The server has already dealt with what no handler should see:
/// responses, unreadable messages (FORMERR or dropped), other opcodes
/// (NOTIMP), several or no questions (FORMERR) and unknown EDNS versions
/// (BADVERS).
#[derive(Debug, Clone)]
pub struct Request {
    pub(crate) message: Message,
    pub(crate) peer: SocketAddr,
    pub(crate) via: Via,
    pub(crate) server: ServerId,
    /// The server's own EDNS payload size, advertised in answers.
    pub(crate) server_payload: u16,
}

impl Request {
    /// The whole query message, as decoded.
    pub fn message(&self) -> &Message {
        &self.message
    }

    /// The query id.
    pub fn id(&self) -> u16 {
        self.message.id()
    }

    /// The question (there is exactly one).
    pub fn question(&self) -> &Query {
        // The server hands over only messages with one question.
        &self.message.queries()[0]
    }

    /// The name asked for, with the case the client sent (0x20 clients
    /// check that the answer echoes it exactly).
    pub fn name(&self) -> &Name {
        self.question().name()
    }

    /// The record type asked for.
    pub fn qtype(&self) -> RecordType {
        self.question().query_type()
    }

    /// The class asked for (almost always `IN`).
    pub fn qclass(&self) -> DNSClass {
        self.question().query_class()
    }

    /// The client's address and port.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// UDP or TCP.
    pub fn transport(&self) -> Transport {
        match self.via {
            Via::Udp => Transport::Udp,
            Via::Tcp(_) => Transport::Tcp,
        }
    }

    /// The server that received it.
    pub fn server(&self) -> ServerId {
        self.server
    }

    /// The client's EDNS record, if it sent one.
    pub fn edns(&self) -> Option<&Edns> {
        self.message.extensions().as_ref()
    }

    /// The largest answer the client takes over UDP: its EDNS payload
    /// size (never below 512), or 512 without EDNS. Larger UDP answers
    /// go out truncated (TC=1, sections emptied).
    pub fn max_udp_payload(&self) -> usize {
        usize::from(
            self.edns()
                .map_or(MIN_UDP_PAYLOAD, |e| e.max_payload().max(MIN_UDP_PAYLOAD)),
        )
    }

    /// The skeleton of an answer: same id, opcode, RD and CD bits, the
    /// question echoed (exact case), QR set, NOERROR, and an OPT record
    /// (with the server's payload size and the query's DO bit) when the
    /// query had one. Add records and return it with
    /// [`Action::Answer`].
    ///
    /// ```
    /// use std::net::Ipv4Addr;
    /// use evloop_dns::server::{Action, Request};
    /// use hickory_proto::rr::{RData, Record, rdata::A};
    ///
    /// fn answer(req: &Request) -> Action {
    ///     let mut msg = req.reply();
    ///     msg.set_authoritative(true);
    ///     msg.add_answer(Record::from_rdata(req.name().clone(), 300, RData::A(A(Ipv4Addr::LOCALHOST))));
    ///     Action::Answer(msg)
    /// }
    /// # let _ = answer;
    /// ```
    pub fn reply(&self) -> Message {
        let mut msg = Message::new();
        msg.set_header(Header::response_from_request(self.message.header()));
        msg.add_query(self.question().clone());
        if let Some(asked) = self.edns() {
            let mut edns = Edns::new();
            edns.set_max_payload(self.server_payload.max(MIN_UDP_PAYLOAD));
            // RFC 3225: the DO bit is copied into the answer.
            edns.set_dnssec_ok(asked.flags().dnssec_ok);
            msg.set_edns(edns);
        }
        msg
    }

    /// [`reply`](Self::reply) with another response code (NXDOMAIN,
    /// SERVFAIL, REFUSED, ...).
    pub fn reply_with(&self, rcode: ResponseCode) -> Message {
        let mut msg = self.reply();
        msg.set_response_code(rcode);
        msg
    }

    /// An answer holding `records` (NOERROR, AA set): shorthand for
    /// [`reply`](Self::reply) plus `add_answers`.
    pub fn answer(&self, records: impl IntoIterator<Item = Record>) -> Action {
        let mut msg = self.reply();
        msg.set_authoritative(true);
        msg.add_answers(records);
        Action::Answer(msg)
    }

    /// A token to answer this query later, from any callback of the same
    /// loop, with
    /// [`ServerExt::respond`](super::ServerExt::respond). Return
    /// [`Action::Defer`] from the handler meanwhile.
    pub fn responder(&self) -> Responder {
        Responder {
            request: self.clone(),
        }
    }
}

/// Answers a query after its handler returned (libevent's
/// `evdns_server_request` kept for `evdns_server_request_respond`). Made by
/// [`Request::responder`], used by
/// [`ServerExt::respond`](super::ServerExt::respond).
#[derive(Debug, Clone)]
pub struct Responder {
    pub(crate) request: Request,
}

impl Responder {
    /// The query this token answers.
    pub fn request(&self) -> &Request {
        &self.request
    }
}
