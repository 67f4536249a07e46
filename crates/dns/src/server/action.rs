//! [`Action`]: what a handler does with a query, and how an answer
//! becomes bytes on the wire (truncated to fit UDP).

use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};

/// What the server does with a query: the handler's return value.
#[derive(Debug, Clone)]
pub enum Action {
    /// Send this message (usually built from
    /// [`Request::reply`](super::Request::reply)). Over UDP an answer
    /// larger than the client's payload size goes out truncated: TC=1, the
    /// question and OPT kept, every record dropped, so the client asks
    /// again over TCP.
    Answer(Message),
    /// Answer REFUSED (the question echoed).
    Refuse,
    /// Answer with this response code and no records (SERVFAIL, NOTIMP,
    /// FORMERR, NXDOMAIN ...).
    Fail(ResponseCode),
    /// Send nothing: the client times out.
    Drop,
    /// Send these bytes as they are (over TCP with the 2-byte length
    /// prefix added): wrong ids, wrong questions, garbage, for tests of
    /// clients.
    Raw(Vec<u8>),
    /// Carry out each of these in order, e.g. a spoofed answer then the
    /// real one. Over TCP their frames go out in one write.
    Many(Vec<Action>),
    /// Carry out the action after a delay (the loop keeps running).
    Delay(Duration, Box<Action>),
    /// Over TCP, close the connection without answering (queries still
    /// in it are dropped); over UDP the same as [`Drop`](Self::Drop).
    Close,
    /// Nothing now: the handler kept a
    /// [`Responder`](super::Responder) and answers later with
    /// [`ServerExt::respond`](super::ServerExt::respond).
    Defer,
}

/// Encodes `msg`; if it is longer than `limit`, encodes its truncated form
/// instead. `None` if the message cannot be encoded at all (a record the
/// wire format cannot carry): the caller answers SERVFAIL.
pub(crate) fn encode(msg: &Message, limit: usize) -> Option<Vec<u8>> {
    let bytes = msg.to_vec().ok()?;
    if bytes.len() <= limit {
        return Some(bytes);
    }
    let mut short = Message::new();
    short.set_header(*msg.header());
    short.set_truncated(true);
    short.add_queries(msg.queries().iter().cloned());
    if let Some(edns) = msg.extensions().clone() {
        short.set_edns(edns);
    }
    short.to_vec().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{Header, Query};
    use hickory_proto::rr::{rdata::TXT, Name, RData, Record, RecordType};

    #[test]
    fn long_answers_are_truncated_with_the_question_kept() {
        let name = Name::from_ascii("Big.Example.").unwrap();
        let mut msg = Message::new();
        msg.set_header(Header::response_from_request(&Header::new()));
        msg.add_query(Query::query(name.clone(), RecordType::TXT));
        for _ in 0..4 {
            let txt = TXT::new(vec!["x".repeat(200)]);
            msg.add_answer(Record::from_rdata(name.clone(), 60, RData::TXT(txt)));
        }
        let full = encode(&msg, 65535).unwrap();
        assert!(full.len() > 512);
        let short = encode(&msg, 512).unwrap();
        let back = Message::from_vec(&short).unwrap();
        assert!(back.truncated());
        assert!(back.answers().is_empty());
        assert_eq!(back.queries()[0].name().to_string(), "Big.Example.");
        assert!(!Message::from_vec(&full).unwrap().truncated());
    }
}
