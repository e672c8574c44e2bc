//! The one integration test binary (as ripgrep does): the crate is linked once, not
//! once per file. Each module is one area; `common` holds the live-test helpers.
//!
//! Root-only tests are `#[ignore = "needs root"]`; run them with
//! `cargo test -- --include-ignored`. Tests in network namespace labs run one lab at a
//! time (labs share their addresses, see `Lab::new`); tests on loopback and without
//! root run beside them.

mod common;

mod architecture;
mod attribution;
mod cli;
mod connections;
mod dual_stack;
mod formats;
mod full_disk;
mod generated;
mod limits;
mod loopback;
mod mem_limit;
mod names;
mod narrowing;
mod netns;
mod outputs;
mod owners;
mod package;
mod pipeline;
mod privileges;
mod procfs;
mod replay;
mod self_limit;
mod socket_log;
