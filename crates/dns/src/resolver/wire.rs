//! The bytes on the wire: queries are written directly (a header, one
//! question and an optional OPT record are a fixed layout, and writing them
//! by hand makes a query a few dozen stores, with the id patched in place
//! for a retransmission); replies are checked on their raw bytes first
//! (cheap to drop spoofs), then decoded with hickory-proto.

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::DNSClass;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, Restrict};
use hickory_proto::ProtoError;

use super::rng::Rng;

pub(crate) const HEADER_LEN: usize = 12;
/// CNAME links followed inside one answer before giving up.
pub(crate) const MAX_CNAME_LINKS: usize = 16;

/// Writes a query for `name`/`qtype` (class IN, RD set) into `buf` and
/// returns the end of its question section. With `case` the letters of the
/// name get random case (DNS 0x20).
pub(crate) fn encode_query(
    buf: &mut Vec<u8>,
    id: u16,
    name: &Name,
    qtype: RecordType,
    edns: Option<u16>,
    case: Option<&mut Rng>,
) -> usize {
    buf.clear();
    buf.extend_from_slice(&id.to_be_bytes());
    buf.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, u8::from(edns.is_some())]);
    let name_start = buf.len();
    for label in name.iter() {
        buf.push(label.len() as u8);
        buf.extend_from_slice(label);
    }
    buf.push(0);
    if let Some(rng) = case {
        let mut bits = 0u64;
        let mut left = 0;
        for b in &mut buf[name_start..] {
            if b.is_ascii_alphabetic() {
                if left == 0 {
                    bits = rng.next_u64();
                    left = 64;
                }
                if bits & 1 == 1 {
                    *b ^= 0x20;
                }
                bits >>= 1;
                left -= 1;
            }
        }
    }
    buf.extend_from_slice(&u16::from(qtype).to_be_bytes());
    buf.extend_from_slice(&[0, 1]);
    let end = buf.len();
    if let Some(payload) = edns {
        buf.extend_from_slice(&[0, 0, 41]);
        buf.extend_from_slice(&payload.to_be_bytes());
        buf.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    }
    end
}

pub(crate) fn id_of(reply: &[u8]) -> Option<u16> {
    (reply.len() >= HEADER_LEN).then(|| u16::from_be_bytes([reply[0], reply[1]]))
}

/// How a reply's header and question compare with the query.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Match {
    /// Same id, a response, same question (exact case if asked).
    Yes,
    /// Everything matches but the case of the name (a 0x20 mismatch).
    CaseOnly,
    /// Not an answer to this query.
    No,
}

/// Checks id, QR, opcode and the question against the query's bytes. The
/// question of a reply starts right after the header, where no compression
/// pointer can point anywhere valid, so it is compared as bytes. A FORMERR
/// or NOTIMP may come back without the question (a server that could not
/// parse it); then the id alone has to do.
pub(crate) fn check_reply(reply: &[u8], query: &[u8], question_end: usize, exact: bool) -> Match {
    if reply.len() < HEADER_LEN || reply[..2] != query[..2] {
        return Match::No;
    }
    let flags = reply[2];
    if flags & 0x80 == 0 || (flags >> 3) & 0x0f != 0 {
        return Match::No;
    }
    let qdcount = u16::from_be_bytes([reply[4], reply[5]]);
    let rcode = reply[3] & 0x0f;
    if qdcount == 0 && (rcode == 1 || rcode == 4) {
        return Match::Yes;
    }
    if qdcount != 1 || reply.len() < question_end {
        return Match::No;
    }
    let got = &reply[HEADER_LEN..question_end];
    let want = &query[HEADER_LEN..question_end];
    if got == want {
        return Match::Yes;
    }
    if got.eq_ignore_ascii_case(want) {
        // Label length bytes are below 64, never letters, so a
        // case-insensitive equality is one of the same labels.
        return if exact { Match::CaseOnly } else { Match::Yes };
    }
    Match::No
}

pub(crate) fn is_truncated(reply: &[u8]) -> bool {
    reply.len() >= 3 && reply[2] & 0x02 != 0
}

/// The 4-bit rcode of the header (the extended bits live in OPT; rcodes
/// that matter to failover are all below 16).
pub(crate) fn rcode_of(reply: &[u8]) -> u8 {
    reply.get(3).map_or(0, |b| b & 0x0f)
}

