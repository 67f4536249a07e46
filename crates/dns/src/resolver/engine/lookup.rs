//! Lookups: literals and hosts, search candidates, CNAME chases, the
//! end of a query handed to each lookup waiting on it, and callbacks queued.

use super::*;

impl<T> Lookup<T> {
    pub(super) fn new(owner: Owner<T>, qtype: RecordType) -> Self {
        Lookup {
            owner,
            qtype,
            single: None,
            candidates: Vec::new(),
            next: 0,
            asked: None,
            current: None,
            chase: None,
            chases: 0,
            canonical: None,
            saw_nodata: false,
            saw_servfail: false,
            negative_ttl: None,
            txn: None,
        }
    }
}

pub(super) fn answer(
    qtype: RecordType,
    name: Option<Name>,
    records: Vec<Record>,
    source: Source,
) -> LookupResult {
    let mut r = LookupResult::status_only(Status::NoError, qtype);
    r.name = name;
    r.records = records;
    r.source = source;
    r.fill_addrs();
    r
}

pub(super) fn address_record(name: &Name, ip: IpAddr) -> Record {
    let data = match ip {
        IpAddr::V4(a) => RData::A(rdata::A(a)),
        IpAddr::V6(a) => RData::AAAA(rdata::AAAA(a)),
    };
    Record::from_rdata(name.clone(), 0, data)
}

pub(super) fn address_answer(ips: &[IpAddr], name: Option<Name>, source: Source) -> LookupResult {
    let owner = name.clone().unwrap_or_else(Name::root);
    let records = ips.iter().map(|&ip| address_record(&owner, ip)).collect();
    answer(RecordType::A, name, records, source)
}

/// Answers from a literal or the hosts file, or starts the DNS part.
pub(super) fn start_lookup<T: 'static>(
    st: &mut State<T>,
    ctx: &mut Ctx<'_, T>,
    key: Key,
    input: &str,
    search: bool,
) {
    let qtype = match st.lookups.get(key) {
        Some(l) => l.qtype,
        None => return,
    };
    if st.shut {
        finish(st, key, LookupResult::status_only(Status::Shutdown, qtype));
        return;
    }
    if search && matches!(qtype, RecordType::A | RecordType::AAAA) {
        let want_v6 = qtype == RecordType::AAAA;
        if let Ok(ip) = input.parse::<IpAddr>() {
            let res = if ip.is_ipv6() == want_v6 {
                let mut r = address_answer(&[ip], None, Source::Literal);
                r.record_type = qtype;
                r
            } else {
                let mut r = LookupResult::status_only(Status::NoData, qtype);
                r.source = Source::Literal;
                r
            };
            finish(st, key, res);
            return;
        }
        let found: Vec<IpAddr> = st
            .cfg
            .hosts
            .as_ref()
            .map(|h| {
                h.lookup(input)
                    .iter()
                    .copied()
                    .filter(|ip| ip.is_ipv6() == want_v6)
                    .collect()
            })
            .unwrap_or_default();
        if !found.is_empty() {
            let name = search::parse_name(input).ok().map(|mut n| {
                n.set_fqdn(true);
                n
            });
            let mut r = address_answer(&found, name, Source::Hosts);
            r.record_type = qtype;
            finish(st, key, r);
            return;
        }
    }
    start_names(st, ctx, key, input, search);
}

/// Computes the search candidates and asks the first.
pub(super) fn start_names<T: 'static>(
    st: &mut State<T>,
    ctx: &mut Ctx<'_, T>,
    key: Key,
    input: &str,
    search: bool,
) {
    let Some(qtype) = st.lookups.get(key).map(|l| l.qtype) else {
        return;
    };
    // (single name, search candidates)
    let names = if search && !st.cfg.search.is_empty() && !input.ends_with('.') {
        search::candidates(input, &st.cfg).map(|c| (None, c))
    } else {
        search::parse_name(input).map(|mut n| {
            n.set_fqdn(true);
            (Some(n), Vec::new())
        })
    };
    match names {
        Err(reason) => finish(
            st,
            key,
            LookupResult::status_only(Status::Error(reason), qtype),
        ),
        Ok(_) if st.servers.is_empty() => finish(
            st,
            key,
            LookupResult::status_only(Status::Error("no nameserver configured".into()), qtype),
        ),
        Ok((single, candidates)) => {
            if let Some(l) = st.lookups.get_mut(key) {
                l.single = single;
                l.candidates = candidates;
            }
            advance(st, ctx, key);
        }
    }
}

