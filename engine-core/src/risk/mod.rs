//! Risk: sizes entries, approves or refuses them, and halts trading.
//!
//! Risk only decides. It never sends, cancels or closes an order: a halt
//! comes back from [`RiskManager::on_account`] as [`RiskAction`]s for
//! execution, the only writer of orders, to carry out. The runner calls,
//! per account and bar:
//!
//! 1. [`RiskManager::on_account`] with the fresh [`AccountSnapshot`]:
//!    updates the halts (kill switch, drawdown, daily loss) and returns the
//!    actions a new halt calls for, each once;
//! 2. [`RiskManager::approve_entry`] for each entry a strategy asks for:
//!    an [`Approved`] quantity that breaks no configured limit, or a
//!    [`RiskRefusal`] with its code and numbers.
//!
//! Rules, codes and examples: `docs/risk.md`.

mod config;
mod halts;
mod kill_switch;
mod limits;
mod refusal;
mod sizing;

use std::collections::BTreeMap;

pub use crate::execution::config::{round_down_to_lot, LOT_TOLERANCE};
pub use config::{KillSwitchConfig, RiskConfig, Sizing};
pub use kill_switch::{KillSwitch, FILE_POLL_INTERVAL};
pub use refusal::{RefusalCode, RiskAction, RiskRefusal};

use crate::execution::records::AccountSnapshot;
use crate::strategy::Side;
use kill_switch::FilePoll;
use limits::Entry;

/// An entry a strategy asks for, as risk needs to see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EntryIntent<'a> {
    pub symbol: &'a str,
    pub side: Side,
    /// Reference price for sizing and limits: the last close.
    pub price: f64,
    /// The protective stop, if the strategy gave one.
    pub stop: Option<f64>,
    /// The strategy's own size; wins over the sizing mode.
    pub requested_quantity: Option<f64>,
    /// The symbol's lot (quantity step); quantities are rounded down to it.
    pub lot_size: Option<f64>,
    /// Taker fee as a fraction (0.001 = 0.1 %), for the cash-reserve check.
    pub fee_rate: f64,
}

/// An entry risk approved. Only [`RiskManager::approve_entry`] makes one,
/// so holding one means the quantity passed every configured check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Approved {
    quantity: f64,
    notional: f64,
    estimated_fee: f64,
}

impl Approved {
    /// Units to buy (long) or sell (short): above 0, a whole number of lots.
    pub fn quantity(&self) -> f64 {
        self.quantity
    }

    /// `quantity × price` at the intent's reference price.
    pub fn notional(&self) -> f64 {
        self.notional
    }

    /// `notional × fee_rate`.
    pub fn estimated_fee(&self) -> f64 {
        self.estimated_fee
    }
}

/// One account's risk state: its configuration, halts, pending actions and
/// refusal counts.
#[derive(Debug)]
pub struct RiskManager {
    config: RiskConfig,
    kill_switch: KillSwitch,
    file_watch: FileWatch,
    /// Halts, most severe first; see [`RiskManager::halted`].
    kill: Option<RiskRefusal>,
    drawdown: Option<RiskRefusal>,
    /// The daily-loss halt and the UTC day it holds for.
    daily: Option<(i64, RiskRefusal)>,
    /// Actions of halts that began since the last `on_account`.
    pending: Vec<RiskAction>,
    refusals: BTreeMap<RefusalCode, u64>,
}

impl RiskManager {
    /// A manager with its own kill switch (watching `config.kill_switch.file`).
    /// The configuration is not validated here (call
    /// [`RiskConfig::validate`] when loading it); a NaN limit refuses every
    /// entry rather than none.
    pub fn new(config: RiskConfig) -> Self {
        let kill_switch = KillSwitch::new(config.kill_switch.file.clone());
        RiskManager::with_kill_switch(config, kill_switch)
    }

    /// A manager sharing `kill_switch` (one switch for every account of a
    /// process). Its file, not `config.kill_switch.file`, is watched.
    pub fn with_kill_switch(config: RiskConfig, kill_switch: KillSwitch) -> Self {
        RiskManager {
            config,
            file_watch: if kill_switch.file().is_some() { FileWatch::NotStarted } else { FileWatch::Nothing },
            kill_switch,
            kill: None,
            drawdown: None,
            daily: None,
            pending: Vec::new(),
            refusals: BTreeMap::new(),
        }
    }

    pub fn config(&self) -> &RiskConfig {
        &self.config
    }

    /// A handle to engage the kill switch from elsewhere (CLI flag, signal
    /// task). Cheap to clone; every clone is the same switch.
    pub fn kill_switch_handle(&self) -> KillSwitch {
        self.kill_switch.clone()
    }

    /// Called once per bar per account with the fresh snapshot, before any
    /// entry is considered. Updates the halts: the kill switch (its flag,
    /// which a background thread engages within 250 ms of the file
    /// appearing; the first call also looks at the file itself), the
    /// drawdown from the peak, and the day's loss (a daily-loss halt lifts
    /// once `account.time` is in a later UTC day).
    ///
    /// Returns what to do now: for each halt that began since the last
    /// call, cancel the working entries, then flatten when configured
    /// (`kill_switch.flatten` for the kill switch, `flatten_on_halt` for
    /// drawdown and daily loss). Calling it again with the same snapshot
    /// returns nothing new, so a live runner may also call it on a timer.
    pub fn on_account(&mut self, account: &AccountSnapshot) -> Vec<RiskAction> {
        self.update_halts(account);
        std::mem::take(&mut self.pending)
    }

