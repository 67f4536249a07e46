//! The store's semantics, with an injected clock.

use super::*;
use crate::clock::REALTIME_MAXDELTA;

/// Unix time the test clock starts at.
const T0: i64 = 1_700_000_000;

fn store() -> Store {
    Store::new(64 << 20, 1 << 20, Clock::starting_at(T0))
}

fn w<'a>(mode: Mode, key: &'a [u8], value: &'a [u8]) -> Write<'a> {
    Write {
        mode,
        ..Write::set(key, value)
    }
}

fn get(s: &mut Store, key: &[u8]) -> Option<Vec<u8>> {
    s.find(key).map(|id| s.item(id).value().to_vec())
}

#[test]
fn set_get_replace_add() {
    let mut s = store();
    assert!(matches!(
        s.store(&Write::set(b"k", b"v1")),
        StoreOutcome::Stored(_)
    ));
    assert_eq!(get(&mut s, b"k").unwrap(), b"v1");
    assert_eq!(s.store(&w(Mode::Add, b"k", b"x")), StoreOutcome::NotStored);
    assert!(matches!(
        s.store(&w(Mode::Add, b"k2", b"two")),
        StoreOutcome::Stored(_)
    ));
    assert_eq!(
        s.store(&w(Mode::Replace, b"k3", b"x")),
        StoreOutcome::NotStored
    );
    assert!(matches!(
        s.store(&w(Mode::Replace, b"k2", b"TWO")),
        StoreOutcome::Stored(_)
    ));
    assert_eq!(get(&mut s, b"k2").unwrap(), b"TWO");
    assert_eq!(get(&mut s, b"nope"), None);
    assert_eq!(s.len(), 2);
    assert_eq!(s.counters().total_items, 3);
}

#[test]
fn append_prepend_keep_flags_and_expiry() {
    let mut s = store();
    let first = Write {
        flags: 7,
        exptime: s.clock().expiry(100),
        ..Write::set(b"k", b"mid")
    };
    s.store(&first);
    let app = Write {
        flags: 99,
        exptime: 0,
        ..w(Mode::Append, b"k", b"-end")
    };
    assert!(matches!(s.store(&app), StoreOutcome::Stored(_)));
    assert!(matches!(
        s.store(&w(Mode::Prepend, b"k", b"pre-")),
        StoreOutcome::Stored(_)
    ));
    let id = s.find(b"k").unwrap();
    assert_eq!(s.item(id).value(), b"pre-mid-end");
    assert_eq!(s.item(id).flags(), 7);
    assert_eq!(s.item(id).exptime(), s.clock().now() + 100);
    assert_eq!(
        s.store(&w(Mode::Append, b"none", b"x")),
        StoreOutcome::NotStored
    );
    assert_eq!(
        s.store(&w(Mode::Prepend, b"none", b"x")),
        StoreOutcome::NotStored
    );
}

#[test]
fn cas_uniques() {
    let mut s = store();
    let StoreOutcome::Stored(c1) = s.store(&Write::set(b"k", b"a")) else {
        panic!()
    };
    let StoreOutcome::Stored(c2) = s.store(&Write::set(b"k", b"b")) else {
        panic!()
    };
    assert_ne!(c1, c2, "a set gives a new cas unique");
    let cas = |c| Write {
        cas: c,
        ..w(Mode::Cas, b"k", b"c")
    };
    assert_eq!(s.store(&cas(c1)), StoreOutcome::Exists);
    let StoreOutcome::Stored(c3) = s.store(&cas(c2)) else {
        panic!()
    };
    assert_eq!(s.store(&cas(c2)), StoreOutcome::Exists);
    let id = s.find(b"k").unwrap();
    assert_eq!(s.item(id).cas(), c3);
    assert_eq!(
        s.store(&Write {
            cas: 1,
            ..w(Mode::Cas, b"x", b"c")
        }),
        StoreOutcome::NotFound
    );
    // append with a cas checks it
    let app = |c| Write {
        cas: c,
        ..w(Mode::Append, b"k", b"+")
    };
    assert_eq!(s.store(&app(c1)), StoreOutcome::Exists);
    assert!(matches!(s.store(&app(c3)), StoreOutcome::Stored(_)));
}

