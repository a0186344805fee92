use super::Bar;

/// A fixed-capacity ring buffer of the most recent bars of one symbol.
///
/// `push` is O(1) and never allocates once the window is built: the storage
/// is allocated up front and the oldest bar is overwritten when full.
/// Indexing is "bars back": `get(0)` is the latest bar, `get(1)` the one
/// before it. Iteration runs from the oldest to the latest bar.
#[derive(Debug, Clone)]
pub struct MarketDataWindow {
    bars: Vec<Bar>,
    capacity: usize,
    /// Index in `bars` where the next bar will be written once full.
    head: usize,
}

impl MarketDataWindow {
    /// A window that keeps the last `capacity` bars.
    ///
    /// # Panics
    /// If `capacity` is zero: a window that can hold nothing is a bug.
    pub fn new(capacity: usize) -> Self {
        assert!(capacity > 0, "MarketDataWindow capacity must be at least 1");
        MarketDataWindow { bars: Vec::with_capacity(capacity), capacity, head: 0 }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.bars.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bars.is_empty()
    }

    pub fn is_full(&self) -> bool {
        self.bars.len() == self.capacity
    }

    /// Appends a bar, evicting the oldest one when the window is full.
    #[inline]
    pub fn push(&mut self, bar: Bar) {
        if self.bars.len() < self.capacity {
            self.bars.push(bar);
        } else {
            self.bars[self.head] = bar;
            self.head += 1;
            if self.head == self.capacity {
                self.head = 0;
            }
        }
    }

    /// Physical index of the bar `back` positions before the latest.
    #[inline]
    fn slot(&self, back: usize) -> usize {
        let len = self.bars.len();
        // Once full, the latest bar sits just before `head`; before that, at the end.
        let latest = if len < self.capacity { len - 1 } else { (self.head + self.capacity - 1) % self.capacity };
        (latest + self.capacity - back) % self.capacity
    }

    /// The bar `back` bars before the latest (`get(0)` is the latest).
    pub fn get(&self, back: usize) -> Option<&Bar> {
        if back >= self.bars.len() {
            return None;
        }
        Some(&self.bars[self.slot(back)])
    }

    pub fn latest(&self) -> Option<&Bar> {
        self.get(0)
    }

    pub fn oldest(&self) -> Option<&Bar> {
        self.bars.len().checked_sub(1).and_then(|back| self.get(back))
    }

    /// Bars from the oldest to the latest.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Bar> + '_ {
        // Before the first wrap `head` is 0 and every bar is in `older`, in order.
        let (newer, older) = self.bars.split_at(self.head);
        older.iter().chain(newer.iter())
    }

    /// Closes from the oldest to the latest bar.
    pub fn closes(&self) -> impl DoubleEndedIterator<Item = f64> + '_ {
        self.iter().map(|b| b.close)
    }

    /// Highest high in the window.
    pub fn high(&self) -> Option<f64> {
        self.bars.iter().map(|b| b.high).reduce(f64::max)
    }

    /// Lowest low in the window.
    pub fn low(&self) -> Option<f64> {
        self.bars.iter().map(|b| b.low).reduce(f64::min)
    }

    /// `high() - low()` over the window.
    pub fn range(&self) -> Option<f64> {
        Some(self.high()? - self.low()?)
    }

    /// Mean volume over the window.
    pub fn avg_volume(&self) -> Option<f64> {
        if self.bars.is_empty() {
            return None;
        }
        Some(self.bars.iter().map(|b| b.volume).sum::<f64>() / self.bars.len() as f64)
    }

    pub fn clear(&mut self) {
        self.bars.clear();
        self.head = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bar(t: i64, h: f64, l: f64, v: f64) -> Bar {
        Bar::new("T".into(), t, l, h, l, h, v)
    }

    #[test]
    fn keeps_the_last_capacity_bars_in_order() {
        let mut w = MarketDataWindow::new(3);
        assert!(w.latest().is_none() && w.oldest().is_none() && w.high().is_none());
        for t in 0..5 {
            w.push(bar(t, 10.0 + t as f64, 5.0 - t as f64, t as f64));
        }
        assert_eq!(w.len(), 3);
        assert_eq!(w.latest().unwrap().open_time, 4);
        assert_eq!(w.oldest().unwrap().open_time, 2);
        assert_eq!(w.get(1).unwrap().open_time, 3);
        assert!(w.get(3).is_none());
        let times: Vec<i64> = w.iter().map(|b| b.open_time).collect();
        assert_eq!(times, vec![2, 3, 4]);
        assert_eq!(w.high(), Some(14.0));
        assert_eq!(w.low(), Some(1.0));
        assert_eq!(w.range(), Some(13.0));
        assert_eq!(w.avg_volume(), Some(3.0));
        assert_eq!(w.closes().collect::<Vec<_>>(), vec![12.0, 13.0, 14.0]);
    }

    #[test]
    fn push_does_not_reallocate() {
        let mut w = MarketDataWindow::new(4);
        let before = w.bars.as_ptr();
        for t in 0..100 {
            w.push(bar(t, 2.0, 1.0, 1.0));
        }
        assert_eq!(before, w.bars.as_ptr());
        assert_eq!(w.bars.capacity(), 4);
    }

    proptest! {
        #[test]
        fn matches_a_naive_tail(cap in 1usize..20, n in 0usize..100) {
            let mut w = MarketDataWindow::new(cap);
            let all: Vec<Bar> = (0..n as i64).map(|t| bar(t, t as f64 + 1.0, t as f64, t as f64)).collect();
            for b in &all { w.push(b.clone()); }
            let tail: Vec<i64> = all.iter().skip(n.saturating_sub(cap)).map(|b| b.open_time).collect();
            prop_assert_eq!(w.iter().map(|b| b.open_time).collect::<Vec<_>>(), tail.clone());
            prop_assert_eq!(w.iter().rev().map(|b| b.open_time).collect::<Vec<_>>(), tail.iter().rev().copied().collect::<Vec<_>>());
            for back in 0..tail.len() {
                prop_assert_eq!(w.get(back).unwrap().open_time, tail[tail.len() - 1 - back]);
            }
        }
    }
}
