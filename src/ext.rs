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

    #[inline]
    pub(crate) fn get_pair_mut<A: 'static, B: 'static>(&mut self) -> Option<(&mut A, &mut B)> {
        let ia = self.position::<A>()?;
        let ib = self.position::<B>()?;
        if ia == ib {
            return None;
        }
        let (first, second) = self.values.split_at_mut(ia.max(ib));
        let (low, high) = (&mut first[ia.min(ib)].1, &mut second[0].1);
        let (a, b) = if ia < ib { (low, high) } else { (high, low) };
        Some((a.downcast_mut()?, b.downcast_mut()?))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_is_lent_in_either_order_and_never_twice() {
        let mut ext = Extensions::default();
        ext.insert(1u8);
        ext.insert(String::from("b"));
        ext.insert(3u64);
        let (a, b) = ext.get_pair_mut::<u64, u8>().unwrap();
        *a += 10;
        *b += 10;
        let (s, n) = ext.get_pair_mut::<String, u64>().unwrap();
        s.push_str(&n.to_string());
        assert_eq!(
            (ext.get::<u8>(), ext.get::<String>()),
            (Some(&11), Some(&"b13".to_string()))
        );
        assert!(ext.get_pair_mut::<u8, u8>().is_none());
        assert!(ext.get_pair_mut::<u8, i32>().is_none());
        assert!(ext.get_pair_mut::<i32, u8>().is_none());
    }
}