#[test]
fn stale_cas_with_invalidate() {
    let mut s = store();
    s.store(&Write::set(b"k", b"a"));
    let StoreOutcome::Stored(newer) = s.store(&Write::set(b"k", b"b")) else {
        panic!()
    };
    let stale = Write {
        cas: newer - 1,
        stale_ok: true,
        ..w(Mode::Cas, b"k", b"old")
    };
    assert!(matches!(s.store(&stale), StoreOutcome::Stored(_)));
    let id = s.find(b"k").unwrap();
    assert!(s.item(id).has(STALE));
    assert_eq!(s.item(id).value(), b"old");
}

#[test]
fn expiry_relative_absolute_negative() {
    let mut s = store();
    let exp = |s: &Store, e| s.clock().expiry(e);
    let rel = Write {
        exptime: exp(&s, 10),
        ..Write::set(b"rel", b"v")
    };
    let abs = Write {
        exptime: exp(&s, T0 + 20),
        ..Write::set(b"abs", b"v")
    };
    let neg = Write {
        exptime: exp(&s, -1),
        ..Write::set(b"neg", b"v")
    };
    let month = Write {
        exptime: exp(&s, REALTIME_MAXDELTA),
        ..Write::set(b"month", b"v")
    };
    let past = Write {
        exptime: exp(&s, REALTIME_MAXDELTA + 1),
        ..Write::set(b"past", b"v")
    };
    for x in [&rel, &abs, &neg, &month, &past] {
        assert!(matches!(s.store(x), StoreOutcome::Stored(_)));
    }
    assert_eq!(
        get(&mut s, b"neg"),
        None,
        "negative exptime: already expired"
    );
    assert_eq!(
        get(&mut s, b"past"),
        None,
        "a unix time before the start: expired"
    );
    assert!(get(&mut s, b"rel").is_some());
    assert!(get(&mut s, b"abs").is_some());
    s.advance(9);
    assert!(get(&mut s, b"rel").is_some());
    s.advance(1);
    assert_eq!(get(&mut s, b"rel"), None, "expires at exactly 10 s");
    assert!(get(&mut s, b"abs").is_some());
    s.advance(10);
    assert_eq!(get(&mut s, b"abs"), None, "absolute: expires at T0 + 20");
    s.advance(REALTIME_MAXDELTA as u32 - 21);
    assert!(get(&mut s, b"month").is_some());
    s.advance(1);
    assert_eq!(get(&mut s, b"month"), None);
    assert_eq!(s.counters().get_expired, 5);
    assert_eq!(s.len(), 0);
    assert_eq!(s.bytes(), 0);
}

#[test]
fn flush_all_now_and_delayed() {
    let mut s = store();
    s.store(&Write::set(b"a", b"1"));
    s.flush_all(0);
    assert_eq!(get(&mut s, b"a"), None);
    assert_eq!(s.counters().get_flushed, 1);
    // stored after the flush, in the same second: kept
    s.store(&Write::set(b"a", b"2"));
    assert!(get(&mut s, b"a").is_some());

    // As memcached: what was stored up to the second before the time
    // named goes, so 9 seconds on.
    s.flush_all(10);
    s.store(&Write::set(b"b", b"1"));
    s.advance(8);
    s.store(&Write::set(b"c", b"1"));
    assert!(get(&mut s, b"a").is_some() && get(&mut s, b"b").is_some());
    s.advance(1);
    assert_eq!(get(&mut s, b"a"), None);
    assert_eq!(get(&mut s, b"b"), None);
    assert_eq!(get(&mut s, b"c"), None, "stored before the flush time");
    s.store(&Write::set(b"d", b"1"));
    assert!(get(&mut s, b"d").is_some(), "stored after the flush time");

    // a later flush_all replaces a pending one
    s.flush_all(5);
    s.flush_all(100);
    s.advance(50);
    assert!(get(&mut s, b"d").is_some());
    // a negative delay flushes now, and so does 1 (the second before
    // the next is this one)
    s.flush_all(-1);
    assert_eq!(get(&mut s, b"d"), None);
    s.store(&Write::set(b"e", b"1"));
    s.flush_all(1);
    assert_eq!(get(&mut s, b"e"), None);
    // An immediate flush takes a CAS unique, as memcached's does.
    let before = match s.store(&Write::set(b"f", b"1")) {
        StoreOutcome::Stored(cas) => cas,
        other => panic!("{other:?}"),
    };
    s.flush_all(0);
    assert!(matches!(
        s.store(&Write::set(b"f", b"1")),
        StoreOutcome::Stored(cas) if cas == before + 2
    ));
}

