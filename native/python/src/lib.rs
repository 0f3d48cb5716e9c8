//! `duanka._native`: duanka-core for Python.
//!
//! No panic may reach Python: every entry point runs its work under `catch_unwind` and
//! answers as if the fast path could not say (None), so the Python reference decides.

use std::panic::catch_unwind;

use duanka_core::admission::{admit, Field, Topic};
use pyo3::prelude::*;
use pyo3::types::PyList;

/// The compact form of an input event (a list of its field values in its model's field
/// order, timestamps as written) if `value` is plainly a valid event of `topic`; None
/// otherwise, and for topics without a fast path.
#[pyfunction]
fn event_values<'py>(
    py: Python<'py>,
    topic: &str,
    value: &[u8],
) -> PyResult<Option<Bound<'py, PyList>>> {
    let Some(topic) = Topic::named(topic) else {
        return Ok(None);
    };
    let Some(fields) = catch_unwind(|| admit(topic, value)).ok().flatten() else {
        return Ok(None);
    };
    let mut items = Vec::with_capacity(fields.len());
    for field in fields {
        items.push(match field {
            Field::Text(text) => text.into_pyobject(py)?.into_any(),
            Field::Int(number) => number.into_pyobject(py)?.into_any(),
            Field::Null => py.None().into_bound(py),
        });
    }
    PyList::new(py, items).map(Some)
}

/// The module.
#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(event_values, module)?)
}
