//! Failure groups: how many distinct (name, error) texts a run keeps, and how long a text may
//! be. Shared by the aggregator (a run's groups) and an agent's seconds (`interval.rs`), so
//! both cap and clip alike.

/// Distinct (name, error) groups kept; later new errors are counted under [`OTHER_ERRORS`].
pub const FAILURE_GROUP_CAP: usize = 1000;
/// The error text that takes new errors once [`FAILURE_GROUP_CAP`] groups exist.
pub const OTHER_ERRORS: &str = "(other errors)";
/// Longer error texts (a whole response body, say) are cut: they are group keys held all run.
pub const MAX_ERROR_BYTES: usize = 1024;

/// An error text as failure groups keep it: at most [`MAX_ERROR_BYTES`] (then `…`).
pub fn clip_error(mut error: String) -> String {
    if error.len() > MAX_ERROR_BYTES {
        let mut cut = MAX_ERROR_BYTES;
        while !error.is_char_boundary(cut) {
            cut -= 1;
        }
        error.truncate(cut);
        error.push('…');
    }
    error
}
