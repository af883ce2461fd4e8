//! The closed syntax tree of an EQL query as Elasticsearch's grammar builds it: an event query,
//! a sequence or a sample, then pipes. Conditions are [`Expr`] trees. No parsing, no evaluation
//! here; the printer that writes a tree back as EQL text is in the `print` module.

/// A parsed EQL query: its body and the pipes after it.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub body: Body,
    pub pipes: Vec<Pipe>,
}

/// What the query searches for.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// `category where condition`: single events.
    Event(EventFilter),
    /// `sequence ... [..] [..]`: ordered series of events.
    Sequence(Sequence),
    /// `sample by ... [..] [..]`: unordered groups of events sharing join keys.
    Sample(Sample),
}

/// `category where condition`: one stage of a query.
#[derive(Debug, Clone, PartialEq)]
pub struct EventFilter {
    pub category: Category,
    pub condition: Expr,
}

/// The event category a stage selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Category {
    /// `any`: every event, with or without a category.
    Any,
    /// `process`, `"my-category"`: events whose category field holds this value.
    Named(String),
}

/// `sequence [by keys] [with maxspan=N] stages [until stage]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sequence {
    /// Join keys shared by every stage (`sequence by a, b`).
    pub by: Vec<Expr>,
    pub maxspan: Option<TimeSpan>,
    /// Two or more stages, in order.
    pub stages: Vec<SequenceStage>,
    /// `until [..]`: an event that ends pending sequences.
    pub until: Option<SequenceStage>,
}

/// One `[category where condition] [by keys] [with runs=N]` of a sequence, or `![...]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SequenceStage {
    pub filter: EventFilter,
    /// The stage's own join keys (after the shared ones).
    pub by: Vec<Expr>,
    /// `![...]`: the sequence matches only when no such event occurs here.
    pub missing: bool,
    /// `with runs=N`: the stage repeated N times in a row.
    pub runs: Option<u32>,
}

/// `sample [by keys] stages`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub by: Vec<Expr>,
    pub stages: Vec<SampleStage>,
}

/// One `[category where condition] [by keys]` of a sample.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleStage {
    pub filter: EventFilter,
    pub by: Vec<Expr>,
}

/// A `maxspan` duration as written (`30s`) and in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeSpan {
    pub value: u64,
    pub unit: TimeUnit,
}

/// The time units `maxspan` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    Millis,
    Seconds,
    Minutes,
    Hours,
    Days,
}

/// A pipe after the query: `| head N` or `| tail N` (the pipes Elasticsearch runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pipe {
    /// The first N results, oldest first.
    Head(u64),
    /// The last N results.
    Tail(u64),
}

/// A condition or value.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Literal(Literal),
    Field(Field),
    /// `not e`.
    Not(Box<Expr>),
    /// `a and b and c`: two or more children.
    And(Vec<Expr>),
    /// `a or b or c`: two or more children.
    Or(Vec<Expr>),
    /// `left op right` (`==`, `!=`, `<`, `<=`, `>`, `>=`).
    Compare {
        op: CompareOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    /// `value : "p"`, `value like~ ("p1", "p2")`, `value regex "r"`: string patterns.
    Match {
        kind: MatchKind,
        value: Box<Expr>,
        patterns: Vec<String>,
    },
    /// `value [not] in[~] (e1, e2)`.
    In {
        value: Box<Expr>,
        list: Vec<Expr>,
        insensitive: bool,
        negated: bool,
    },
    /// `left op right` (`+`, `-`, `*`, `/`, `%`).
    Arithmetic {
        op: ArithmeticOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    /// `-e`.
    Negate(Box<Expr>),
    /// `name(args)` or `name~(args)`.
    Call {
        function: Function,
        insensitive: bool,
        args: Vec<Expr>,
    },
}

/// A constant.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Bool(bool),
    Integer(i64),
    Float(f64),
    String(String),
}

