//! `[shapes.NAME]`: ramp `stages` (closed model) or `arrival` stages with `max_users` (open
//! model).

use toml::de::DeTable;

use super::{field, Validator};
use crate::plan::limits;
use crate::plan::model::*;
use crate::plan::parse::{entries, Val};

const SHAPE_KEYS: &[&str] = &["stages", "arrival", "max_users"];
const STAGE_KEYS: &[&str] = &["duration", "users", "spawn_rate"];
const ARRIVAL_KEYS: &[&str] = &["duration", "rate"];

impl Validator<'_, '_> {
    pub(super) fn shapes(&mut self, v: &Val<'_>) -> Vec<Shape> {
        let Some(t) = self.table(v, "[shapes.NAME] tables") else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (name, _, value) in entries(t) {
            if let Some(kind) = self.shape(value) {
                out.push(Shape {
                    name: name.to_string(),
                    kind,
                });
            }
        }
        out
    }

    pub(super) fn shape(&mut self, v: &Val<'_>) -> Option<ShapeKind> {
        let t = self.table(v, "a shape: stages = [..] or arrival = [..] with max_users")?;
        self.keys(t, SHAPE_KEYS, SHAPE_KEYS, "keys of a shape");
        match (field(t, "stages"), field(t, "arrival")) {
            (Some(_), Some((aspan, _))) => {
                self.err(aspan.start, "stages or arrival in a shape", "both");
                None
            }
            (None, None) => {
                self.err(
                    v.span().start,
                    "stages = [ { duration, users, spawn_rate } ] or arrival = [ { duration, rate } ]",
                    "neither",
                );
                None
            }
            (Some((_, sv)), None) => self.stages_shape(t, sv),
            (None, Some((_, av))) => self.arrival_shape(t, v, av),
        }
    }

    /// `stages = [ { duration, users, spawn_rate } ]`: the closed model.
    fn stages_shape(&mut self, t: &DeTable<'_>, sv: &Val<'_>) -> Option<ShapeKind> {
        if let Some((mspan, _)) = field(t, "max_users") {
            self.err(
                mspan.start,
                "max_users only with arrival",
                "max_users with stages",
            );
        }
        let items = self.array(sv, "stages: an array of { duration, users, spawn_rate }")?;
        if items.is_empty() {
            self.err(sv.span().start, "at least one stage", "an empty array");
        }
        if !self.at_most(sv, items.len(), limits::MAX_STAGES, "stages") {
            return None;
        }
        let mut stages = Vec::new();
        for item in items {
            let Some(st) = self.table(item, "a stage: { duration, users, spawn_rate }") else {
                continue;
            };
            self.keys(st, STAGE_KEYS, STAGE_KEYS, "keys of a stage");
            let duration = self
                .required(st, item, "duration", "a stage duration")
                .and_then(|d| self.duration(d, true));
            let users = self
                .required(st, item, "users", "the stage's users")
                .and_then(|u| self.u32(u, "users", 0, limits::MAX_USERS));
            let spawn_rate = field(st, "spawn_rate")
                .map(|(_, r)| self.number(r, "spawn_rate", limits::MIN_RATE, limits::MAX_RATE));
            if let (Some(duration), Some(users), None | Some(Some(_))) =
                (duration, users, spawn_rate)
            {
                stages.push(Stage {
                    duration,
                    users,
                    spawn_rate: spawn_rate.flatten(),
                });
            }
        }
        Some(ShapeKind::Stages(stages))
    }

    /// `arrival = [ { duration, rate } ]` with `max_users`: the open model.
    fn arrival_shape(&mut self, t: &DeTable<'_>, v: &Val<'_>, av: &Val<'_>) -> Option<ShapeKind> {
        let max_users = match field(t, "max_users") {
            Some((_, m)) => self.u32(m, "max_users", 1, limits::MAX_USERS),
            None => {
                self.err(
                    v.span().start,
                    "max_users (the cap on users in flight) with arrival",
                    "no max_users",
                );
                None
            }
        };
        let items = self.array(av, "arrival: an array of { duration, rate }")?;
        if items.is_empty() {
            self.err(
                av.span().start,
                "at least one arrival stage",
                "an empty array",
            );
        }
        if !self.at_most(av, items.len(), limits::MAX_STAGES, "stages") {
            return None;
        }
        let mut stages = Vec::new();
        for item in items {
            let Some(st) = self.table(item, "an arrival stage: { duration, rate }") else {
                continue;
            };
            self.keys(st, ARRIVAL_KEYS, ARRIVAL_KEYS, "keys of an arrival stage");
            let duration = self
                .required(st, item, "duration", "a stage duration")
                .and_then(|d| self.duration(d, true));
            let rate = self
                .required(st, item, "rate", "the rate (task starts per second)")
                .and_then(|r| self.number(r, "rate", 0.0, limits::MAX_RATE));
            if let (Some(duration), Some(rate)) = (duration, rate) {
                stages.push(ArrivalStage { duration, rate });
            }
        }
        Some(ShapeKind::Arrival {
            stages,
            max_users: max_users?,
        })
    }
}
