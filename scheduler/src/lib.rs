//! The scheduler: on every cron tick, reads due work from the store and enqueues tenant jobs
//! (DESIGN.md section 2). It only starts work and repairs what was lost; workers chain a
//! tenant's jobs themselves.
//!
//! - [`due`]: which tenants need a job (the store's due query, from the settings' intervals);
//! - [`tick`]: one bounded, idempotent tick;
//! - [`cron`]: the loop on `CRON_SCHEDULE`, with periodic clean-up of finished jobs.

pub mod cron;
pub mod due;
pub mod tick;

pub use cron::{run, LoopOptions};
pub use due::DueRules;
pub use tick::{TickError, TickLimits, TickReport, Ticker};
