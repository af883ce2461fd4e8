//! Writes a syntax tree back as EQL text that parses to the same tree: every operator's operands
//! are parenthesized where precedence could regroup them, strings are escaped, names are
//! backquoted when they are not plain identifiers. Used by the round-trip property tests and to
//! show a residual condition in messages.

use super::ast::*;
use std::fmt::{self, Display, Formatter, Write};

impl Display for Query {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.body {
            Body::Event(filter) => write!(f, "{filter}")?,
            Body::Sequence(sequence) => write_sequence(f, sequence)?,
            Body::Sample(sample) => {
                write!(f, "sample")?;
                write_keys(f, &sample.by)?;
                for stage in &sample.stages {
                    write!(f, " [{}]", stage.filter)?;
                    write_keys(f, &stage.by)?;
                }
            }
        }
        for pipe in &self.pipes {
            match pipe {
                Pipe::Head(n) => write!(f, " | head {n}")?,
                Pipe::Tail(n) => write!(f, " | tail {n}")?,
            }
        }
        Ok(())
    }
}

fn write_sequence(f: &mut Formatter<'_>, sequence: &Sequence) -> fmt::Result {
    write!(f, "sequence")?;
    write_keys(f, &sequence.by)?;
    if let Some(span) = sequence.maxspan {
        write!(f, " with maxspan={}{}", span.value, span.unit.symbol())?;
    }
    for stage in &sequence.stages {
        write!(f, " ")?;
        write_stage(f, stage)?;
    }
    if let Some(until) = &sequence.until {
        write!(f, " until ")?;
        write_stage(f, until)?;
    }
    Ok(())
}

fn write_stage(f: &mut Formatter<'_>, stage: &SequenceStage) -> fmt::Result {
    let open = if stage.missing { "![" } else { "[" };
    write!(f, "{open}{}]", stage.filter)?;
    write_keys(f, &stage.by)?;
    if let Some(runs) = stage.runs {
        write!(f, " with runs={runs}")?;
    }
    Ok(())
}

fn write_keys(f: &mut Formatter<'_>, keys: &[Expr]) -> fmt::Result {
    for (i, key) in keys.iter().enumerate() {
        let lead = if i == 0 { " by " } else { ", " };
        write!(f, "{lead}{key}")?;
    }
    Ok(())
}

impl Display for EventFilter {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.category {
            Category::Any => write!(f, "any")?,
            Category::Named(name) => write_string(f, name)?,
        }
        write!(f, " where {}", self.condition)
    }
}

/// Writes a string literal that decodes to `text`.
pub fn write_string(f: &mut impl Write, text: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in text.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            _ if c.is_control() => write!(f, "\\u{{{:04x}}}", u32::from(c))?,
            _ => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

fn write_field(f: &mut Formatter<'_>, field: &Field) -> fmt::Result {
    if field.optional {
        write!(f, "?")?;
    }
    // Every part backquoted: a dot inside a part cannot be told from a separator, so a name is
    // written as one backquoted part, which reads back as the same name.
    write!(f, "`{}`", field.name.replace('`', "``"))
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Literal(literal) => write_literal(f, literal),
            Expr::Field(field) => write_field(f, field),
            Expr::Not(inner) => write!(f, "not ({inner})"),
            Expr::And(children) => write_joined(f, children, "and"),
            Expr::Or(children) => write_joined(f, children, "or"),
            Expr::Compare { op, left, right } => {
                write!(f, "({left}) {} ({right})", op.symbol())
            }
            Expr::Match {
                kind,
                value,
                patterns,
            } => {
                write!(f, "({value}) {} (", kind.symbol())?;
                for (i, pattern) in patterns.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write_string(f, pattern)?;
                }
                write!(f, ")")
            }
            Expr::In {
                value,
                list,
                insensitive,
                negated,
            } => {
                let not = if *negated { " not" } else { "" };
                let tilde = if *insensitive { "~" } else { "" };
                write!(f, "({value}){not} in{tilde} (")?;
                write_list(f, list)?;
                write!(f, ")")
            }
            Expr::Arithmetic { op, left, right } => {
                write!(f, "({left}) {} ({right})", op.symbol())
            }
            Expr::Negate(inner) => write!(f, "-({inner})"),
            Expr::Call {
                function,
                insensitive,
                args,
            } => {
                let tilde = if *insensitive { "~" } else { "" };
                write!(f, "{}{tilde}(", function.name())?;
                write_list(f, args)?;
                write!(f, ")")
            }
        }
    }
}

fn write_list(f: &mut Formatter<'_>, items: &[Expr]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            write!(f, ", ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

fn write_joined(f: &mut Formatter<'_>, children: &[Expr], word: &str) -> fmt::Result {
    for (i, child) in children.iter().enumerate() {
        if i > 0 {
            write!(f, " {word} ")?;
        }
        write!(f, "({child})")?;
    }
    Ok(())
}

fn write_literal(f: &mut Formatter<'_>, literal: &Literal) -> fmt::Result {
    match literal {
        Literal::Null => write!(f, "null"),
        Literal::Bool(b) => write!(f, "{b}"),
        Literal::Integer(n) => write!(f, "{n}"),
        // `{:?}` always writes a decimal point or an exponent, so it reads back as a float.
        Literal::Float(x) => write!(f, "{x:?}"),
        Literal::String(text) => write_string(f, text),
    }
}
