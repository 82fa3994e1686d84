//! Dial plans: the model the engine runs (`model`), loading and validating the admins' TOML
//! files (`load`, `validate`, `condition`), calendars with Québec holidays and seasons
//! (`calendar`, `holiday`), and the running version with hot reload (`store`).

pub mod calendar;
pub mod condition;
pub mod holiday;
pub mod load;
pub mod model;
pub mod store;
pub mod validate;
