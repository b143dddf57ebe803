//! The worker: takes tenant jobs from the queue and runs their batches under a lease.
//! Not built yet (issue 4); `odoo-sync worker` says so and exits non-zero.
