//! The HTTP API (axum): tenant routes over what the engine writes, health, metrics, OpenAPI.
//! Not built yet (issue 5); `odoo-sync api` says so and exits non-zero.
