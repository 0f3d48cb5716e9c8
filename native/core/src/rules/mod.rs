//! One module per rule, as in `duanka/detector/core/rules/` (`fan` holds the two fan rules,
//! as `fan.py` does).

pub mod borrowed_phone;
pub mod bulk_account_opener;
pub mod bulk_company_accounts;
pub mod bulk_sim_opener;
pub mod fan;
pub mod mule_pass_through;
pub mod new_account_velocity;
pub mod payment_to_flagged;
pub mod shared_device;
pub mod watchlisted_identity;
