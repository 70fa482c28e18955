//! Property test: any tree the parser can produce prints as text that
//! parses back to the same tree.

use influxql::*;
use proptest::prelude::*;

const KEYWORDS_AND_ODD: &[&str] = &[
    "select", "FROM", "time", "fill", "tz", "Key", "true", "and", "a b", "a.b", "1x", "", "é",
    "a\"b", "a'b", "a\\b", "a\nb", "\"", "µ", "日本",
];

fn ident() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z_][a-z0-9_]{0,6}",
        1 => prop::sample::select(KEYWORDS_AND_ODD).prop_map(str::to_owned),
        // Anything but the two characters the reader rewrites (\r) or
        // treats as end of input (\0), as in InfluxDB.
        1 => "[^\r\u{0}]{0,6}",
    ]
}

fn nonempty_ident() -> impl Strategy<Value = String> {
    ident().prop_filter("non-empty", |s| !s.is_empty())
}

fn regex() -> impl Strategy<Value = Regex> {
    prop::sample::select(vec![
        "cpu.*", "^a$", "a/b", "[0-9]+", "(x|y)", "\\d+", "a\\.b", "", "é+",
    ])
    .prop_map(|s| Regex::new(s).unwrap())
}

fn literal() -> impl Strategy<Value = Literal> {
    prop_oneof![
        any::<i64>().prop_map(Literal::Integer),
        ((i64::MAX as u64 + 1)..=u64::MAX).prop_map(Literal::Unsigned),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Literal::Float),
        (-1000.0f64..1000.0).prop_map(Literal::Float),
        "[^\r\u{0}]{0,8}".prop_map(Literal::String),
        any::<bool>().prop_map(Literal::Boolean),
        (-(1i64 << 62)..(1i64 << 62)).prop_map(Literal::Duration),
        (-1000i64..1000).prop_map(|n| Literal::Duration(n * 60_000_000_000)),
    ]
}

fn data_type() -> impl Strategy<Value = DataType> {
    prop::sample::select(vec![
        DataType::Unknown,
        DataType::Unknown,
        DataType::Float,
        DataType::Integer,
        DataType::Unsigned,
        DataType::String,
        DataType::Boolean,
        DataType::Tag,
        DataType::AnyField,
    ])
}

fn var_ref() -> impl Strategy<Value = Expr> {
    (ident(), data_type()).prop_map(|(name, data_type)| Expr::VarRef(VarRef { name, data_type }))
}

fn leaf() -> impl Strategy<Value = Expr> {
    prop_oneof![
        3 => var_ref(),
        3 => literal().prop_map(Expr::Literal),
        1 => nonempty_ident().prop_map(Expr::BoundParameter),
    ]
}

const FUNCS: &[&str] = &[
    "mean",
    "max",
    "derivative",
    "top",
    "now",
    "time",
    "foo_bar",
    "distinct",
];

/// Wraps operands in parentheses where the parser would have needed them,
/// so the generated tree is one the parser can produce.
fn binary(op: BinaryOp, lhs: Expr, rhs: Expr) -> Expr {
    let wrap = |e: Expr, right: bool| match &e {
        Expr::Binary(b)
            if b.op.precedence() < op.precedence()
                || (right && b.op.precedence() == op.precedence()) =>
        {
            Expr::Paren(Box::new(e))
        }
        _ => e,
    };
    Expr::binary(wrap(lhs, false), op, wrap(rhs, true))
}

