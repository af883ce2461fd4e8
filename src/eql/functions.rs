//! What EQL's functions, arithmetic, lookups and pattern operators return inside a script (on
//! values, not on fields): the rules of Elasticsearch's EQL function reference, `null` in gives
//! `null` out, and what Elasticsearch would refuse (a string in arithmetic, division by zero,
//! an overflow) gives `null` (no match) instead of failing the search.

use super::ast::{ArithmeticOp, Function, MatchKind};
use super::eval::Ctx;
use super::pattern;
use super::value::{Value, in_cidr, parse_ip};

/// A function applied to evaluated arguments.
pub fn call(function: Function, insensitive: bool, args: &[Value]) -> Value {
    let arg = |i: usize| args.get(i).cloned().unwrap_or(Value::Null);
    match function {
        Function::Add => arithmetic(ArithmeticOp::Add, &arg(0), &arg(1)),
        Function::Subtract => arithmetic(ArithmeticOp::Subtract, &arg(0), &arg(1)),
        Function::Multiply => arithmetic(ArithmeticOp::Multiply, &arg(0), &arg(1)),
        Function::Divide => arithmetic(ArithmeticOp::Divide, &arg(0), &arg(1)),
        Function::Modulo => arithmetic(ArithmeticOp::Modulo, &arg(0), &arg(1)),
        Function::Between => between(args, insensitive),
        Function::CidrMatch => cidr_match(args),
        Function::Concat => concat(args),
        Function::EndsWith => two_strings(args, |s, t| pattern::ends_with(s, t, insensitive)),
        Function::StartsWith => two_strings(args, |s, t| pattern::starts_with(s, t, insensitive)),
        Function::StringContains => two_strings(args, |s, t| {
            // The reference: an empty substring is not contained, even in an empty string.
            !t.is_empty() && contains(s, t, insensitive)
        }),
        Function::IndexOf => index_of(args, insensitive),
        Function::Length => match arg(0) {
            Value::Str(s) => Value::Int(s.chars().count() as i64),
            _ => Value::Null,
        },
        Function::Number => number(&arg(0), &arg(1)),
        Function::String => arg(0).to_text().map_or(Value::Null, Value::Str),
        Function::Substring => substring(args),
    }
}

fn contains(text: &str, needle: &str, insensitive: bool) -> bool {
    let haystack: Vec<char> = text.chars().collect();
    let needle: Vec<char> = needle.chars().collect();
    pattern::find(&haystack, &needle, 0, insensitive).is_some()
}

fn two_strings(args: &[Value], test: impl Fn(&str, &str) -> bool) -> Value {
    match (args.first(), args.get(1)) {
        (Some(Value::Str(s)), Some(Value::Str(t))) => Value::Bool(test(s, t)),
        _ => Value::Null,
    }
}

/// `+ - * / %` and their functions: whole numbers stay whole (division truncates), a float
/// makes the result a float; `null`, non-numbers, division by zero and overflow give `null`.
pub fn arithmetic(op: ArithmeticOp, left: &Value, right: &Value) -> Value {
    if let (Value::Int(a), Value::Int(b)) = (left, right) {
        let result = match op {
            ArithmeticOp::Add => a.checked_add(*b),
            ArithmeticOp::Subtract => a.checked_sub(*b),
            ArithmeticOp::Multiply => a.checked_mul(*b),
            ArithmeticOp::Divide => a.checked_div(*b),
            ArithmeticOp::Modulo => a.checked_rem(*b),
        };
        return result.map_or(Value::Null, Value::Int);
    }
    let (Some(a), Some(b)) = (left.as_f64(), right.as_f64()) else {
        return Value::Null;
    };
    let result = match op {
        ArithmeticOp::Add => a + b,
        ArithmeticOp::Subtract => a - b,
        ArithmeticOp::Multiply => a * b,
        ArithmeticOp::Divide if b == 0.0 => return Value::Null,
        ArithmeticOp::Divide => a / b,
        ArithmeticOp::Modulo if b == 0.0 => return Value::Null,
        ArithmeticOp::Modulo => a % b,
    };
    if result.is_finite() {
        Value::Float(result)
    } else {
        Value::Null
    }
}

/// `between(source, left, right[, greedy])`: the text between the first `left` and the next
/// (greedy: the last) `right` after it; `""` when either is not found.
fn between(args: &[Value], insensitive: bool) -> Value {
    let (Some(Value::Str(source)), Some(Value::Str(left)), Some(Value::Str(right))) =
        (args.first(), args.get(1), args.get(2))
    else {
        return Value::Null;
    };
    let greedy = match args.get(3) {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Value::Null,
    };
    let text: Vec<char> = source.chars().collect();
    let left: Vec<char> = left.chars().collect();
    let right: Vec<char> = right.chars().collect();
    let Some(at) = pattern::find(&text, &left, 0, insensitive) else {
        return Value::Str(String::new());
    };
    let start = at + left.len();
    let end = if greedy {
        pattern::rfind(&text, &right, insensitive).filter(|&end| end >= start)
    } else {
        pattern::find(&text, &right, start, insensitive)
    };
    match end {
        Some(end) => Value::Str(text[start..end].iter().collect()),
        None => Value::Str(String::new()),
    }
}