#[test]
fn flushed_items_reclaimed_without_lookup() {
    let mut s = store();
    for i in 0..10u8 {
        s.store(&Write::set(&[b'k', i], b"v"));
    }
    s.flush_all(0);
    s.store(&Write::set(b"live", b"v"));
    assert_eq!(s.len(), 11);
    assert_eq!(s.reclaim(4), 4);
    assert_eq!(s.reclaim(100), 6);
    assert_eq!(s.len(), 1);
    let c = s.counters();
    assert_eq!((c.crawler_reclaimed, c.crawler_items_checked), (10, 11));
    assert_eq!(c.reclaimed, 0, "reclaimed counts dead items a store reused");
    assert_eq!(s.bytes(), item_total(4, 1, 0));
}

#[test]
fn under_no_modern_each_store_frees_dead_tail_items_first() {
    let mut s = store();
    s.set_pull_tail(true);
    for i in 0..7u8 {
        s.store(&Write::set(&[b'k', i], b"v"));
    }
    s.flush_all(0);
    // Up to 5 dead items from the old end, as memcached's lru_pull_tail.
    s.store(&Write::set(b"live", b"v"));
    assert_eq!((s.len(), s.counters().reclaimed), (3, 5));
    // The rest go with the next store; a live tail item stops the search.
    s.store(&Write::set(b"k0", b"v"));
    assert_eq!((s.len(), s.counters().reclaimed), (2, 7));
    s.store(&Write::set(b"more", b"v"));
    assert_eq!((s.len(), s.counters().reclaimed), (3, 7));
    // Off (the default), a store frees nothing it does not need.
    let mut s = store();
    s.store(&Write::set(b"a", b"v"));
    s.flush_all(0);
    s.store(&Write::set(b"b", b"v"));
    assert_eq!((s.len(), s.counters().reclaimed), (2, 0));
}

#[test]
fn eviction_under_a_small_limit_is_lru() {
    let each = item_total(2, 100, 0);
    let mut s = Store::new(each * 10, each * 2, Clock::starting_at(T0));
    let v = [b'x'; 100];
    for i in 0..10u8 {
        assert!(matches!(
            s.store(&Write::set(&[b'k', i], &v)),
            StoreOutcome::Stored(_)
        ));
    }
    assert_eq!(s.bytes(), each * 10);
    assert_eq!(s.counters().evictions, 0);
    // touch k0 so k1 is the least recently used
    let id = s.find(b"k\x00").unwrap();
    s.bump(id);
    s.store(&Write::set(b"kA", &v));
    assert_eq!(s.counters().evictions, 1);
    assert_eq!(s.counters().evicted_unfetched, 1);
    assert!(s.find(b"k\x00").is_some());
    assert!(s.find(b"k\x01").is_none());
    assert_eq!(s.len(), 10);
    assert!(s.bytes() <= s.limit());
    // an expired tail item is reclaimed, not counted as an eviction
    let short = Write {
        exptime: s.clock().expiry(1),
        ..Write::set(b"kB", &v)
    };
    s.store(&short);
    assert!(s.find(b"k\x02").is_none(), "k2 was the tail");
    // k0 was bumped just now: bumps within the interval do not move it.
    s.advance(BUMP_INTERVAL);
    for i in 3..10u8 {
        let id = s.find(&[b'k', i]).unwrap();
        s.bump(id);
    }
    let id = s.find(b"kA").unwrap();
    s.bump(id);
    let id = s.find(b"k\x00").unwrap();
    s.bump(id);
    s.advance(1);
    let evictions = s.counters().evictions;
    s.store(&Write::set(b"kC", &v));
    assert_eq!(s.counters().evictions, evictions);
    assert_eq!(s.counters().reclaimed, 1);
}

