//! The registry of InfluxQL functions.
//!
//! The validator ([`crate::select::compile_select`]) and the query engine
//! both need to know what a function name is: an aggregate, a selector, a
//! transformation or math, and how many arguments it takes; the engine also
//! how many rows it gives a bucket and which field types it takes. Each
//! used to keep its own lists, and they drifted apart (the engine knew 7 of
//! the 17 transformations the validator accepts). This table is the one place a
//! function is declared; the per-function argument rules and InfluxDB's
//! texts for them stay with the validator, the computation with the engine.

/// What a function does, which decides the shape of a query's result (see
/// [`crate::select::SelectKind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FunctionKind {
    /// Reduces the points of a bucket to a value (`count`, `mean`, ...).
    Aggregate,
    /// Picks points of a bucket, which keep their own time when there is no
    /// GROUP BY time and may carry other fields or tags along (`first`,
    /// `top`, ...).
    Selector,
    /// Runs over a series of rows or buckets (`derivative`,
    /// `moving_average`, ...).
    Transformation,
    /// Row-wise math on values (`abs`, `pow`, ...), the only calls allowed
    /// in WHERE.
    Math,
}

/// How many rows an aggregate or selector gives a bucket, and at which
/// time. The engine's planner needs it to pick the call whose rows the
/// others line up with and to stamp each row; it lives here so that a new
/// multi-row function is declared once rather than in the planner's lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rows {
    /// One value per bucket (every function but the ones below).
    One,
    /// Several values per bucket, all at the bucket's time (`distinct`).
    Values,
    /// Several selected points per bucket, each at its own time (`top`,
    /// `bottom`, `sample`), even under GROUP BY time.
    Points,
}

/// One InfluxQL function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunctionSpec {
    /// The name as written in a query (lower case).
    pub name: &'static str,
    /// Aggregate, selector, transformation or math.
    pub kind: FunctionKind,
    /// Fewest arguments a call takes.
    pub min_args: usize,
    /// `None` when any number of arguments from `min_args` on is allowed.
    pub max_args: Option<usize>,
    /// Whether the query engine computes it. InfluxDB 1.6 accepts the
    /// Holt-Winters and technical-analysis transformations, so the validator
    /// checks them with InfluxDB's texts, but the engine has no
    /// implementation and refuses them as `undefined function name()`
    /// rather than answering wrongly.
    pub engine_supported: bool,
    /// Rows per bucket; [`Rows::One`] for all but `top`, `bottom`,
    /// `distinct` and `sample`.
    pub rows: Rows,
    /// Whether the function also takes string and boolean fields, not only
    /// numbers. `SELECT f(*)` expands only to the fields a function takes,
    /// so the engine asks this when it expands the wildcard (InfluxDB 1.6
    /// does the same per function).
    pub any_field_type: bool,
}

/// A call with the wrong number of arguments; texts are InfluxDB's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArityError {
    /// The function takes a fixed number of arguments.
    #[error("invalid number of arguments for {name}, expected {expected}, got {got}")]
    Exactly {
        /// The function.
        name: &'static str,
        /// Arguments it takes.
        expected: usize,
        /// Arguments the call has.
        got: usize,
    },
    /// The function takes `min` or more arguments.
    #[error("invalid number of arguments for {name}, expected at least {min}, got {got}")]
    AtLeast {
        /// The function.
        name: &'static str,
        /// Fewest arguments it takes.
        min: usize,
        /// Arguments the call has.
        got: usize,
    },
    /// The function takes between `min` and `max` arguments.
    #[error(
        "invalid number of arguments for {name}, expected at least {min} but no more than {max}, got {got}"
    )]
    Between {
        /// The function.
        name: &'static str,
        /// Fewest arguments it takes.
        min: usize,
        /// Most arguments it takes.
        max: usize,
        /// Arguments the call has.
        got: usize,
    },
}

impl FunctionSpec {
    /// Checks the number of arguments of a call.
    pub fn check_arity(&self, got: usize) -> Result<(), ArityError> {
        let name = self.name;
        match self.max_args {
            Some(max) if (self.min_args..=max).contains(&got) => Ok(()),
            None if got >= self.min_args => Ok(()),
            Some(max) if max == self.min_args => Err(ArityError::Exactly {
                name,
                expected: max,
                got,
            }),
            Some(max) => Err(ArityError::Between {
                name,
                min: self.min_args,
                max,
                got,
            }),
            None => Err(ArityError::AtLeast {
                name,
                min: self.min_args,
                got,
            }),
        }
    }
}

const fn f(
    name: &'static str,
    kind: FunctionKind,
    min_args: usize,
    max_args: Option<usize>,
    engine_supported: bool,
) -> FunctionSpec {
    FunctionSpec {
        name,
        kind,
        min_args,
        max_args,
        engine_supported,
        rows: Rows::One,
        any_field_type: false,
    }
}

impl FunctionSpec {
    /// Gives several rows per bucket.
    const fn rows(self, rows: Rows) -> FunctionSpec {
        FunctionSpec { rows, ..self }
    }