/// Asks the lookup's next name: a CNAME target, else the next search
/// candidate; from the cache, by joining an identical query in flight, or
/// with a new query.
pub(super) fn advance<T: 'static>(st: &mut State<T>, ctx: &mut Ctx<'_, T>, key: Key) {
    loop {
        let Some(l) = st.lookups.get_mut(key) else {
            return;
        };
        let name = if let Some(t) = l.chase.take() {
            t
        } else if let Some(n) = l.single.take() {
            n
        } else if l.next < l.candidates.len() {
            l.next += 1;
            l.canonical = None;
            l.candidates[l.next - 1].clone()
        } else {
            let status = if l.saw_nodata {
                Status::NoData
            } else if l.saw_servfail {
                Status::ServFail
            } else {
                Status::NxDomain
            };
            let mut r = LookupResult::status_only(status, l.qtype);
            r.ttl = l.negative_ttl;
            r.canonical = l.canonical.clone();
            finish(st, key, r);
            return;
        };
        let qtype = l.qtype;
        if st.cfg.cache {
            let now = ctx.now();
            if let Some((outcome, left)) = st.cache.get(&name, qtype, now) {
                st.stats.cache_hits += 1;
                l.current = Some(name);
                if apply(st, key, TxnEnd::Answer(outcome), Some(left), Source::Cache) {
                    continue;
                }
                return;
            }
        }
        // The query's bytes are written first: their question section is
        // what identical lookups share on (hashed and compared as bytes).
        let mut wire = st.spare_wire.pop().unwrap_or_default();
        let case = st.cfg.case_randomization.then_some(&mut st.rng);
        let qend = wire::encode_query(&mut wire, 0, &name, qtype, st.cfg.edns, case);
        let question = &wire[wire::HEADER_LEN..qend];
        let hash = question_hash(question);
        if let Some(&tk) = st.shared.get(&hash) {
            if let Some(txn) = st
                .txns
                .get_mut(tk)
                .filter(|t| t.wire[wire::HEADER_LEN..t.qend].eq_ignore_ascii_case(question))
            {
                st.spare_wire.push(wire);
                txn.more_waiters.push(key);
                l.txn = Some(tk);
                l.current = Some(name);
                return;
            }
        }
        let tk = new_txn(st, name.clone(), qtype, key, (wire, qend, hash));
        st.shared.entry(hash).or_insert(tk);
        if let Some(l) = st.lookups.get_mut(key) {
            l.txn = Some(tk);
            l.current = Some(name);
        }
        if st.inflight < st.cfg.max_inflight {
            begin(st, ctx, tk);
        } else {
            st.queue.push_back(tk);
        }
        return;
    }
}

/// Hands a query's end to one of its lookups. True: the lookup goes on
/// (next candidate or a CNAME target); false: it finished.
pub(super) fn apply<T: 'static>(
    st: &mut State<T>,
    key: Key,
    end: TxnEnd,
    left: Option<u32>,
    source: Source,
) -> bool {
    let Some(l) = st.lookups.get_mut(key) else {
        return false;
    };
    l.txn = None;
    let chasing = l.chases > 0;
    let qtype = l.qtype;
    let outcome = match end {
        TxnEnd::Fail(Status::ServFail) if !chasing => {
            l.saw_servfail = true;
            return true;
        }
        TxnEnd::Fail(s) => {
            finish(st, key, LookupResult::status_only(s.clone(), qtype));
            return false;
        }
        TxnEnd::Owned(Outcome::Records {
            records,
            canonical,
            ttl,
            aliased,
        }) => return apply_records(st, key, (records, canonical, ttl, aliased), left, source),
        TxnEnd::Owned(other) => Rc::new(other),
        TxnEnd::Answer(o) => o,
    };
    // The last holder of an answer (no cache, one lookup) takes its
    // records instead of copying them.
    let outcome = match Rc::try_unwrap(outcome) {
        Ok(Outcome::Records {
            records,
            canonical,
            ttl,
            aliased,
        }) => Err((records, canonical, ttl, aliased)),
        Ok(other) => Ok(Rc::new(other)),
        Err(rc) => Ok(rc),
    };
    let outcome = match outcome {
        Err(owned) => return apply_records(st, key, owned, left, source),
        Ok(rc) => rc,
    };
    match &*outcome {
        Outcome::Records {
            records,
            canonical,
            ttl,
            aliased,
        } => apply_records(
            st,
            key,
            (records.clone(), canonical.clone(), *ttl, *aliased),
            left,
            source,
        ),
        Outcome::NoData {
            negative_ttl,
            canonical,
        }
        | Outcome::NxDomain {
            negative_ttl,
            canonical,
        } => {
            let nx = matches!(&*outcome, Outcome::NxDomain { .. });
            if l.chases > 0
                || !l
                    .current
                    .as_ref()
                    .is_some_and(|c| wire::same_name(c, canonical))
            {
                l.canonical = Some(canonical.clone());
            }
            l.negative_ttl = negative_ttl.map(|t| left.map_or(t, |left| left.min(t)));
            if !nx {
                l.saw_nodata = true;
            }
            if chasing {
                let status = if nx { Status::NxDomain } else { Status::NoData };
                let mut r = LookupResult::status_only(status, qtype);
                r.ttl = l.negative_ttl;
                r.canonical = l.canonical.clone();
                finish(st, key, r);
                return false;
            }
            true
        }
        Outcome::Dangling { target, .. } => {
            if l.chases >= MAX_CHASES {
                let reason = format!("CNAME chain longer than {MAX_CHASES} queries");
                finish(
                    st,
                    key,
                    LookupResult::status_only(Status::Error(reason), qtype),
                );
                return false;
            }
            l.chases += 1;
            if l.asked.is_none() {
                l.asked = l.current.clone();
            }
            l.chase = Some(target.clone());
            l.canonical = Some(target.clone());
            true
        }
        Outcome::Error(reason) => {
            finish(
                st,
                key,
                LookupResult::status_only(Status::Error(reason.clone()), qtype),
            );
            false
        }
    }
}