#[test]
fn too_large_and_no_memory() {
    let mut s = Store::new(4096, 2048, Clock::starting_at(T0));
    let ok = vec![b'v'; 2048 - ITEM_OVERHEAD_1];
    assert!(matches!(
        s.store(&Write::set(b"k", &ok)),
        StoreOutcome::Stored(_)
    ));
    let big = vec![b'v'; ok.len() + 1];
    assert_eq!(s.store(&Write::set(b"k", &big)), StoreOutcome::TooLarge);
    assert!(s.find(b"k").is_none(), "a refused set drops the old value");
    s.store(&Write::set(b"k", &ok));
    assert_eq!(s.store(&w(Mode::Add, b"k", &big)), StoreOutcome::NotStored);
    // memcached: the joined item cannot be made, so not stored.
    assert_eq!(
        s.store(&w(Mode::Append, b"k", b"+")),
        StoreOutcome::NotStored
    );
    assert!(s.find(b"k").is_some(), "a refused append keeps the value");
    // item size above the memory limit
    let mut s = Store::new(1000, 4096, Clock::starting_at(T0));
    assert_eq!(s.store(&Write::set(b"k", &ok)), StoreOutcome::NoMemory);
    s.set_limit(100_000);
    assert!(matches!(
        s.store(&Write::set(b"k", &ok)),
        StoreOutcome::Stored(_)
    ));
    s.set_limit(1000);
    assert_eq!(s.len(), 0, "lowering the limit evicts");
}

/// Overhead plus a 1-byte key.
const ITEM_OVERHEAD_1: usize = crate::item::ITEM_OVERHEAD + 1;

#[test]
fn incr_decr_rules() {
    let mut s = store();
    let set = |s: &mut Store, v: &[u8]| s.store(&Write::set(b"n", v));
    set(&mut s, b"10");
    assert!(matches!(s.delta(b"n", true, 5, 0), Delta::Done(15, _)));
    assert!(
        matches!(s.delta(b"n", false, 100, 0), Delta::Done(0, _)),
        "decr stops at 0"
    );
    set(&mut s, b"18446744073709551615");
    assert!(
        matches!(s.delta(b"n", true, 2, 0), Delta::Done(1, _)),
        "incr wraps at 2^64"
    );
    assert_eq!(
        get(&mut s, b"n").unwrap(),
        format!("{:<20}", 1).as_bytes(),
        "a shorter number is padded with spaces, as memcached does"
    );
    set(&mut s, b"99");
    assert!(matches!(s.delta(b"n", true, 1, 0), Delta::Done(100, _)));
    assert_eq!(get(&mut s, b"n").unwrap(), b"100", "the value grows");
    assert_eq!(s.bytes(), item_total(1, 3, 0));
    assert!(matches!(s.delta(b"n", false, 91, 0), Delta::Done(9, _)));
    assert_eq!(get(&mut s, b"n").unwrap(), b"9  ");
    assert_eq!(s.bytes(), item_total(1, 3, 0));
    set(&mut s, b" 7 ");
    assert!(matches!(s.delta(b"n", true, 1, 0), Delta::Done(8, _)));
    for bad in [&b"abc"[..], b"", b"-1", b"1x"] {
        set(&mut s, bad);
        assert_eq!(s.delta(b"n", true, 1, 0), Delta::NonNumeric, "{bad:?}");
    }
    assert_eq!(s.delta(b"none", true, 1, 0), Delta::NotFound);
    // CAS changes with the value; a stale one is refused
    set(&mut s, b"1");
    let id = s.find(b"n").unwrap();
    let old = s.item(id).cas();
    assert!(matches!(s.delta(b"n", true, 1, old), Delta::Done(2, _)));
    assert_eq!(s.delta(b"n", true, 1, old), Delta::CasMismatch);
    // flags and expiry survive
    let flagged = Write {
        flags: 3,
        exptime: s.clock().expiry(50),
        ..Write::set(b"f", b"1")
    };
    s.store(&flagged);
    s.delta(b"f", true, 1, 0);
    let id = s.find(b"f").unwrap();
    assert_eq!(
        (s.item(id).flags(), s.item(id).exptime()),
        (3, s.clock().now() + 50)
    );
}

