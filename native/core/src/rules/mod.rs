//! One module per rule, as in `duanka/detector/core/rules/`.

pub mod borrowed_phone;
pub mod fan;
pub mod mule_pass_through;
pub mod new_account_velocity;
pub mod payment_to_flagged;
pub mod shared_device;
