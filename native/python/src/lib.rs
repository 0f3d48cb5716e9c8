//! `duanka._native`: duanka-core for Python.
//!
//! No panic may reach Python: every entry point runs its work under `catch_unwind`; the
//! fast path of admission then answers as if it could not say (None), so the Python
//! reference decides, and a subject's engine raises `ValueError`, which the shell turns
//! into a dead letter as it does any error of the Python engine.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use duanka_core::admission::{admit, Field, Topic};
use duanka_core::engine::{Engine, Event, Policy};
use duanka_core::state::{Kind, SubjectState};
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

/// The subjects of one kind held by a worker or replay: their states, kept here between
/// events, and the engine that applies events to them.
#[pyclass(module = "duanka._native")]
struct Subjects {
    kind: Kind,
    engine: Engine,
    states: HashMap<String, SubjectState>,
}

/// What applying one event produced: its alerts and duanka's own watchlist entries as wire
/// JSON, the identities whose own listing it lifts, and whether it was a duplicate or late.
type Applied<'py> = (
    Vec<Bound<'py, PyBytes>>,
    Vec<Bound<'py, PyBytes>>,
    Vec<String>,
    bool,
    bool,
);

fn invalid(message: String) -> PyErr {
    PyValueError::new_err(message)
}

#[pymethods]
impl Subjects {
    /// The subjects of `kind` under the policy `Policy.in_ms` wrote.
    #[new]
    fn new(kind: &str, policy: &[u8]) -> PyResult<Self> {
        let kind = Kind::named(kind).ok_or_else(|| invalid(format!("no native {kind} kind")))?;
        let policy = Policy::from_json(policy).map_err(invalid)?;
        Ok(Subjects {
            kind,
            engine: Engine::new(policy),
            states: HashMap::new(),
        })
    }

    /// Apply an event of `stream`, in its compact form as JSON, to the subject `key`, read
    /// at `offset` (None: not known) of `origin`, at `watermark` (None: not known);
    /// `now_us` is the time its alerts are detected at (epoch µs).
    #[pyo3(signature = (key, stream, values, origin, offset, watermark, now_us))]
    #[allow(clippy::too_many_arguments)]
    fn apply<'py>(
        &mut self,
        py: Python<'py>,
        key: &str,
        stream: &str,
        values: &[u8],
        origin: &str,
        offset: Option<i64>,
        watermark: Option<i64>,
        now_us: i64,
    ) -> PyResult<Applied<'py>> {
        let event = Event::from_compact(stream, values).map_err(invalid)?;
        let (engine, kind) = (&self.engine, self.kind);
        let state = self
            .states
            .entry(key.to_owned())
            .or_insert_with(|| SubjectState::new(kind));
        let applied = catch_unwind(AssertUnwindSafe(|| {
            engine.apply(state, key, &event, origin, offset, watermark, now_us)
        }))
        .map_err(|_| invalid("the native engine failed".to_owned()))?
        .map_err(invalid)?;
        if state.is_empty() {
            self.states.remove(key);
        }
        let bytes = |json: &Vec<Box<serde_json::value::RawValue>>| {
            json.iter()
                .map(|one| PyBytes::new(py, one.get().as_bytes()))
                .collect()
        };
        Ok((
            bytes(&applied.alerts),
            bytes(&applied.listings),
            applied.lifts,
            applied.duplicate,
            applied.late,
        ))
    }

    /// Forget what no event at or after `watermark` minus the lateness can reach, as the
    /// subject's own events do; whether the subject is then forgotten altogether (it held
    /// nothing else). False for a subject not held.
    fn expire(&mut self, key: &str, watermark: i64) -> bool {
        let Some(state) = self.states.get_mut(key) else {
            return false;
        };
        self.engine.settle(state, Some(watermark));
        let empty = state.is_empty();
        if empty {
            self.states.remove(key);
        }
        empty
    }

    /// How far behind the watermark anything a subject of this kind records is kept (ms).
    fn retention(&self) -> i64 {
        self.engine.retention(self.kind)
    }

    /// The ids of the subjects held.
    fn ids(&self) -> Vec<String> {
        self.states.keys().cloned().collect()
    }

    fn __len__(&self) -> usize {
        self.states.len()
    }

    fn __contains__(&self, key: &str) -> bool {
        self.states.contains_key(key)
    }

    /// The subject's state as the changelog stores it; None if it has none.
    fn state<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let Some(state) = self.states.get(key) else {
            return Ok(None);
        };
        let json = state.to_json().map_err(|e| invalid(e.to_string()))?;
        Ok(Some(PyBytes::new(py, &json)))
    }

    /// Take the subject's state from its changelog value.
    fn load(&mut self, key: &str, value: &[u8]) -> PyResult<()> {
        let state = SubjectState::from_json(self.kind, value).map_err(invalid)?;
        self.states.insert(key.to_owned(), state);
        Ok(())
    }

    /// Drop every subject held (a worker holds a batch's subjects only while it applies
    /// the batch).
    fn clear(&mut self) {
        self.states.clear();
    }
}

/// The module.
#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(event_values, module)?)?;
    module.add_class::<Subjects>()
}
