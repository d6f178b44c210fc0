//! The `shardmq` broker binary.

fn main() {}
