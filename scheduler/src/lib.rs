//! The scheduler: on every cron tick, reads due work from the store and enqueues tenant jobs.
//! Not built yet (issue 4); `odoo-sync scheduler` says so and exits non-zero.
