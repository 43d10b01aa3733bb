//! Graph checks over parsed machines: `StartAt` names a state, every `Next`, `Default` and
//! catcher `Next` names a state of the same machine, and every state is reachable from `StartAt`.
//! Field-level checks happen while parsing, in [`crate::definition`].

use std::collections::{BTreeSet, VecDeque};

use crate::definition::{Kind, Machine, State, Transition};
use crate::error::ValidationError;
use crate::template::escape_pointer;

/// The states `state` may go to, with the JSON pointer of the field naming each.
pub(crate) fn targets(state: &State) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Transition::Next(n) = &state.transition {
        out.push((n.clone(), format!("{}/Next", state.pointer)));
    }
    if let Kind::Choice { choices, default } = &state.kind {
        for (i, c) in choices.iter().enumerate() {
            out.push((c.next.clone(), format!("{}/Choices/{i}/Next", state.pointer)));
        }
        if let Some(d) = default {
            out.push((d.clone(), format!("{}/Default", state.pointer)));
        }
    }
    for (i, c) in state.catch.iter().enumerate() {
        out.push((c.next.clone(), format!("{}/Catch/{i}/Next", state.pointer)));
    }
    out
}

/// Checks every machine; problems are appended to `errors`.
pub(crate) fn check_graph(machines: &[Machine], errors: &mut Vec<ValidationError>) {
    for m in machines {
        if !m.states.contains_key(&m.start_at) {
            errors.push(ValidationError {
                state: m.owner.clone(),
                field: format!("{}/StartAt", m.pointer),
                message: format!("StartAt names {:?}, which is not a state of this machine", m.start_at),
            });
            continue;
        }
        for state in m.states.values() {
            for (target, field) in targets(state) {
                if !m.states.contains_key(&target) {
                    errors.push(ValidationError {
                        state: Some(state.name.clone()),
                        field,
                        message: format!("{target:?} is not a state of this machine"),
                    });
                }
            }
        }
        let mut seen = BTreeSet::new();
        let mut queue = VecDeque::from([m.start_at.clone()]);
        while let Some(name) = queue.pop_front() {
            if !seen.insert(name.clone()) {
                continue;
            }
            if let Some(state) = m.states.get(&name) {
                queue.extend(targets(state).into_iter().map(|(t, _)| t));
            }
        }
        for name in m.states.keys() {
            if !seen.contains(name) {
                errors.push(ValidationError {
                    state: Some(name.clone()),
                    field: format!("{}/States/{}", m.pointer, escape_pointer(name)),
                    message: format!("state {name:?} cannot be reached from StartAt"),
                });
            }
        }
    }
}
