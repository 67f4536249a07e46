//! Per-loop extension slots: one value per type, where a library keeps its
//! state for the loop (evloop-buffer's streams, a connection pool, a DNS
//! cache) instead of in a global or inside some watcher.
//!
//! A loop holds few of them, so they are a plain vector searched by
//! `TypeId`: cheaper than hashing for the handful a program has.

use std::any::{Any, TypeId};

#[derive(Default)]
pub(crate) struct Extensions {
    values: Vec<(TypeId, Box<dyn Any>)>,
}

impl Extensions {
    #[inline]
    fn position<E: 'static>(&self) -> Option<usize> {
        let id = TypeId::of::<E>();
        self.values.iter().position(|(t, _)| *t == id)
    }

    #[inline]
    pub(crate) fn get<E: 'static>(&self) -> Option<&E> {
        let i = self.position::<E>()?;
        self.values[i].1.downcast_ref()
    }

    #[inline]
    pub(crate) fn get_mut<E: 'static>(&mut self) -> Option<&mut E> {
        let i = self.position::<E>()?;
        self.values[i].1.downcast_mut()
    }

    pub(crate) fn insert<E: 'static>(&mut self, value: E) -> Option<E> {
        match self.position::<E>() {
            Some(i) => {
                let old = std::mem::replace(&mut self.values[i].1, Box::new(value));
                old.downcast().ok().map(|b| *b)
            }
            None => {
                self.values.push((TypeId::of::<E>(), Box::new(value)));
                None
            }
        }
    }

    pub(crate) fn remove<E: 'static>(&mut self) -> Option<E> {
        let i = self.position::<E>()?;
        let (_, v) = self.values.swap_remove(i);
        v.downcast().ok().map(|b| *b)
    }

    /// Takes every value out, for dropping them in order at loop drop.
    pub(crate) fn take_all(&mut self) -> Vec<Box<dyn Any>> {
        self.values.drain(..).map(|(_, v)| v).collect()
    }
}
