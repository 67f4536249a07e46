//! Backend choice: supported backends, the default, `EVLOOP_BACKEND`, and
//! the builder.
//!
//! Environment variables are process-global and libtest runs tests in
//! parallel threads, so this binary has no test harness (`harness = false`
//! in Cargo.toml): `common::harness_main` runs the cases one after another,
//! each from a clean environment, prints one line per case and a final
//! `N passed, M failed`, and exits non-zero on failure.

mod common;

use std::env;

use evloop::{Backend, Backends, Error, Loop, BACKEND_ENV};

fn set_env(v: &str) {
    env::set_var(BACKEND_ENV, v);
}

fn clear_env() {
    env::remove_var(BACKEND_ENV);
}

fn default_loop() -> Result<Loop<()>, Error> {
    Loop::new()
}

fn backend_of(r: Result<Loop<()>, Error>) -> Backend {
    match r {
        Ok(mut lp) => lp.ctx().backend(),
        Err(e) => panic!("loop creation failed: {e:?}"),
    }
}

fn supported_has_all_three() {
    let s = evloop::supported_backends();
    for b in [Backend::Epoll, Backend::Poll, Backend::Select] {
        assert!(s.has(b), "{b} missing from {s:?}");
    }
    let order: Vec<Backend> = s.iter_best_first().collect();
    assert_eq!(order, [Backend::Epoll, Backend::Poll, Backend::Select]);
    assert!(evloop::recommended_backends().has(Backend::Epoll));
}

fn default_is_epoll() {
    clear_env();
    assert_eq!(backend_of(default_loop()), Backend::Epoll);
    assert_eq!(backend_of(Loop::builder().build()), Backend::Epoll);
    // An empty (or blank) variable counts as unset.
    set_env("");
    assert_eq!(backend_of(default_loop()), Backend::Epoll);
    set_env("  ");
    assert_eq!(backend_of(default_loop()), Backend::Epoll);
}

fn env_forces_poll() {
    set_env("poll");
    assert_eq!(backend_of(default_loop()), Backend::Poll);
}

fn env_forces_select() {
    set_env("select");
    assert_eq!(backend_of(default_loop()), Backend::Select);
}

fn env_forces_epoll() {
    set_env("epoll");
    assert_eq!(backend_of(default_loop()), Backend::Epoll);
}

fn env_is_case_insensitive() {
    set_env("EPOLL");
    assert_eq!(backend_of(default_loop()), Backend::Epoll);
    set_env("Poll");
    assert_eq!(backend_of(default_loop()), Backend::Poll);
    set_env(" SeLeCt ");
    assert_eq!(backend_of(default_loop()), Backend::Select);
}

fn env_bogus_is_unknown_backend() {
    set_env("bogus");
    match default_loop() {
        Err(Error::UnknownBackend(name)) => assert_eq!(name, "bogus"),
        other => panic!("expected UnknownBackend, got {other:?}"),
    }
    // The builder does not fall back silently either.
    match Loop::builder().backend(Backend::Poll).build::<()>() {
        Err(Error::UnknownBackend(_)) => {}
        other => panic!("expected UnknownBackend, got {other:?}"),
    }
    // ... unless told to ignore the environment.
    assert_eq!(
        backend_of(Loop::builder().ignore_env(true).build()),
        Backend::Epoll
    );
}

fn ignore_env_honours_the_builder() {
    set_env("select");
    let lp = Loop::builder()
        .backend(Backend::Poll)
        .ignore_env(true)
        .build();
    assert_eq!(backend_of(lp), Backend::Poll);
    set_env("epoll");
    let lp = Loop::builder()
        .backend(Backend::Select)
        .ignore_env(true)
        .build();
    assert_eq!(backend_of(lp), Backend::Select);
}

/// Like libev without `EVFLAG_NOENV` (`LIBEV_FLAGS` wins over the flags the
/// program passed to `ev_loop_new`): unless the builder says `ignore_env`,
/// the variable overrides the backend the builder names, so that a user can
/// force a backend on any program without rebuilding it.
fn env_wins_over_builder_without_ignore_env() {
    set_env("select");
    let lp = Loop::builder().backend(Backend::Poll).build();
    assert_eq!(backend_of(lp), Backend::Select);
    set_env("poll");
    let lp = Loop::builder()
        .backends(Backends::EPOLL | Backends::SELECT)
        .ignore_env(false)
        .build();
    assert_eq!(backend_of(lp), Backend::Poll);
}

fn builder_backends_set_picks_best() {
    clear_env();
    let lp = Loop::builder()
        .backends(Backends::POLL | Backends::SELECT)
        .build();
    assert_eq!(backend_of(lp), Backend::Poll);
    let lp = Loop::builder().backends(Backends::SELECT).build();
    assert_eq!(backend_of(lp), Backend::Select);
    match Loop::builder().backends(Backends::empty()).build::<()>() {
        Err(Error::InvalidArgument(_)) => {}
        other => panic!("expected InvalidArgument for no backend, got {other:?}"),
    }
}

fn backend_fd_only_for_epoll() {
    clear_env();
    for b in [Backend::Epoll, Backend::Poll, Backend::Select] {
        let mut lp: Loop<()> = Loop::builder().backend(b).ignore_env(true).build().unwrap();
        let ctx = lp.ctx();
        assert_eq!(ctx.backend(), b);
        assert_eq!(ctx.backend_fd().is_some(), b == Backend::Epoll, "{b}");
    }
}

fn names_round_trip() {
    for b in [Backend::Epoll, Backend::Poll, Backend::Select] {
        assert_eq!(b.name().parse::<Backend>().unwrap(), b);
        assert_eq!(b.to_string(), b.name());
    }
    assert!(matches!(
        "kqueue".parse::<Backend>(),
        Err(Error::UnknownBackend(_))
    ));
}

/// The cases as `harness_main` takes them, each wrapped so that it starts
/// from a clean environment.
macro_rules! cases {
    ($($case:ident),* $(,)?) => {
        &[$((stringify!($case), (|| {
            clear_env();
            $case();
        }) as fn())),*]
    };
}

fn main() {
    common::harness_main(cases![
        supported_has_all_three,
        default_is_epoll,
        env_forces_poll,
        env_forces_select,
        env_forces_epoll,
        env_is_case_insensitive,
        env_bogus_is_unknown_backend,
        ignore_env_honours_the_builder,
        env_wins_over_builder_without_ignore_env,
        builder_backends_set_picks_best,
        backend_fd_only_for_epoll,
        names_round_trip,
    ]);
}