/// Expressions; `conditions` allows comparison and logical operators (not
/// accepted in SELECT fields).
fn expr(conditions: bool) -> impl Strategy<Value = Expr> {
    leaf().prop_recursive(4, 24, 3, move |inner| {
        let arith = prop::sample::select(vec![
            BinaryOp::Add,
            BinaryOp::Sub,
            BinaryOp::Mul,
            BinaryOp::Div,
            BinaryOp::Mod,
            BinaryOp::BitwiseAnd,
            BinaryOp::BitwiseOr,
            BinaryOp::BitwiseXor,
        ]);
        let cond = prop::sample::select(vec![
            BinaryOp::And,
            BinaryOp::Or,
            BinaryOp::Eq,
            BinaryOp::NotEq,
            BinaryOp::Lt,
            BinaryOp::LtEq,
            BinaryOp::Gt,
            BinaryOp::GtEq,
        ]);
        let op = if conditions {
            prop_oneof![arith, cond].boxed()
        } else {
            arith.boxed()
        };
        let call_arg = prop_oneof![
            4 => inner.clone(),
            1 => regex().prop_map(|r| Expr::Literal(Literal::Regex(r))),
            1 => Just(Expr::Wildcard(WildcardType::All)),
            1 => ident().prop_map(Expr::Distinct),
        ];
        let mut choices = vec![
            (op, inner.clone(), inner.clone())
                .prop_map(|(op, l, r)| binary(op, l, r))
                .boxed(),
            inner.clone().prop_map(|e| Expr::Paren(Box::new(e))).boxed(),
            (
                prop::sample::select(FUNCS),
                prop::collection::vec(call_arg, 0..3),
            )
                .prop_map(|(name, args)| {
                    Expr::Call(Call {
                        name: name.to_owned(),
                        args,
                    })
                })
                .boxed(),
        ];
        if conditions {
            choices.push(
                (
                    inner.clone(),
                    prop::sample::select(vec![BinaryOp::EqRegex, BinaryOp::NotEqRegex]),
                    regex(),
                )
                    .prop_map(|(l, op, r)| binary(op, l, Expr::Literal(Literal::Regex(r))))
                    .boxed(),
            );
        }
        prop::strategy::Union::new(choices)
    })
}

fn field() -> impl Strategy<Value = Field> {
    let e = prop_oneof![
        6 => expr(false),
        1 => regex().prop_map(|r| Expr::Literal(Literal::Regex(r))),
        1 => prop::sample::select(vec![WildcardType::All, WildcardType::Field, WildcardType::Tag])
            .prop_map(Expr::Wildcard),
        1 => ident().prop_map(Expr::Distinct),
    ];
    (e, prop::option::of(ident())).prop_map(|(expr, alias)| Field { expr, alias })
}

fn opt_name() -> impl Strategy<Value = Option<String>> {
    prop::option::of(nonempty_ident())
}

fn measurement() -> impl Strategy<Value = Measurement> {
    (
        opt_name(),
        opt_name(),
        prop_oneof![
            3 => ident().prop_map(MeasurementName::Name),
            1 => regex().prop_map(MeasurementName::Regex),
        ],
    )
        .prop_map(|(database, retention_policy, name)| Measurement {
            database,
            retention_policy,
            name,
        })
}

fn dimension() -> impl Strategy<Value = Dimension> {
    let d = prop_oneof![
        3 => ident().prop_map(Expr::var),
        1 => Just(Expr::Wildcard(WildcardType::All)),
        1 => regex().prop_map(|r| Expr::Literal(Literal::Regex(r))),
        1 => (1i64..100_000, prop::option::of(-1000i64..1000)).prop_map(|(i, o)| {
            let mut args = vec![Expr::Literal(Literal::Duration(i * 1_000_000_000))];
            if let Some(o) = o {
                args.push(Expr::Literal(Literal::Duration(o * 1_000_000_000)));
            }
            Expr::Call(Call { name: "time".into(), args })
        }),
    ];
    d.prop_map(|expr| Dimension { expr })
}

fn fill() -> impl Strategy<Value = Fill> {
    prop_oneof![
        Just(Fill::Null),
        Just(Fill::None),
        Just(Fill::Previous),
        Just(Fill::Linear),
        any::<i64>().prop_map(Fill::Integer),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Fill::Float),
    ]
}

fn target() -> impl Strategy<Value = Option<Target>> {
    prop::option::of(
        (opt_name(), opt_name(), prop::option::of(ident()))
            .prop_filter("INTO :MEASUREMENT needs a db or rp", |(d, r, m)| {
                m.is_some() || d.is_some() || r.is_some()
            })
            .prop_map(|(database, retention_policy, measurement)| Target {
                database,
                retention_policy,
                measurement,
            }),
    )
}

fn limits() -> impl Strategy<Value = (u64, u64, u64, u64)> {
    let n = prop_oneof![Just(0u64), 1u64..1_000_000];
    (n.clone(), n.clone(), n.clone(), n)
}