#[test]
fn set_time_applies_due_flush() {
    let mut s = store();
    s.store(&Write::set(b"a", b"1"));
    s.flush_all(5);
    s.set_time(T0 + 3);
    assert!(get(&mut s, b"a").is_some());
    s.set_time(T0 + 4);
    assert_eq!(get(&mut s, b"a"), None);
    assert_eq!(s.clock().uptime(), 4);
}

#[test]
fn many_keys_survive_table_growth() {
    let mut s = store();
    for i in 0..5000u32 {
        let k = format!("key:{i}");
        s.store(&Write::set(k.as_bytes(), k.as_bytes()));
    }
    for i in (0..5000u32).step_by(2) {
        let id = s.find(format!("key:{i}").as_bytes()).unwrap();
        s.remove(id);
    }
    for i in 0..5000u32 {
        let k = format!("key:{i}");
        assert_eq!(get(&mut s, k.as_bytes()).is_some(), i % 2 == 1, "{k}");
    }
    assert_eq!(s.len(), 2500);
}

#[test]
fn a_recent_fetch_is_not_moved_again_within_the_bump_interval() {
    let v = vec![b'v'; 100];
    let mut s = Store::new(1 << 20, 1 << 20, Clock::starting_at(T0));
    s.store(&Write::set(b"a", &v));
    s.store(&Write::set(b"b", &v));
    // First fetch of a: moved to the head, b is now the tail.
    let a = s.find(b"a").unwrap();
    s.bump(a);
    let b = s.find(b"b").unwrap();
    s.bump(b);
    assert_eq!(s.lru.tail(), Some(a), "b's first fetch moved it ahead of a");
    // a again, within the interval: stays at the tail.
    s.advance(BUMP_INTERVAL - 1);
    s.bump(a);
    assert_eq!(s.lru.tail(), Some(a));
    // After the interval it moves.
    s.advance(1);
    s.bump(a);
    assert_eq!(s.lru.tail(), Some(b));
}

#[test]
fn without_evictions_a_full_cache_refuses_writes() {
    let each = item_total(2, 100, 0);
    let mut s = Store::new(each * 3, each * 2, Clock::starting_at(T0));
    s.set_no_evict(true);
    let v = [b'x'; 100];
    s.store(&Write {
        exptime: s.clock().now() + 1,
        ..Write::set(b"k0", &v)
    });
    for k in [b"k1", b"k2"] {
        assert!(matches!(
            s.store(&Write::set(k, &v)),
            StoreOutcome::Stored(_)
        ));
    }
    assert_eq!(s.store(&Write::set(b"k3", &v)), StoreOutcome::NoMemory);
    assert_eq!(s.counters().evictions, 0);
    // A dead item still makes room.
    s.advance(1);
    assert!(matches!(
        s.store(&Write::set(b"k3", &v)),
        StoreOutcome::Stored(_)
    ));
    // Replacing an item in place needs no more room.
    assert!(matches!(
        s.store(&Write::set(b"k3", &v)),
        StoreOutcome::Stored(_)
    ));
    // A refused set drops the old value, as memcached's does.
    let bigger = [b'x'; 120];
    assert_eq!(s.store(&Write::set(b"k1", &bigger)), StoreOutcome::NoMemory);
    assert!(s.find(b"k1").is_none());
    assert!(!s.evicts());
}

#[test]
fn the_key_table_is_reported_as_it_grows() {
    let mut s = store();
    assert_eq!((s.hash_buckets(), s.hash_bytes()), (0, 0));
    for i in 0..1000 {
        let key = format!("k{i}");
        s.store(&Write::set(key.as_bytes(), b"v"));
    }
    let buckets = s.hash_buckets();
    // A power of two, with room for every key at hashbrown's 7/8 load.
    assert!(
        buckets.is_power_of_two() && buckets * 7 / 8 >= 1000,
        "{buckets}"
    );
    assert!(s.hash_bytes() > buckets);
    let starts = s.crawler_starts();
    s.reclaim(10);
    assert_eq!(s.crawler_starts(), starts + 1);
}