/// A decoded reply, reduced to what a lookup needs.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) rcode: ResponseCode,
    pub(crate) answers: Vec<Record>,
    /// min(SOA TTL, SOA minimum) of an SOA in the authority section
    /// (RFC 2308's negative TTL).
    pub(crate) negative_ttl: Option<u32>,
    /// Every answer record's owner is a pointer to the question's name and
    /// its type the one asked: the answer needs no CNAME walk.
    pub(crate) direct: bool,
}

/// Case-insensitive name equality on the label bytes (hickory's `==`
/// builds comparison state per label; this is a byte loop).
pub(crate) fn same_name(a: &Name, b: &Name) -> bool {
    a.num_labels() == b.num_labels()
        && a.iter()
            .zip(b.iter())
            .all(|(x, y)| x.eq_ignore_ascii_case(y))
}

/// Decodes what a lookup uses: the answer section, and the authority
/// section when it may hold the SOA of a negative answer. The header and
/// question were checked on the raw bytes already (`question_end` is where
/// the question ends); the additional section is not read (its OPT only
/// matters to a FORMERR, which [`decode_full`] handles).
pub(crate) fn decode(
    reply: &[u8],
    question_end: usize,
    qname: &Name,
    qtype: RecordType,
) -> Result<Reply, String> {
    let count = |i: usize| usize::from(u16::from_be_bytes([reply[i], reply[i + 1]]));
    if reply.len() < HEADER_LEN {
        return Err("malformed reply: short header".into());
    }
    let (qd, an, ns, ar) = (count(4), count(6), count(8), count(10));
    let rcode = ResponseCode::from_low(reply[3] & 0x0f);
    let skip = if qd == 1 { question_end } else { HEADER_LEN };
    if skip > reply.len() || qd > 1 {
        return Err("malformed reply: question".into());
    }
    let direct = qd == 1 && an > 0 && all_direct(reply, question_end, an, qtype);
    let mut d = BinDecoder::new(reply);
    let bad = |e: ProtoError| format!("malformed reply: {e}");
    d.read_slice(skip).map_err(|e| bad(e.into()))?;
    let mut answers = Vec::with_capacity(an.min(64));
    if direct {
        // Every owner is the question's name: take it from the query (the
        // user's spelling, not a 0x20 echo) and let hickory read the data.
        for _ in 0..an {
            let fixed = d.read_slice(12).map_err(|e| bad(e.into()))?.unverified();
            let class = u16::from_be_bytes([fixed[4], fixed[5]]);
            let ttl = u32::from_be_bytes([fixed[6], fixed[7], fixed[8], fixed[9]]);
            let len = u16::from_be_bytes([fixed[10], fixed[11]]);
            let data = RData::read(&mut d, qtype, Restrict::new(len)).map_err(bad)?;
            let mut r = Record::from_rdata(qname.clone(), ttl, data);
            r.set_dns_class(DNSClass::from(class));
            answers.push(r);
        }
    } else {
        for _ in 0..an {
            answers.push(Record::read(&mut d).map_err(bad)?);
        }
    }
    // Records of another class are no answer to an IN question.
    answers.retain(|r| r.dns_class() == DNSClass::IN);
    let mut negative_ttl = None;
    let mut rest = ns + ar;
    if answers.is_empty()
        || rcode == ResponseCode::NXDomain
        || answers.iter().all(|r| r.record_type() == RecordType::CNAME)
    {
        for _ in 0..ns {
            let r = Record::read(&mut d).map_err(bad)?;
            if let RData::SOA(soa) = r.data() {
                if r.dns_class() == DNSClass::IN {
                    negative_ttl.get_or_insert(r.ttl().min(soa.minimum()));
                }
            }
        }
        rest = ar;
    }
    // The sections not decoded must still be there, whole: a reply cut
    // short is malformed (c-ares says EBADRESP), whatever it announced.
    if skip_records(reply, d.index(), rest).is_none() {
        return Err("malformed reply: a section is cut short".into());
    }
    Ok(Reply {
        rcode,
        answers,
        negative_ttl,
        direct,
    })
}

/// Skips `count` resource records from `pos` on the raw bytes; the end, or
/// None if they do not fit (or a name is not well-formed).
fn skip_records(b: &[u8], mut pos: usize, count: usize) -> Option<usize> {
    for _ in 0..count {
        loop {
            let len = *b.get(pos)?;
            match len & 0xc0 {
                0xc0 => {
                    b.get(pos + 1)?;
                    pos += 2;
                    break;
                }
                0 if len == 0 => {
                    pos += 1;
                    break;
                }
                0 => pos += 1 + usize::from(len),
                _ => return None,
            }
        }
        let fixed = b.get(pos..pos + 10)?;
        pos += 10 + usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        if pos > b.len() {
            return None;
        }
    }
    Some(pos)
}

