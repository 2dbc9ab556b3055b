//! Data checks run at load: a session's stored data is checked as the app's
//! types before anything reads it (see
//! [`SessionServiceBuilder::check_data`](super::SessionServiceBuilder::check_data)).

use std::fmt;

use crate::data::SessionData;
use crate::{FieldMap, SessionDataError};

/// Decodes and validates stored fields as one data type.
#[derive(Clone, Copy)]
pub(crate) struct DataCheck {
    type_name: &'static str,
    check: fn(&FieldMap) -> Result<(), SessionDataError>,
}

impl DataCheck {
    pub(crate) fn of<T: SessionData>() -> Self {
        Self {
            type_name: std::any::type_name::<T>(),
            check: |fields| T::decode_valid(fields).map(drop),
        }
    }

    /// The first check `fields` fails, with its error.
    pub(crate) fn first_failure(
        checks: &[DataCheck],
        fields: &FieldMap,
    ) -> Option<(&'static str, SessionDataError)> {
        checks
            .iter()
            .find_map(|c| (c.check)(fields).err().map(|e| (c.type_name, e)))
    }
}

impl fmt::Debug for DataCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.type_name)
    }
}
