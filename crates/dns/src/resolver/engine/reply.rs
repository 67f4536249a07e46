//! What an accepted reply does to its query: TC, FORMERR without EDNS,
//! failover rcodes, or an answer (cached, handed to the lookups).

use super::*;

pub(super) fn handle_reply<T: 'static>(
    st: &mut State<T>,
    ctx: &mut Ctx<'_, T>,
    tk: Key,
    bytes: &[u8],
    tcp: bool,
) {
    let Some(txn) = st.txns.get_mut(tk) else {
        return;
    };
    if !tcp && wire::is_truncated(bytes) {
        txn.tcp = true;
        resend_same(st, ctx, tk);
        return;
    }
    let rcode = wire::rcode_of(bytes);
    if rcode == 1 && txn.edns.is_some() {
        let no_opt = wire::decode_full(bytes).map_or(true, |m| m.extensions().is_none());
        if no_opt {
            txn.edns = None;
            let case = st.cfg.case_randomization.then_some(&mut st.rng);
            txn.qend =
                wire::encode_query(&mut txn.wire, txn.txid, &txn.name, txn.qtype, None, case);
            resend_same(st, ctx, tk);
            return;
        }
    }
    let failure = match rcode {
        1 => Some(Status::FormErr),
        2 => Some(Status::ServFail),
        4 => Some(Status::NotImp),
        5 => Some(Status::Refused),
        _ => None,
    };
    if let Some(status) = failure {
        let s = txn.server;
        if s < 64 {
            txn.rcode_failed |= 1 << s;
        }
        txn.last_rcode = Some(status);
        st.servers[s].failures = 0;
        send_next(st, ctx, tk);
        return;
    }
    match wire::decode(bytes, txn.qend, &txn.name, txn.qtype) {
        Err(reason) => {
            // Never ends the query early: the real answer may follow.
            txn.malformed = Some(reason);
            st.stats.dropped += 1;
            st.stats.accepted -= 1;
        }
        Ok(reply) => {
            let s = txn.server;
            st.servers[s].failures = 0;
            // A direct reply's names are all the query's own (decode took
            // the owners from it): nothing carries the 0x20 echo.
            let direct = reply.direct;
            let mut outcome = wire::resolve(reply, &txn.name, txn.qtype);
            if st.cfg.case_randomization && !direct {
                wire::unrandomize(&mut outcome, &txn.name);
            }
            let end = if st.cfg.cache && outcome.cache_ttl().is_some_and(|t| t > 0) {
                let outcome = Rc::new(outcome);
                let now = ctx.now();
                st.cache.insert(&txn.name, txn.qtype, outcome.clone(), now);
                TxnEnd::Answer(outcome)
            } else {
                TxnEnd::Owned(outcome)
            };
            end_txn(st, ctx, tk, end);
        }
    }
}
