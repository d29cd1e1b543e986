//! The HTML the server renders: page and fragment templates (askama, escaped by default) with
//! the view models that turn plans, run records and snapshots into display strings, one file
//! per page. No I/O, no clock: handlers fetch the data and hand it over. Times, rates and
//! percentages get their text from `crate::format` (counts print as integers); no view formats a
//! number its own way. Everything is unit-tested by rendering.
//!
//! Rule: nothing coming from a plan, a run or a target is ever marked `|safe`. The one `|safe`
//! is the embedded series JSON, whose `<` are escaped by [`series_json`].

#[cfg(test)]
mod fixtures;
mod history;
mod index;
mod run;
mod tables;

use askama::Template;
use askama_web::WebTemplate;

pub use history::{RunRow, RunsPage};
pub use index::{ClassView, IndexPage, PlanView, TaskView};
pub use run::{series_json, RatioView, RunPage, StagesSection, ThresholdView, ThresholdsList};
pub use tables::{AgentsTable, FailuresTable, RowView, StatsTable, StatsView, WarningsList};

/// Any HTML error page; pair it with its status: `(StatusCode, ErrorPage)`.
#[derive(Template, WebTemplate)]
#[template(path = "pages/error.html")]
pub struct ErrorPage {
    pub status: u16,
    pub title: String,
    pub message: String,
}

impl ErrorPage {
    pub fn new(status: u16, title: impl Into<String>, message: impl Into<String>) -> ErrorPage {
        ErrorPage {
            status,
            title: title.into(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::views::fixtures::{assert_escaped, XSS};

    #[test]
    fn error_page_shows_status_and_escapes() {
        let html = ErrorPage::new(404, "Run not found", format!("no run {XSS}"))
            .render()
            .unwrap();
        assert!(html.contains("<p class=\"error-status\">404</p>"));
        assert!(html.contains("<h1>Run not found</h1>"));
        assert_escaped(&html);
    }
}