/// A field reference: its dotted name and whether it was written `?name` (optional: a field
/// no index maps reads as `null` instead of failing the query).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Field {
    pub name: String,
    pub optional: bool,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    NotEq,
    Lt,
    Lte,
    Gt,
    Gte,
}

/// How a pattern operator matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchKind {
    /// `:`: case-insensitive, `*` and `?` wildcards (the same as `like~`).
    Colon,
    /// `like`: case-sensitive wildcards.
    Like,
    /// `like~`.
    LikeInsensitive,
    /// `regex`: case-sensitive regular expression (Lucene syntax, whole value).
    Regex,
    /// `regex~`.
    RegexInsensitive,
}

/// An arithmetic operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithmeticOp {
    Add,
    Subtract,
    Multiply,
    Divide,
    Modulo,
}

/// The functions of Elasticsearch's EQL function reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    Add,
    Between,
    CidrMatch,
    Concat,
    Divide,
    EndsWith,
    IndexOf,
    Length,
    Modulo,
    Multiply,
    Number,
    StartsWith,
    String,
    StringContains,
    Substring,
    Subtract,
}

impl Function {
    /// Every function, for lookups and tests.
    pub const ALL: [Function; 16] = [
        Function::Add,
        Function::Between,
        Function::CidrMatch,
        Function::Concat,
        Function::Divide,
        Function::EndsWith,
        Function::IndexOf,
        Function::Length,
        Function::Modulo,
        Function::Multiply,
        Function::Number,
        Function::StartsWith,
        Function::String,
        Function::StringContains,
        Function::Substring,
        Function::Subtract,
    ];

    /// The name as the reference writes it.
    pub fn name(self) -> &'static str {
        match self {
            Function::Add => "add",
            Function::Between => "between",
            Function::CidrMatch => "cidrMatch",
            Function::Concat => "concat",
            Function::Divide => "divide",
            Function::EndsWith => "endsWith",
            Function::IndexOf => "indexOf",
            Function::Length => "length",
            Function::Modulo => "modulo",
            Function::Multiply => "multiply",
            Function::Number => "number",
            Function::StartsWith => "startsWith",
            Function::String => "string",
            Function::StringContains => "stringContains",
            Function::Substring => "substring",
            Function::Subtract => "subtract",
        }
    }

    /// The function of a name, in any case (Elasticsearch looks names up case-insensitively).
    pub fn from_name(name: &str) -> Option<Function> {
        Function::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(name))
    }

    /// True for the functions that have a `~` (case-insensitive) form.
    pub fn has_insensitive_form(self) -> bool {
        matches!(
            self,
            Function::Between
                | Function::EndsWith
                | Function::IndexOf
                | Function::StartsWith
                | Function::StringContains
        )
    }

    /// The accepted numbers of arguments: (least, most); `None` for no upper bound.
    pub fn arity(self) -> (usize, Option<usize>) {
        match self {
            Function::Add
            | Function::Divide
            | Function::Modulo
            | Function::Multiply
            | Function::Subtract
            | Function::EndsWith
            | Function::StartsWith
            | Function::StringContains => (2, Some(2)),
            Function::Between => (3, Some(4)),
            Function::CidrMatch => (2, None),
            Function::Concat => (1, None),
            Function::IndexOf => (2, Some(3)),
            Function::Length | Function::String => (1, Some(1)),
            Function::Number => (1, Some(2)),
            Function::Substring => (2, Some(3)),
        }
    }
}

impl CompareOp {
    pub fn symbol(self) -> &'static str {
        match self {
            CompareOp::Eq => "==",
            CompareOp::NotEq => "!=",
            CompareOp::Lt => "<",
            CompareOp::Lte => "<=",
            CompareOp::Gt => ">",
            CompareOp::Gte => ">=",
        }
    }
}

