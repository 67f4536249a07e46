//! A callback slot that survives its callback replacing or clearing itself.
//!
//! User callbacks live in the state the loop owns. To call one, the caller
//! takes it out (so the callback may borrow the loop, and the state inside
//! it, mutably), calls it, and puts it back, unless the callback installed
//! a new one or cleared the slot meanwhile, or the whole state is gone.
//! A panicking callback is put back too before the panic goes on (see
//! [`catch`]), as evloop does with its own closures.

use std::panic::{self, AssertUnwindSafe};

/// Runs a user callback, catching a panic so that the caller can put the
/// callback back (and tidy up) before resuming it with
/// [`std::panic::resume_unwind`]. The state the callback saw is the loop's
/// and stays consistent; `AssertUnwindSafe` only defers the panic.
pub(crate) fn catch(f: impl FnOnce()) -> std::thread::Result<()> {
    panic::catch_unwind(AssertUnwindSafe(f))
}

/// Holds an optional boxed callback and counts its replacements.
pub(crate) struct CallbackSlot<F: ?Sized> {
    cb: Option<Box<F>>,
    generation: u64,
    /// Taken out and running (or its caller unwound).
    busy: bool,
}

/// A callback taken out of its slot, to be handed back with
/// [`CallbackSlot::restore`].
pub(crate) struct Taken<F: ?Sized> {
    pub cb: Box<F>,
    generation: u64,
}

impl<F: ?Sized> CallbackSlot<F> {
    pub fn empty() -> Self {
        CallbackSlot {
            cb: None,
            generation: 0,
            busy: false,
        }
    }

    pub fn set(&mut self, cb: Box<F>) {
        self.cb = Some(cb);
        self.generation += 1;
    }

    pub fn clear(&mut self) {
        self.cb = None;
        self.generation += 1;
    }

    /// A callback is installed (it may be running right now).
    pub fn is_set(&self) -> bool {
        self.cb.is_some() || self.busy
    }

    pub fn take(&mut self) -> Option<Taken<F>> {
        let cb = self.cb.take()?;
        self.busy = true;
        Some(Taken {
            cb,
            generation: self.generation,
        })
    }

    /// Puts a taken callback back unless the slot changed since.
    pub fn restore(&mut self, taken: Taken<F>) {
        self.busy = false;
        if self.generation == taken.generation && self.cb.is_none() {
            self.cb = Some(taken.cb);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Cb = dyn FnMut() -> u32;

    #[test]
    fn restore_keeps_a_replacement_and_a_clear() {
        let mut slot: CallbackSlot<Cb> = CallbackSlot::empty();
        slot.set(Box::new(|| 1));
        let mut taken = slot.take().unwrap();
        assert_eq!((taken.cb)(), 1);
        slot.restore(taken);
        assert!(slot.is_set());

        let taken = slot.take().unwrap();
        slot.set(Box::new(|| 2));
        slot.restore(taken);
        assert_eq!((slot.take().unwrap().cb)(), 2);

        let mut slot: CallbackSlot<Cb> = CallbackSlot::empty();
        slot.set(Box::new(|| 1));
        let taken = slot.take().unwrap();
        assert!(slot.is_set(), "a running callback counts as set");
        slot.clear();
        slot.restore(taken);
        assert!(!slot.is_set());
    }
}
