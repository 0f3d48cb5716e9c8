//! One module per rule, as in `duanka/detector/core/rules/`.

pub mod shared_device;