pub(super) fn apply_records<T: 'static>(
    st: &mut State<T>,
    key: Key,
    (mut records, canonical, ttl, aliased): (Vec<Record>, Name, u32, bool),
    left: Option<u32>,
    source: Source,
) -> bool {
    let Some(l) = st.lookups.get_mut(key) else {
        return false;
    };
    let ttl = left.map_or(ttl, |left| left.min(ttl));
    if source == Source::Cache {
        for r in &mut records {
            let t = r.ttl().min(ttl);
            r.set_ttl(t);
        }
    }
    let renamed = l.chases > 0 || aliased;
    let qtype = l.qtype;
    let mut r = answer(qtype, l.current.take(), records, source);
    r.ttl = Some(ttl);
    r.canonical = renamed.then_some(canonical);
    if l.chases > 0 {
        r.name = l.asked.take();
    }
    finish(st, key, r);
    false
}

/// Ends a lookup: queues its callback, or completes its address lookup.
pub(super) fn finish<T: 'static>(st: &mut State<T>, key: Key, mut res: LookupResult) {
    let Some(l) = st.lookups.remove(key) else {
        return;
    };
    if res.name.is_none() {
        res.name = l.asked.or(l.current);
    }
    match l.owner {
        Owner::Callback(cb) => {
            let id = LookupId {
                rid: st.rid,
                key,
                addr: false,
            };
            st.completed.push_back((id, cb, res));
        }
        Owner::Addr(pk, v6) => {
            let Some(a) = st.addrs.get_mut(pk) else {
                return;
            };
            if v6 {
                a.v6 = Some(res);
            } else {
                a.v4 = Some(res);
            }
            if a.v4.is_some() && a.v6.is_some() {
                let Some(a) = st.addrs.remove(pk) else { return };
                let reach = *st.reach.get_or_insert_with(Reach::probe);
                let (Some(v4), Some(v6), Some(cb)) = (a.v4, a.v6, a.cb) else {
                    return;
                };
                let id = LookupId {
                    rid: st.rid,
                    key: pk,
                    addr: true,
                };
                st.completed.push_back((id, cb, combine(v4, v6, reach)));
            }
        }
    }
}

pub(super) fn combine(v4: LookupResult, v6: LookupResult, reach: Reach) -> LookupResult {
    let status = if v4.status.is_ok() || v6.status.is_ok() {
        Status::NoError
    } else if v4.status == Status::NoData || v6.status == Status::NoData {
        Status::NoData
    } else {
        v4.status.clone()
    };
    let ttl = [&v4, &v6]
        .iter()
        .filter(|r| r.status.is_ok())
        .filter_map(|r| r.ttl)
        .min()
        .or(if status.is_ok() {
            None
        } else {
            v4.ttl.or(v6.ttl)
        });
    let source = if v4.status.is_ok() {
        v4.source
    } else {
        v6.source
    };
    // Both halves are ours: their parts move into the result.
    let mut addrs = v4.addrs;
    addrs.extend(v6.addrs);
    sort::sort(&mut addrs, reach);
    let mut records = v4.records;
    records.extend(v6.records);
    LookupResult {
        status,
        record_type: RecordType::A,
        name: v4.name.or(v6.name),
        canonical: v4.canonical.or(v6.canonical),
        ttl,
        records,
        addrs,
        source,
        families: Some((v4.status, v6.status)),
    }
}

/// Removes a lookup without a callback (cancel); its query goes on only if
/// another lookup shares it.
pub(super) fn drop_lookup<T: 'static>(st: &mut State<T>, ctx: &mut Ctx<'_, T>, key: Key) {
    let Some(l) = st.lookups.remove(key) else {
        return;
    };
    let Some(tk) = l.txn else { return };
    let Some(txn) = st.txns.get_mut(tk) else {
        return;
    };
    if txn.waiter == Some(key) {
        txn.waiter = txn.more_waiters.pop();
    } else {
        txn.more_waiters.retain(|&w| w != key);
    }
    if txn.waiter.is_none() {
        if let Some(mut txn) = st.txns.remove(tk) {
            if txn.started {
                st.inflight -= 1;
            }
            release(st, ctx, &mut txn);
        }
        idle_check(st, ctx);
    }
}
