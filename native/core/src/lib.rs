//! duanka's native detection core: what the Python core does per event, without Python.
//!
//! Nothing here knows of Python or Kafka (`duanka-native` is the binding). The Python
//! implementation stays the reference: every function here has a differential test in
//! `tests/unit/test_native.py` against it.

pub mod admission;
pub mod text;
pub mod timestamp;
