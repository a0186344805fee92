//! Fixed-capacity ring buffer of `f64`, the window behind the rolling
//! indicators.

/// Values reserved up front: a window of a billion bars on a three-bar file
/// must not reserve 8 GB before it sees a value.
pub const PREALLOCATED: usize = 1 << 16;

/// The last `capacity` values pushed, readable oldest to newest.
///
/// Storage for up to [`PREALLOCATED`] values is allocated in
/// [`RingBuffer::new`]; a longer window grows while it fills. Once full,
/// pushes never allocate.
#[derive(Debug, Clone)]
pub struct RingBuffer {
    data: Vec<f64>,
    capacity: usize,
    /// Index of the oldest value once the buffer is full (0 before).
    head: usize,
}

impl RingBuffer {
    /// An empty buffer holding at most `capacity` (≥ 1) values.
    pub fn new(capacity: usize) -> Self {
        assert!(capacity >= 1, "ring buffer capacity must be >= 1");
        RingBuffer { data: Vec::with_capacity(capacity.min(PREALLOCATED)), capacity, head: 0 }
    }

    /// Number of values held (at most the capacity).
    #[inline]
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True before the first push.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// True once `capacity` values have been pushed.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.data.len() == self.capacity
    }

    /// Appends `x`, returning the value it displaced when the buffer was full.
    #[inline]
    pub fn push(&mut self, x: f64) -> Option<f64> {
        if self.data.len() < self.capacity {
            self.data.push(x);
            None
        } else {
            let old = std::mem::replace(&mut self.data[self.head], x);
            self.head += 1;
            if self.head == self.capacity {
                self.head = 0;
            }
            Some(old)
        }
    }

    /// The oldest value held.
    #[inline]
    pub fn oldest(&self) -> Option<f64> {
        self.data.get(self.head).copied()
    }

    /// The values as two slices which, read one after the other, run from
    /// the oldest to the newest value.
    #[inline]
    pub fn as_slices(&self) -> (&[f64], &[f64]) {
        let (front, back) = self.data.split_at(self.head);
        (back, front)
    }

    /// Iterates oldest to newest.
    #[inline]
    pub fn iter(&self) -> impl Iterator<Item = f64> + '_ {
        let (a, b) = self.as_slices();
        a.iter().chain(b.iter()).copied()
    }

    /// Forgets all values; keeps the storage.
    pub fn clear(&mut self) {
        self.data.clear();
        self.head = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_values_oldest_first() {
        let mut r = RingBuffer::new(3);
        assert!(r.is_empty());
        assert_eq!(r.push(1.0), None);
        assert_eq!(r.push(2.0), None);
        assert_eq!(r.iter().collect::<Vec<_>>(), vec![1.0, 2.0]);
        assert_eq!(r.push(3.0), None);
        assert!(r.is_full());
        assert_eq!(r.push(4.0), Some(1.0));
        assert_eq!(r.push(5.0), Some(2.0));
        assert_eq!(r.iter().collect::<Vec<_>>(), vec![3.0, 4.0, 5.0]);
        assert_eq!(r.oldest(), Some(3.0));
        let cap = r.data.capacity();
        for i in 0..100 {
            r.push(i as f64);
        }
        assert_eq!(r.data.capacity(), cap, "push must not reallocate");
        assert_eq!(r.iter().collect::<Vec<_>>(), vec![97.0, 98.0, 99.0]);
        r.clear();
        assert_eq!(r.len(), 0);
        assert_eq!(r.oldest(), None);
    }
}