impl MatchKind {
    pub fn symbol(self) -> &'static str {
        match self {
            MatchKind::Colon => ":",
            MatchKind::Like => "like",
            MatchKind::LikeInsensitive => "like~",
            MatchKind::Regex => "regex",
            MatchKind::RegexInsensitive => "regex~",
        }
    }

    /// True for the case-insensitive kinds (`:`, `like~`, `regex~`).
    pub fn insensitive(self) -> bool {
        matches!(
            self,
            MatchKind::Colon | MatchKind::LikeInsensitive | MatchKind::RegexInsensitive
        )
    }

    /// True for `regex` and `regex~`.
    pub fn is_regex(self) -> bool {
        matches!(self, MatchKind::Regex | MatchKind::RegexInsensitive)
    }
}

impl ArithmeticOp {
    pub fn symbol(self) -> &'static str {
        match self {
            ArithmeticOp::Add => "+",
            ArithmeticOp::Subtract => "-",
            ArithmeticOp::Multiply => "*",
            ArithmeticOp::Divide => "/",
            ArithmeticOp::Modulo => "%",
        }
    }
}

impl TimeUnit {
    pub fn symbol(self) -> &'static str {
        match self {
            TimeUnit::Millis => "ms",
            TimeUnit::Seconds => "s",
            TimeUnit::Minutes => "m",
            TimeUnit::Hours => "h",
            TimeUnit::Days => "d",
        }
    }

    pub fn from_symbol(symbol: &str) -> Option<TimeUnit> {
        [
            TimeUnit::Millis,
            TimeUnit::Seconds,
            TimeUnit::Minutes,
            TimeUnit::Hours,
            TimeUnit::Days,
        ]
        .into_iter()
        .find(|u| u.symbol() == symbol)
    }

    fn millis(self) -> u64 {
        match self {
            TimeUnit::Millis => 1,
            TimeUnit::Seconds => 1_000,
            TimeUnit::Minutes => 60_000,
            TimeUnit::Hours => 3_600_000,
            TimeUnit::Days => 86_400_000,
        }
    }
}

impl TimeSpan {
    /// The span in milliseconds (saturating; the parser bounds the value).
    pub fn as_millis(self) -> u64 {
        self.value.saturating_mul(self.unit.millis())
    }
}

impl Query {
    /// Every stage's filter, in order (the `until` stage last); one for an event query.
    pub fn filters(&self) -> Vec<&EventFilter> {
        match &self.body {
            Body::Event(filter) => vec![filter],
            Body::Sequence(sequence) => sequence
                .stages
                .iter()
                .chain(&sequence.until)
                .map(|stage| &stage.filter)
                .collect(),
            Body::Sample(sample) => sample.stages.iter().map(|stage| &stage.filter).collect(),
        }
    }
}

impl Expr {
    /// Calls `visit` on this expression and every expression inside it, parents first.
    pub fn walk<'e>(&'e self, visit: &mut dyn FnMut(&'e Expr)) {
        visit(self);
        match self {
            Expr::Literal(_) | Expr::Field(_) => {}
            Expr::Not(inner) | Expr::Negate(inner) => inner.walk(visit),
            Expr::And(children) | Expr::Or(children) => {
                children.iter().for_each(|child| child.walk(visit))
            }
            Expr::Compare { left, right, .. } | Expr::Arithmetic { left, right, .. } => {
                left.walk(visit);
                right.walk(visit);
            }
            Expr::Match { value, .. } => value.walk(visit),
            Expr::In { value, list, .. } => {
                value.walk(visit);
                list.iter().for_each(|item| item.walk(visit));
            }
            Expr::Call { args, .. } => args.iter().for_each(|arg| arg.walk(visit)),
        }
    }

    /// The fields the expression reads, in order of appearance, without repeats.
    pub fn fields(&self) -> Vec<&Field> {
        let mut found: Vec<&Field> = Vec::new();
        self.walk(&mut |e| {
            if let Expr::Field(field) = e
                && !found.contains(&field)
            {
                found.push(field);
            }
        });
        found
    }
}
