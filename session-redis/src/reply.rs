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

/// Field/value pairs of an `HGETALL` reply (a flat array, or a map in RESP3).
pub(crate) fn pairs(value: Value) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    match value {
        Value::Map(entries) => entries
            .into_iter()
            .map(|(k, v)| Some((bytes(k)??, bytes(v)??)))
            .collect(),
        other => {
            let items = array(other)?;
            if items.len() % 2 != 0 {
                return None;
            }
            let mut out = Vec::with_capacity(items.len() / 2);
            let mut items = items.into_iter();
            while let (Some(k), Some(v)) = (items.next(), items.next()) {
                out.push((bytes(k)??, bytes(v)??));
            }
            Some(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_are_checked() {
        let flat = Value::Array(vec![
            Value::BulkString(b"a".to_vec()),
            Value::BulkString(b"1".to_vec()),
        ]);
        assert_eq!(pairs(flat), Some(vec![(b"a".to_vec(), b"1".to_vec())]));
        assert_eq!(pairs(Value::Array(vec![Value::Int(1)])), None);
        assert_eq!(bytes(Value::Nil), Some(None));
        assert_eq!(bytes(Value::Int(3)), None);
        assert_eq!(text(Value::BulkString(vec![0xff])), None);
        assert_eq!(int(&Value::Int(4)), Some(4));
    }
}
