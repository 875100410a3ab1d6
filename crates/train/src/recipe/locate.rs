//! Lines and keys of a recipe's text, for errors: which key a parse error points at, and on
//! which line a key that failed validation was written.

use toml::de::{DeTable, DeValue};

/// The 1-based line of byte `offset` in `text`.
pub(super) fn line_at(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

/// The line on which the value of `path` (`"model.layers[2].p"`) is written, or of the deepest
/// part of the path that is written (the table of a missing key).
pub(super) fn line_of(text: &str, path: &str) -> Option<usize> {
    let document = DeTable::parse(text).ok()?;
    let mut best = None;
    let mut table = document.get_ref();
    let mut parts = parse_path(path).into_iter().peekable();
    let mut value: Option<&toml::Spanned<DeValue<'_>>> = None;
    while let Some(part) = parts.next() {
        let next = match (&part, value) {
            (PathPart::Key(key), None) => table.get(key.as_str()),
            (PathPart::Key(key), Some(current)) => current.get_ref().get(key.as_str()),
            (PathPart::Index(index), Some(current)) => current.get_ref().get(*index),
            (PathPart::Index(_), None) => None,
        };
        let Some(next) = next else { break };
        best = Some(line_at(text, next.span().start));
        value = Some(next);
        if let (Some(_), DeValue::Table(inner)) = (parts.peek(), next.get_ref()) {
            table = inner;
            value = None;
        }
    }
    best
}

/// The dotted path of the key whose key or value contains byte `offset` (the innermost one).
pub(super) fn key_at(text: &str, offset: usize) -> Option<String> {
    let document = DeTable::parse(text).ok()?;
    let mut path = String::new();
    find_in_table(document.get_ref(), offset, &mut path).then_some(path)
}

fn find_in_table(table: &DeTable<'_>, offset: usize, path: &mut String) -> bool {
    for (key, value) in table.iter() {
        let inside_key = key.span().contains(&offset);
        let inside_value = value.span().contains(&offset) || value.span().end == offset;
        if !(inside_key || inside_value) {
            continue;
        }
        let length = path.len();
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key.get_ref());
        if inside_value {
            let mut deeper = path.clone();
            if find_in_value(value.get_ref(), offset, &mut deeper) {
                *path = deeper;
            }
        }
        let _ = length;
        return true;
    }
    // Tables of `[[array]]` and `[table]` headers span only their headers: look inside all.
    for (key, value) in table.iter() {
        let mut deeper =
            if path.is_empty() { key.get_ref().to_string() } else { format!("{path}.{}", key.get_ref()) };
        if find_in_value(value.get_ref(), offset, &mut deeper) {
            *path = deeper;
            return true;
        }
    }
    false
}

fn find_in_value(value: &DeValue<'_>, offset: usize, path: &mut String) -> bool {
    match value {
        DeValue::Table(table) => find_in_table(table, offset, path),
        DeValue::Array(array) => {
            for (index, item) in array.iter().enumerate() {
                let mut deeper = format!("{path}[{index}]");
                if item.span().contains(&offset) {
                    find_in_value(item.get_ref(), offset, &mut deeper);
                    *path = deeper;
                    return true;
                }
                if find_in_value(item.get_ref(), offset, &mut deeper) {
                    *path = deeper;
                    return true;
                }
            }
            false
        }
        _ => false,
    }
}

enum PathPart {
    Key(String),
    Index(usize),
}

/// `"model.layers[2].p"` as keys and indices.
fn parse_path(path: &str) -> Vec<PathPart> {
    let mut parts = Vec::new();
    for piece in path.split('.') {
        let mut rest = piece;
        if let Some(open) = rest.find('[') {
            parts.push(PathPart::Key(rest[..open].to_string()));
            rest = &rest[open..];
            while let Some(close) = rest.find(']') {
                if let Ok(index) = rest[1..close].parse() {
                    parts.push(PathPart::Index(index));
                }
                rest = &rest[close + 1..];
            }
        } else {
            parts.push(PathPart::Key(rest.to_string()));
        }
    }
    parts
}