fn select_with(sources: BoxedStrategy<Vec<Source>>) -> impl Strategy<Value = SelectStatement> {
    (
        prop::collection::vec(field(), 1..4),
        target(),
        sources,
        prop::option::of(expr(true)),
        prop::collection::vec(dimension(), 0..3),
        fill(),
        prop::sample::select(vec![
            vec![],
            vec![SortField {
                name: Some("time".into()),
                ascending: false,
            }],
            vec![SortField {
                name: Some("time".into()),
                ascending: true,
            }],
            vec![SortField {
                name: None,
                ascending: false,
            }],
        ]),
        limits(),
        prop::option::of(prop::sample::select(vec![
            "UTC",
            "Europe/Paris",
            "America/New_York",
        ])),
    )
        .prop_map(
            |(fields, target, sources, condition, dimensions, fill, order_by, l, tz)| {
                SelectStatement {
                    fields,
                    target,
                    sources,
                    condition,
                    dimensions,
                    fill,
                    order_by,
                    limit: l.0,
                    offset: l.1,
                    slimit: l.2,
                    soffset: l.3,
                    timezone: tz.map(str::to_owned),
                }
            },
        )
}

fn select() -> impl Strategy<Value = SelectStatement> {
    let plain = prop::collection::vec(measurement().prop_map(Source::Measurement), 1..3).boxed();
    let inner = select_with(plain.clone()).boxed();
    let with_sub = prop::collection::vec(
        prop_oneof![
            3 => measurement().prop_map(Source::Measurement),
            1 => inner.prop_map(|s| Source::Subquery(Box::new(s))),
        ],
        1..3,
    )
    .boxed();
    select_with(with_sub)
}

fn plain_sources() -> impl Strategy<Value = Vec<Source>> {
    prop::collection::vec(measurement().prop_map(Source::Measurement), 0..3)
}

fn tag_key() -> impl Strategy<Value = TagKeyPredicate> {
    prop_oneof![
        ident().prop_map(TagKeyPredicate::Eq),
        ident().prop_map(TagKeyPredicate::NotEq),
        regex().prop_map(TagKeyPredicate::EqRegex),
        regex().prop_map(TagKeyPredicate::NotEqRegex),
        prop::collection::vec(ident(), 1..4).prop_map(TagKeyPredicate::In),
    ]
}