/// Walks the raw answer section: does every record's owner point at the
/// question's name (0xC00C), with the asked type? (Only a shortcut: the
/// records are still decoded by hickory.)
fn all_direct(reply: &[u8], mut pos: usize, count: usize, qtype: RecordType) -> bool {
    let want = u16::from(qtype).to_be_bytes();
    for _ in 0..count {
        let Some(rr) = reply.get(pos..pos + 12) else {
            return false;
        };
        if rr[..2] != [0xc0, 0x0c] || rr[2..4] != want {
            return false;
        }
        pos += 12 + usize::from(u16::from_be_bytes([rr[10], rr[11]]));
    }
    true
}

/// Decodes the whole message (for a FORMERR: does it carry an OPT?).
pub(crate) fn decode_full(reply: &[u8]) -> Result<Message, String> {
    Message::from_vec(reply).map_err(|e| format!("malformed reply: {e}"))
}

/// What one reply (or cache entry) says about (name, type).
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    /// Records of the asked type at the end of the CNAME chain.
    Records {
        records: Vec<Record>,
        canonical: Name,
        ttl: u32,
        /// CNAMEs led to them (`canonical` differs from the name asked).
        aliased: bool,
    },
    /// The name (end of the chain) exists without records of this type.
    NoData {
        canonical: Name,
        negative_ttl: Option<u32>,
    },
    /// The name (end of the chain) does not exist.
    NxDomain {
        canonical: Name,
        negative_ttl: Option<u32>,
    },
    /// The chain ends at a name the answer says nothing more about: ask
    /// for it (the server did not chase the CNAME itself).
    Dangling { target: Name, ttl: u32 },
    /// The answer cannot be used (a CNAME loop, an overlong chain, an
    /// unexpected rcode).
    Error(String),
}

impl Outcome {
    /// How long it may be cached (None: not at all).
    pub(crate) fn cache_ttl(&self) -> Option<u32> {
        match self {
            Outcome::Records { ttl, .. } | Outcome::Dangling { ttl, .. } => Some(*ttl),
            Outcome::NoData { negative_ttl, .. } | Outcome::NxDomain { negative_ttl, .. } => {
                *negative_ttl
            }
            Outcome::Error(_) => None,
        }
    }
}

/// Under 0x20 the names a reply points into the question carry its random
/// case: owners equal to the name asked get the asker's spelling, other
/// names (CNAME targets) are lower-cased.
pub(crate) fn unrandomize(outcome: &mut Outcome, qname: &Name) {
    let fix = |n: &Name| {
        if same_name(n, qname) {
            qname.clone()
        } else {
            n.to_lowercase()
        }
    };
    match outcome {
        Outcome::Records {
            records, canonical, ..
        } => {
            for r in records.iter_mut() {
                let owner = fix(r.name());
                r.set_name(owner);
            }
            *canonical = fix(canonical);
        }
        Outcome::NoData { canonical, .. } | Outcome::NxDomain { canonical, .. } => {
            *canonical = fix(canonical);
        }
        Outcome::Dangling { target, .. } => *target = fix(target),
        Outcome::Error(_) => {}
    }
}

