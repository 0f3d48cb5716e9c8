//! One module per rule, as in `duanka/detector/core/rules/`.

pub mod borrowed_phone;
pub mod shared_device;