fn other_statement() -> impl Strategy<Value = Statement> {
    let cond = prop::option::of(expr(true)).boxed();
    prop_oneof![
        (
            opt_name(),
            prop::option::of(measurement()),
            cond.clone(),
            limits()
        )
            .prop_map(|(database, with_measurement, condition, l)| {
                Statement::ShowMeasurements(ShowMeasurementsStatement {
                    database,
                    with_measurement,
                    condition,
                    order_by: vec![],
                    limit: l.0,
                    offset: l.1,
                })
            }),
        (
            opt_name(),
            plain_sources(),
            tag_key(),
            cond.clone(),
            limits()
        )
            .prop_map(|(database, sources, key, condition, l)| {
                Statement::ShowTagValues(ShowTagValuesStatement {
                    database,
                    sources,
                    key,
                    condition,
                    order_by: vec![],
                    limit: l.0,
                    offset: l.1,
                })
            }),
        (
            prop_oneof![
                Just(CardinalityKind::Series),
                Just(CardinalityKind::Measurement),
                Just(CardinalityKind::TagKey),
                Just(CardinalityKind::FieldKey),
                tag_key().prop_map(CardinalityKind::TagValues),
            ],
            any::<bool>(),
            opt_name(),
            plain_sources(),
            cond.clone(),
            prop::collection::vec(dimension(), 0..2),
            limits(),
        )
            .prop_map(
                |(kind, exact, database, sources, condition, dimensions, l)| {
                    Statement::ShowCardinality(ShowCardinalityStatement {
                        kind,
                        exact,
                        database,
                        sources,
                        condition,
                        dimensions,
                        limit: l.0,
                        offset: l.1,
                    })
                }
            ),
        (
            nonempty_ident(),
            prop::option::of(
                (
                    prop::option::of((0i64..1000).prop_map(|h| h * 3_600_000_000_000)),
                    prop::option::of(1u32..10),
                    prop::option::of((1i64..100_000).prop_map(|ms| ms * 1_000_000)),
                    opt_name(),
                )
                    .prop_filter("WITH needs an option", |s| s.0.is_some()
                        || s.1.is_some()
                        || s.2.is_some()
                        || s.3.is_some())
            )
        )
            .prop_map(|(name, spec)| {
                Statement::CreateDatabase(CreateDatabaseStatement {
                    name,
                    retention_policy: spec.map(|(duration, replication, shard_duration, name)| {
                        RetentionPolicySpec {
                            duration,
                            replication,
                            shard_duration,
                            name,
                        }
                    }),
                })
            }),
        (
            nonempty_ident(),
            nonempty_ident(),
            (0i64..1_000_000).prop_map(|s| s * 1_000_000_000),
            1u32..100,
            prop::option::of((1i64..1_000_000).prop_map(|s| s * 1_000_000_000)),
            any::<bool>()
        )
            .prop_map(
                |(name, database, duration, replication, shard_duration, default)| {
                    Statement::CreateRetentionPolicy(CreateRetentionPolicyStatement {
                        name,
                        database,
                        duration,
                        replication,
                        shard_duration,
                        default,
                    })
                }
            ),
        (plain_sources(), cond)
            .prop_filter("needs FROM or WHERE", |(s, c)| !s.is_empty() || c.is_some())
            .prop_map(|(sources, condition)| {
                // DELETE refuses db/rp-qualified sources.
                let sources = sources
                    .into_iter()
                    .map(|s| match s {
                        Source::Measurement(m) => Source::Measurement(Measurement {
                            database: None,
                            retention_policy: None,
                            ..m
                        }),
                        other => other,
                    })
                    .collect();
                Statement::Delete(DeleteStatement { sources, condition })
            }),
        (
            nonempty_ident(),
            nonempty_ident(),
            prop::sample::select(vec![Privilege::Read, Privilege::Write, Privilege::All])
        )
            .prop_map(
                |(database, user, privilege)| Statement::Grant(GrantStatement {
                    privilege,
                    database,
                    user
                })
            ),
        (any::<u64>(), opt_name()).prop_map(|(query_id, host)| Statement::KillQuery(
            KillQueryStatement { query_id, host }
        )),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn select_round_trips(stmt in select()) {
        let text = stmt.to_string();
        let parsed = parse_statement(&text);
        prop_assert!(parsed.is_ok(), "{text:?}: {:?}", parsed.err());
        prop_assert_eq!(parsed.unwrap(), Statement::Select(Box::new(stmt)), "text: {:?}", text);
    }

    #[test]
    fn other_statements_round_trip(stmt in other_statement()) {
        let text = stmt.to_string();
        let parsed = parse_statement(&text);
        prop_assert!(parsed.is_ok(), "{text:?}: {:?}", parsed.err());
        prop_assert_eq!(parsed.unwrap(), stmt, "text: {:?}", text);
    }

    #[test]
    fn conditions_round_trip(e in expr(true)) {
        let text = e.to_string();
        let parsed = parse_expr(&text);
        prop_assert!(parsed.is_ok(), "{text:?}: {:?}", parsed.err());
        prop_assert_eq!(parsed.unwrap(), e, "text: {:?}", text);
    }

    /// Arbitrary input never panics: it parses or fails with a message.
    #[test]
    fn arbitrary_text_does_not_panic(s in "\\PC{0,60}") {
        let _ = parse_query(&s).map(|q| q.to_string());
    }

    #[test]
    fn query_like_text_does_not_panic(
        parts in prop::collection::vec(prop::sample::select(vec![
            "SELECT", "FROM", "WHERE", "GROUP BY", "time(1m)", "x", "\"q\"", "'s'", "/r/", "(", ")",
            ",", "=", "=~", "AND", "OR", "-", "1", "1.5", "1h", "::", "fill(none)", "LIMIT", "*",
            "SHOW", "TAG", "VALUES", "WITH", "KEY", "ON", "db", ".", ";", "INTO", "$p", "DISTINCT",
        ]), 0..20)
    ) {
        let text = parts.join(" ");
        if let Ok(q) = parse_query(&text) {
            let again = parse_query(&q.to_string());
            prop_assert!(again.is_ok(), "{text:?} printed as {:?}", q.to_string());
        }
    }
}