/// Follows the CNAME chain from `qname` inside the answer section and
/// collects the records of `qtype` at its end (in the order received).
pub(crate) fn resolve(reply: Reply, qname: &Name, qtype: RecordType) -> Outcome {
    // The common answer: only records of the type, all for the name asked.
    if reply.direct && !reply.answers.is_empty() {
        let ttl = reply.answers.iter().map(Record::ttl).min().unwrap_or(0);
        return Outcome::Records {
            records: reply.answers,
            canonical: qname.clone(),
            ttl,
            aliased: false,
        };
    }
    let mut current = qname.clone();
    let mut chain_ttl = u32::MAX;
    let mut seen: Vec<Name> = Vec::new();
    loop {
        let mut records = Vec::new();
        let mut ttl = chain_ttl;
        for r in &reply.answers {
            if r.record_type() == qtype && same_name(r.name(), &current) {
                ttl = ttl.min(r.ttl());
                records.push(r.clone());
            }
        }
        if !records.is_empty() {
            return Outcome::Records {
                records,
                aliased: !seen.is_empty(),
                canonical: current,
                ttl,
            };
        }
        let next = reply.answers.iter().find_map(|r| match r.data() {
            RData::CNAME(c) if same_name(r.name(), &current) => Some((c.0.clone(), r.ttl())),
            _ => None,
        });
        let Some((target, ttl)) = next else { break };
        if seen.iter().any(|n| same_name(n, &target)) || same_name(&target, qname) {
            return Outcome::Error(format!("CNAME loop at {target}"));
        }
        if seen.len() >= MAX_CNAME_LINKS {
            return Outcome::Error(format!("CNAME chain longer than {MAX_CNAME_LINKS}"));
        }
        seen.push(current);
        current = target;
        chain_ttl = chain_ttl.min(ttl);
    }
    match reply.rcode {
        ResponseCode::NXDomain => Outcome::NxDomain {
            canonical: current,
            negative_ttl: reply.negative_ttl,
        },
        ResponseCode::NoError if !seen.is_empty() && reply.negative_ttl.is_none() => {
            Outcome::Dangling {
                target: current,
                ttl: chain_ttl,
            }
        }
        ResponseCode::NoError => Outcome::NoData {
            canonical: current,
            negative_ttl: reply.negative_ttl,
        },
        other => Outcome::Error(format!("unexpected rcode {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn query(name: &str, qtype: RecordType) -> (Vec<u8>, usize) {
        let mut buf = Vec::new();
        let n = Name::from_ascii(name).unwrap();
        let end = encode_query(&mut buf, 0x1234, &n, qtype, Some(1232), None);
        (buf, end)
    }

    /// Every step a reply goes through, as the engine runs them.
    fn handle(reply: &[u8], q: &[u8], qend: usize) {
        let name = Name::from_ascii("host.example.").unwrap();
        if check_reply(reply, q, qend, true) != Match::No {
            let _ = is_truncated(reply);
            let _ = rcode_of(reply);
            let _ = decode_full(reply);
            if let Ok(r) = decode(reply, qend, &name, RecordType::A) {
                let _ = resolve(r, &name, RecordType::A).cache_ttl();
            }
        }
    }

    #[test]
    fn query_layout() {
        let (q, end) = query("Host.Example.", RecordType::AAAA);
        assert_eq!(&q[..2], &[0x12, 0x34]);
        assert_eq!(&q[12..end], b"\x04Host\x07Example\x00\x00\x1c\x00\x01");
        assert_eq!(q.len(), end + 11, "an OPT record follows");
        let msg = Message::from_vec(&q).unwrap();
        assert_eq!(msg.max_payload(), 1232);
        assert!(msg.recursion_desired());
    }

    #[test]
    fn reply_checks() {
        let (q, end) = query("host.example.", RecordType::A);
        let mut r = q[..end].to_vec();
        r[2] |= 0x80;
        assert_eq!(check_reply(&r, &q, end, true), Match::Yes);
        let mut upper = r.clone();
        upper[13] = b'H';
        assert_eq!(check_reply(&upper, &q, end, true), Match::CaseOnly);
        assert_eq!(check_reply(&upper, &q, end, false), Match::Yes);
        let mut other_id = r.clone();
        other_id[1] ^= 1;
        assert_eq!(check_reply(&other_id, &q, end, false), Match::No);
        let mut not_response = r.clone();
        not_response[2] &= 0x7f;
        assert_eq!(check_reply(&not_response, &q, end, false), Match::No);
        let mut other_type = r.clone();
        other_type[end - 3] = 28;
        assert_eq!(check_reply(&other_type, &q, end, false), Match::No);
        let mut other_class = r;
        other_class[end - 1] = 3;
        assert_eq!(check_reply(&other_class, &q, end, false), Match::No);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let (q, end) = query("host.example.", RecordType::A);
            handle(&bytes, &q, end);
        }

        /// Past the checks: the right id, flags and question, then garbage.
        #[test]
        fn garbage_after_a_valid_question_never_panics(
            flags in any::<u16>(),
            counts in proptest::collection::vec(any::<u8>(), 6),
            tail in proptest::collection::vec(any::<u8>(), 0..600),
        ) {
            let (q, end) = query("host.example.", RecordType::A);
            let mut r = q[..end].to_vec();
            r[2..4].copy_from_slice(&((flags | 0x8000) & !0x7800).to_be_bytes());
            r[4..6].copy_from_slice(&[0, 1]);
            r[6..12].copy_from_slice(&counts);
            r.extend_from_slice(&tail);
            handle(&r, &q, end);
        }
    }
}
