//! Reading raw replies without trusting their shape.

use redis::Value;

/// The items of an array (or set) reply.
pub(crate) fn array(value: Value) -> Option<Vec<Value>> {
    match value {
        Value::Array(items) | Value::Set(items) => Some(items),
        _ => None,
    }
}

/// An integer reply.
pub(crate) fn int(value: &Value) -> Option<i64> {
    match value {
        Value::Int(n) => Some(*n),
        _ => None,
    }
}

/// A string reply; `Some(None)` for nil, `None` for anything else.
pub(crate) fn bytes(value: Value) -> Option<Option<Vec<u8>>> {
    match value {
        Value::Nil => Some(None),
        Value::BulkString(b) => Some(Some(b)),
        Value::SimpleString(s) => Some(Some(s.into_bytes())),
        Value::VerbatimString { text, .. } => Some(Some(text.into_bytes())),
        Value::Okay => Some(Some(b"OK".to_vec())),
        _ => None,
    }
}

/// A string reply as text.
pub(crate) fn text(value: Value) -> Option<String> {
    String::from_utf8(bytes(value)??).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_are_checked() {
        assert_eq!(bytes(Value::Nil), Some(None));
        assert_eq!(bytes(Value::Int(3)), None);
        assert_eq!(text(Value::BulkString(vec![0xff])), None);
        assert_eq!(int(&Value::Int(4)), Some(4));
    }
}