/// `cidrMatch(ip, block...)`: `null` when any argument is `null` or not valid.
fn cidr_match(args: &[Value]) -> Value {
    let Some(Value::Str(address)) = args.first() else {
        return Value::Null;
    };
    let Some(ip) = parse_ip(address) else {
        return Value::Null;
    };
    let mut found = false;
    for block in &args[1..] {
        let Value::Str(block) = block else {
            return Value::Null;
        };
        match in_cidr(ip, block) {
            Some(hit) => found |= hit,
            None => return Value::Null,
        }
    }
    Value::Bool(found)
}

/// `concat(values...)`: the values as text, joined; `null` when any is `null`.
fn concat(args: &[Value]) -> Value {
    let mut joined = String::new();
    for arg in args {
        match arg.to_text() {
            Some(text) => joined.push_str(&text),
            None => return Value::Null,
        }
    }
    Value::Str(joined)
}

/// `indexOf(source, substring[, start])`: the first position at or after `start` (negative is
/// 0), `null` when not found or when `start` is past the end.
fn index_of(args: &[Value], insensitive: bool) -> Value {
    let (Some(Value::Str(source)), Some(Value::Str(needle))) = (args.first(), args.get(1)) else {
        return Value::Null;
    };
    let start = match args.get(2) {
        None => 0,
        Some(Value::Int(i)) => *i,
        Some(_) => return Value::Null,
    };
    let text: Vec<char> = source.chars().collect();
    let needle: Vec<char> = needle.chars().collect();
    let start = start.max(0) as usize;
    if start > text.len() {
        return Value::Null;
    }
    pattern::find(&text, &needle, start, insensitive).map_or(Value::Null, |i| Value::Int(i as i64))
}

/// `number(text[, base])`: an integer or float; `0x` text is hexadecimal; surrounding
/// whitespace is ignored; what does not read as a number gives `null`.
fn number(text: &Value, base: &Value) -> Value {
    let Value::Str(text) = text else {
        return Value::Null;
    };
    let trimmed = text.trim();
    let (negative, digits) = match trimmed.as_bytes().first() {
        Some(b'-') => (true, &trimmed[1..]),
        Some(b'+') => (false, &trimmed[1..]),
        _ => (false, trimmed),
    };
    let hex_digits = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"));
    let radix = match (base, hex_digits) {
        (Value::Null, Some(_)) => 16,
        (Value::Null, None) => 10,
        (Value::Int(b), _) if (2..=36).contains(b) => *b as u32,
        _ => return Value::Null,
    };
    let digits = if radix == 16 {
        hex_digits.unwrap_or(digits)
    } else {
        digits
    };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return Value::Null;
    }
    if let Ok(n) = i64::from_str_radix(digits, radix) {
        return Value::Int(if negative { -n } else { n });
    }
    if radix != 10 {
        return Value::Null;
    }
    match trimmed.parse::<f64>() {
        Ok(x) if x.is_finite() && !digits.contains(char::is_alphabetic) => Value::Float(x),
        _ => Value::Null,
    }
}

/// `substring(source, start[, end])`: positions from 0, negative ones counted from the end.
fn substring(args: &[Value]) -> Value {
    let Some(Value::Str(source)) = args.first() else {
        return Value::Null;
    };
    let text: Vec<char> = source.chars().collect();
    let len = text.len() as i64;
    let position = |value: Option<&Value>, default: i64| match value {
        None | Some(Value::Null) => Some(default),
        Some(Value::Int(i)) => Some(if *i < 0 {
            (len + i).max(0)
        } else {
            (*i).min(len)
        }),
        Some(_) => None,
    };
    let (Some(start), Some(end)) = (position(args.get(1), 0), position(args.get(2), len)) else {
        return Value::Null;
    };
    if start >= end {
        return Value::Str(String::new());
    }
    Value::Str(text[start as usize..end as usize].iter().collect())
}

/// `value in (items)` in a script: `null` for a `null` value; `true` when an item equals it;
/// else `null` when an item is `null`, `false` otherwise.
pub fn in_list(value: &Value, items: &[Value], insensitive: bool) -> Value {
    if value.is_null() {
        return Value::Null;
    }
    let equal = |item: &Value| match (value, item) {
        (Value::Str(a), Value::Str(b)) if insensitive => pattern::strings_equal(a, b, true),
        _ => value.compare(item) == Some(std::cmp::Ordering::Equal),
    };
    if items.iter().any(equal) {
        return Value::Bool(true);
    }
    if items.iter().any(Value::is_null) {
        return Value::Null;
    }
    Value::Bool(false)
}

/// `:`, `like`, `regex` (and `~`) on a value in a script: `null` for a non-string value.
pub fn match_value(ctx: &Ctx<'_>, kind: MatchKind, value: &Value, patterns: &[String]) -> Value {
    let Value::Str(text) = value else {
        return Value::Null;
    };
    let insensitive = kind.insensitive();
    let hit = patterns.iter().any(|p| {
        if kind.is_regex() {
            ctx.regex_matches(p, insensitive, text)
        } else {
            pattern::wildcard_matches(p, text, insensitive)
        }
    });
    Value::Bool(hit)
}
