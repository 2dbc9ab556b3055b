// The accessors of a deprecated field are deprecated with it: the app's own
// calls still warn (here denied), though the generated code's uses do not.
#![deny(deprecated)]

use session_axum::prelude::*;

#[session_data]
#[derive(Debug, Clone, Default)]
pub struct Info {
    pub name: Option<String>,
    #[deprecated(note = "read `name`")]
    pub nickname: Option<String>,
}

fn rename(session: &mut Session<Info>) {
    session.set_nickname(Some("ada".into()));
}

fn main() {
    let _ = rename;
}
