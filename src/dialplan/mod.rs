//! Dial plans: the model the engine runs (`model`), loading and validating the admins' TOML
//! files (`load` files → `document` → `validate` → `Plan`; `condition`), calendars with Québec
//! holidays and seasons (`calendar`, `holiday`, and the day and month `words` both read), and
//! the running version with hot reload (`store`).
//!
//! Dependencies point one way: `document` and `words` are leaves; `load` calls `validate`,
//! which never reaches back into `load`; `calendar` uses `holiday`, never the reverse.

pub mod calendar;
pub mod condition;
pub mod document;
pub mod holiday;
pub mod load;
pub mod model;
pub mod store;
pub mod validate;
pub mod words;