    /// Takes fields of any type.
    const fn any_field_type(self) -> FunctionSpec {
        FunctionSpec {
            any_field_type: true,
            ..self
        }
    }
}

use FunctionKind::{Aggregate, Math, Selector, Transformation};

/// Every function of InfluxQL (InfluxDB 1.6), math included.
pub static FUNCTIONS: &[FunctionSpec] = &[
    f("count", Aggregate, 1, Some(1), true).any_field_type(),
    f("distinct", Aggregate, 1, Some(1), true)
        .rows(Rows::Values)
        .any_field_type(),
    f("integral", Aggregate, 1, Some(2), true),
    f("mean", Aggregate, 1, Some(1), true),
    f("median", Aggregate, 1, Some(1), true),
    f("mode", Aggregate, 1, Some(1), true).any_field_type(),
    f("spread", Aggregate, 1, Some(1), true),
    f("stddev", Aggregate, 1, Some(1), true),
    f("sum", Aggregate, 1, Some(1), true),
    f("bottom", Selector, 2, None, true).rows(Rows::Points),
    f("first", Selector, 1, Some(1), true).any_field_type(),
    f("last", Selector, 1, Some(1), true).any_field_type(),
    f("max", Selector, 1, Some(1), true),
    f("min", Selector, 1, Some(1), true),
    f("percentile", Selector, 2, Some(2), true),
    f("sample", Selector, 2, Some(2), true)
        .rows(Rows::Points)
        .any_field_type(),
    f("top", Selector, 2, None, true).rows(Rows::Points),
    f("cumulative_sum", Transformation, 1, Some(1), true),
    f("derivative", Transformation, 1, Some(2), true),
    f("difference", Transformation, 1, Some(1), true),
    f("elapsed", Transformation, 1, Some(2), true),
    f("moving_average", Transformation, 2, Some(2), true),
    f("non_negative_derivative", Transformation, 1, Some(2), true),
    f("non_negative_difference", Transformation, 1, Some(1), true),
    f("holt_winters", Transformation, 3, Some(3), false),
    f("holt_winters_with_fit", Transformation, 3, Some(3), false),
    f(
        "chande_momentum_oscillator",
        Transformation,
        2,
        Some(4),
        false,
    ),
    f(
        "exponential_moving_average",
        Transformation,
        2,
        Some(4),
        false,
    ),
    f(
        "double_exponential_moving_average",
        Transformation,
        2,
        Some(4),
        false,
    ),
    f(
        "triple_exponential_moving_average",
        Transformation,
        2,
        Some(4),
        false,
    ),
    f(
        "kaufmans_efficiency_ratio",
        Transformation,
        2,
        Some(3),
        false,
    ),
    f(
        "kaufmans_adaptive_moving_average",
        Transformation,
        2,
        Some(3),
        false,
    ),
    f("relative_strength_index", Transformation, 2, Some(4), false),
    f(
        "triple_exponential_derivative",
        Transformation,
        2,
        Some(4),
        false,
    ),
    f("abs", Math, 1, Some(1), true),
    f("sin", Math, 1, Some(1), true),
    f("cos", Math, 1, Some(1), true),
    f("tan", Math, 1, Some(1), true),
    f("asin", Math, 1, Some(1), true),
    f("acos", Math, 1, Some(1), true),
    f("atan", Math, 1, Some(1), true),
    f("atan2", Math, 2, Some(2), true),
    f("exp", Math, 1, Some(1), true),
    f("log", Math, 2, Some(2), true),
    f("ln", Math, 1, Some(1), true),
    f("log2", Math, 1, Some(1), true),
    f("log10", Math, 1, Some(1), true),
    f("sqrt", Math, 1, Some(1), true),
    f("pow", Math, 2, Some(2), true),
    f("floor", Math, 1, Some(1), true),
    f("ceil", Math, 1, Some(1), true),
    f("round", Math, 1, Some(1), true),
];

/// The function called `name` (names are case-sensitive, as in InfluxDB).
pub fn lookup(name: &str) -> Option<&'static FunctionSpec> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

/// The kind of the function called `name`, `None` for unknown names.
pub fn kind(name: &str) -> Option<FunctionKind> {
    lookup(name).map(|f| f.kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        for (i, a) in FUNCTIONS.iter().enumerate() {
            assert!(
                FUNCTIONS[i + 1..].iter().all(|b| b.name != a.name),
                "{} twice",
                a.name
            );
        }
    }

    #[test]
    fn arity_texts() {
        let text = |name: &str, got| {
            lookup(name)
                .unwrap()
                .check_arity(got)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            text("mean", 2),
            "invalid number of arguments for mean, expected 1, got 2"
        );
        assert_eq!(
            text("top", 1),
            "invalid number of arguments for top, expected at least 2, got 1"
        );
        assert_eq!(
            text("derivative", 3),
            "invalid number of arguments for derivative, expected at least 1 but no more than 2, got 3"
        );
        assert!(lookup("top").unwrap().check_arity(5).is_ok());
    }
}
