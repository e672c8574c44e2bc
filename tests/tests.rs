//! The one integration test binary (as ripgrep does): the crate is linked once, not
//! once per file. Each module is one area; `common` holds the live-test helpers.
//!
//! Root-only tests are `#[ignore = "needs root"]`; run them with
//! `cargo test -- --include-ignored`. Tests that share a network namespace lab run in
//! parallel; those that measure CPU or a storm's share take the lab alone
//! (`Lab::exclusive`), as they did when each file was its own binary.

mod common;

mod architecture;
mod attribution;
mod cli;
mod formats;
mod full_disk;
mod generated;
mod limits;
mod loopback;
mod mem_limit;
mod names;
mod netns;
mod outputs;
mod owners;
mod privileges;
mod procfs;
mod replay;
mod self_limit;
mod socket_log;
