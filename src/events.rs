//! Event bits: what an io watcher is interested in, and what a callback is told.

use bitflags::bitflags;

bitflags! {
    /// A set of event bits, libev's `revents`.
    ///
    /// An io watcher's *interest* is a subset of [`READ`](Events::READ) |
    /// [`WRITE`](Events::WRITE). Every callback receives the bits that made
    /// its watcher pending: the readiness of an io watcher, [`TIMER`](Events::TIMER)
    /// for a timer, and so on. Events fed with [`Watcher::feed`](crate::Watcher::feed)
    /// arrive with whatever bits were fed, OR-ed together when a watcher is fed
    /// more than once before it runs. [`CUSTOM`](Events::CUSTOM) is never sent
    /// by the loop itself.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct Events: u32 {
        /// The fd is readable (or at end of file, or in error: a read will not block).
        const READ = 0x01;
        /// The fd is writable (or in error: a write will not block).
        const WRITE = 0x02;
        /// A timer expired.
        const TIMER = 0x100;
        /// A periodic reached its wall-clock time.
        const PERIODIC = 0x200;
        /// A signal watcher's signal arrived (once or more) since it last ran.
        const SIGNAL = 0x400;
        /// A child watcher's child changed state (exited, was killed, stopped
        /// or continued); the callback's [`ChildEvent`](crate::ChildEvent) says how.
        const CHILD = 0x800;
        /// A stat watcher's path changed its attributes;
        /// the watcher's [`attrs`](crate::Watcher::attrs) has the old and new ones.
        const STAT = 0x1000;
        /// An idle watcher ran because nothing else was pending.
        const IDLE = 0x2000;
        /// A prepare watcher ran just before the loop polled.
        const PREPARE = 0x4000;
        /// A check watcher ran just after the loop polled.
        const CHECK = 0x8000;
        /// An embedded loop was swept (its ready callbacks ran).
        const EMBED = 0x10000;
        /// The process forked and this is the child's loop, after
        /// [`Ctx::loop_fork`](crate::Ctx::loop_fork).
        const FORK = 0x20000;
        /// An async watcher was sent to (once or more) since it last ran.
        const ASYNC = 0x80000;
        /// Every [`AsyncSender`](crate::AsyncSender) of an async watcher has
        /// been dropped: no other thread can wake it any more.
        const CLOSED = 0x0010_0000;
        /// Free for the application: never sent by the loop.
        const CUSTOM = 0x0100_0000;
        /// The watcher was stopped because of an error, usually an fd that is
        /// closed or invalid. Sent together with the watcher's READ/WRITE
        /// interest so that a callback that only looks at those still runs its
        /// read or write and sees the error there.
        const ERROR = 0x8000_0000;
    }
}

impl Events {
    /// The bits an io watcher may be interested in.
    pub const IO: Events = Events::READ.union(Events::WRITE);
}