    /// Sizes and checks an entry against `account`. Never approves a
    /// quantity that breaks a configured limit, and never shrinks one to
    /// fit: a limit that the sized quantity breaks refuses the entry with
    /// that limit's code and the numbers. Every refusal is counted.
    ///
    /// The halts are brought up to date with `account` first, as in
    /// `on_account`; the actions of a halt found here come with the next
    /// `on_account`.
    pub fn approve_entry(&mut self, intent: &EntryIntent, account: &AccountSnapshot) -> Result<Approved, RiskRefusal> {
        self.update_halts(account);
        let decision = self.decide(intent, account);
        if let Err(refusal) = &decision {
            *self.refusals.entry(refusal.code).or_insert(0) += 1;
        }
        decision
    }

    /// Why new entries are refused, if they are: the kill switch, else the
    /// drawdown halt, else the daily-loss halt. As of the last
    /// `on_account` or `approve_entry` (a switch engaged since then shows
    /// at the next call).
    pub fn halted(&self) -> Option<&RiskRefusal> {
        self.kill.as_ref().or(self.drawdown.as_ref()).or(self.daily.as_ref().map(|(_, r)| r))
    }

    /// How many entries were refused, per code (codes never used are
    /// absent).
    pub fn refusals(&self) -> &BTreeMap<RefusalCode, u64> {
        &self.refusals
    }

    fn decide(&self, intent: &EntryIntent, account: &AccountSnapshot) -> Result<Approved, RiskRefusal> {
        if let Some(halt) = self.halted() {
            return Err(halt.clone());
        }
        limits::check_intent(intent)?;
        limits::check_account(account)?;
        limits::check_open_positions(&self.config, account)?;
        let (raw, source) = sizing::quantity(&self.config.sizing, intent, account.equity)?;
        let quantity = match intent.lot_size {
            Some(lot) if raw > 0.0 => round_down_to_lot(raw, lot),
            _ => raw,
        };
        if quantity.is_nan() || quantity <= 0.0 {
            let lot = intent.lot_size.map_or(String::new(), |lot| {
                format!(" rounds down to {} at lot size {}", refusal::number(quantity), refusal::number(lot))
            });
            return Err(RiskRefusal::new(
                RefusalCode::SizeTooSmall,
                format!("quantity {} ({source}){lot}: nothing to enter", refusal::number(raw)),
            ));
        }
        let notional = quantity * intent.price;
        if !(quantity.is_finite() && notional.is_finite()) {
            return Err(RiskRefusal::new(
                RefusalCode::InvalidIntent,
                format!("quantity {quantity} ({source}) at price {} is not a finite amount", intent.price),
            ));
        }
        let entry = Entry { quantity, price: intent.price, notional, fee: notional * intent.fee_rate, source: &source };
        limits::check_entry(&self.config, &entry, account)?;
        Ok(Approved { quantity, notional, estimated_fee: entry.fee })
    }

    fn update_halts(&mut self, account: &AccountSnapshot) {
        if self.kill.is_none() {
            let engaged = self.kill_switch.is_engaged() || self.look_at_file();
            if engaged {
                let reason = self.kill_switch.reason().unwrap_or("engaged");
                let refusal = RiskRefusal::new(RefusalCode::KillSwitch, format!("kill switch engaged: {reason}"));
                self.kill = Some(refusal.clone());
                self.halt(refusal, self.config.kill_switch.flatten);
            }
        }
        if self.drawdown.is_none() {
            if let Some(refusal) = self.config.max_drawdown_pct.and_then(|pct| halts::drawdown_breach(account, pct)) {
                self.drawdown = Some(refusal.clone());
                self.halt(refusal, self.config.flatten_on_halt);
            }
        }
        let today = halts::utc_day(account.time);
        if matches!(self.daily, Some((day, _)) if today > day) {
            self.daily = None;
        }
        if self.daily.is_none() {
            if let Some(refusal) =
                self.config.daily_loss_limit_pct.and_then(|pct| halts::daily_loss_breach(account, pct))
            {
                self.daily = Some((today, refusal.clone()));
                self.halt(refusal, self.config.flatten_on_halt);
            }
        }
    }

    /// The kill-switch file, by the rule of `kill_switch.rs`: looked at
    /// once by the first call, then by the watcher thread (nothing to do
    /// here but load the flag), or every 250 ms from here if no thread
    /// could be started.
    fn look_at_file(&mut self) -> bool {
        match &mut self.file_watch {
            FileWatch::Nothing | FileWatch::Watcher => false,
            FileWatch::NotStarted => {
                let engaged = self.kill_switch.check_file();
                self.file_watch = if engaged {
                    FileWatch::Nothing
                } else if self.kill_switch.watch_file() {
                    FileWatch::Watcher
                } else {
                    FileWatch::Poll(FilePoll::new(FILE_POLL_INTERVAL))
                };
                engaged
            }
            FileWatch::Poll(poll) => poll.due() && self.kill_switch.check_file(),
        }
    }

    fn halt(&mut self, reason: RiskRefusal, flatten: bool) {
        if flatten {
            self.pending.push(RiskAction::CancelWorkingOrders { reason: reason.clone() });
            self.pending.push(RiskAction::Flatten { reason });
        } else {
            self.pending.push(RiskAction::CancelWorkingOrders { reason });
        }
    }
}

/// Who looks for the kill-switch file.
#[derive(Debug)]
enum FileWatch {
    /// No file, or the switch is engaged already.
    Nothing,
    /// Until the first call.
    NotStarted,
    /// The switch's watcher thread.
    Watcher,
    /// This manager, on its calls (no thread could be started).
    Poll(FilePoll),
}

#[cfg(test)]
mod tests;
