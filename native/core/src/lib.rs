//! duanka's native detection core: what the Python core does per event, without Python.
//!
//! Nothing here knows of Python or Kafka (`duanka-native` is the binding). The Python
//! implementation stays the reference, and differential tests hold this to it:
//! `tests/unit/test_native.py` (admission), `tests/unit/test_native_engine.py` (the engine).

pub mod admission;
pub mod alerting;
pub mod bursts;
pub mod engine;
pub mod history;
pub mod rules;
pub mod state;
pub mod text;
pub mod timestamp;
