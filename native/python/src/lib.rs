//! `duanka._native`: duanka-core for Python.
//!
//! No panic may reach Python: every entry point runs its work under `catch_unwind`; the
//! fast path of admission then answers as if it could not say (None), so the Python
//! reference decides, and a subject's engine raises `ValueError`, which the shell turns
//! into a dead letter as it does any error of the Python engine.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use duanka_core::admission::{admit, Field, Topic};
use duanka_core::engine::{DeviceEvent, Engine, Policy};
use duanka_core::rules::shared_device;
use duanka_core::state::DeviceState;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

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

/// The device subjects of one worker or replay: their states, kept here between events,
/// and the engine that applies events to them.
#[pyclass(module = "duanka._native")]
struct DeviceSubjects {
    engine: Engine,
    states: HashMap<String, DeviceState>,
}

/// What applying one event produced: its alerts as wire JSON, and whether it was a
/// duplicate or late.
type Applied<'py> = (Vec<Bound<'py, PyBytes>>, bool, bool);

#[pymethods]
impl DeviceSubjects {
    #[new]
    fn new(allowed_lateness_ms: i64, min_identities: usize, window_ms: i64) -> Self {
        let policy = Policy {
            allowed_lateness_ms,
            shared_device: shared_device::Policy {
                min_identities,
                window_ms,
            },
        };
        DeviceSubjects {
            engine: Engine::new(policy),
            states: HashMap::new(),
        }
    }

    /// Apply an event of `stream` ("sim" or "open"), in its compact form as JSON, to the
    /// device `key`, read from `origin`, at `watermark` (None: not known); `now_us` is
    /// the time its alerts are detected at (epoch µs).
    #[pyo3(signature = (key, stream, values, origin, watermark, now_us))]
    #[allow(clippy::too_many_arguments)]
    fn apply<'py>(
        &mut self,
        py: Python<'py>,
        key: &str,
        stream: &str,
        values: &[u8],
        origin: &str,
        watermark: Option<i64>,
        now_us: i64,
    ) -> PyResult<Applied<'py>> {
        let event = DeviceEvent::from_compact(stream, values).map_err(PyValueError::new_err)?;
        let engine = &self.engine;
        let state = self.states.entry(key.to_owned()).or_default();
        let applied = catch_unwind(AssertUnwindSafe(|| {
            engine.apply_device(state, key, &event, origin, watermark, now_us)
        }))
        .map_err(|_| PyValueError::new_err("the native engine failed"))?
        .map_err(PyValueError::new_err)?;
        if state.is_empty() {
            self.states.remove(key);
        }
        let alerts = applied
            .alerts
            .iter()
            .map(|alert| PyBytes::new(py, alert.get().as_bytes()))
            .collect();
        Ok((alerts, applied.duplicate, applied.late))
    }

    /// The device's state as the changelog stores it; None if it has none.
    fn state<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let Some(state) = self.states.get(key) else {
            return Ok(None);
        };
        let json = state
            .to_json()
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(Some(PyBytes::new(py, &json)))
    }

    /// Take the device's state from its changelog value.
    fn load(&mut self, key: &str, value: &[u8]) -> PyResult<()> {
        let state = DeviceState::from_json(value).map_err(PyValueError::new_err)?;
        self.states.insert(key.to_owned(), state);
        Ok(())
    }
}

/// The module.
#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(event_values, module)?)?;
    module.add_class::<DeviceSubjects>()
}
