//! SELECT and its clauses.

use crate::ast::*;
use crate::error::ParseError;
use crate::lexer::Tok;

use super::expressions::find_condition_operator;
use super::{unexpected, Parser, Result, TargetRequirement, MAX_DEPTH};

impl Parser<'_> {
    pub(super) fn parse_select(&mut self, tr: TargetRequirement) -> Result<SelectStatement> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError::invalid("query nested too deeply"));
        }
        let fields = self.parse_fields()?;
        let target = self.parse_target(tr)?;
        let t = self.scan_ws();
        if t.tok != Tok::From {
            return Err(unexpected(&t, &["FROM"]));
        }
        let sources = self.parse_sources(true)?;
        let condition = self.parse_condition()?;
        let dimensions = self.parse_dimensions()?;
        let fill = self.parse_fill()?;
        let order_by = self.parse_order_by()?;
        let limit = self.parse_optional_token_and_int(Tok::Limit)?;
        let offset = self.parse_optional_token_and_int(Tok::Offset)?;
        let slimit = self.parse_optional_token_and_int(Tok::Slimit)?;
        let soffset = self.parse_optional_token_and_int(Tok::Soffset)?;
        let timezone = self.parse_location()?;
        self.depth -= 1;
        Ok(SelectStatement {
            fields,
            target,
            sources,
            condition,
            dimensions,
            fill,
            order_by,
            limit,
            offset,
            slimit,
            soffset,
            timezone,
        })
    }

    fn parse_fields(&mut self) -> Result<Vec<Field>> {
        let mut fields = Vec::new();
        loop {
            fields.push(self.parse_field()?);
            if self.scan().tok != Tok::Comma {
                self.unscan();
                break;
            }
        }
        Ok(fields)
    }

    fn parse_field(&mut self) -> Result<Field> {
        let expr = if let Some(re) = self.parse_regex()? {
            Expr::Literal(Literal::Regex(re))
        } else {
            let t = self.scan_ws();
            self.unscan();
            let expr = self.parse_expr()?;
            if let Some(op) = find_condition_operator(&expr) {
                return Err(ParseError::invalid(format!(
                    "invalid operator {} in SELECT clause at line {}, char {}; operator is intended for WHERE clause",
                    op.as_str(),
                    t.pos.line + 1,
                    t.pos.char + 1
                )));
            }
            expr
        };
        let alias = self.parse_alias()?;
        self.consume_whitespace();
        Ok(Field { expr, alias })
    }

    fn parse_alias(&mut self) -> Result<Option<String>> {
        if !self.accept(Tok::As) {
            return Ok(None);
        }
        Ok(Some(self.parse_ident()?))
    }

    fn parse_target(&mut self, tr: TargetRequirement) -> Result<Option<Target>> {
        let t = self.scan_ws();
        if t.tok != Tok::Into {
            if tr == TargetRequirement::Required {
                return Err(unexpected(&t, &["INTO"]));
            }
            self.unscan();
            return Ok(None);
        }
        let mut idents = self.parse_segmented_idents()?;
        let mut source_name = false;
        if idents.len() < 3 && self.peek_rune() == ':' {
            self.expect_tokens(&[Tok::Colon, Tok::Measurement])?;
            idents.push(String::new());
            source_name = true;
        }
        let non_empty = |s: String| if s.is_empty() { None } else { Some(s) };
        // `:MEASUREMENT` is the only way to name no measurement; a quoted
        // empty name (`INTO ""`) is kept as written.
        let last = idents.pop().unwrap_or_default();
        let measurement = if source_name { None } else { Some(last) };
        let mut it = idents.into_iter();
        let target = match it.len() {
            0 => Target {
                database: None,
                retention_policy: None,
                measurement,
            },
            1 => Target {
                database: None,
                retention_policy: it.next().and_then(non_empty),
                measurement,
            },
            _ => Target {
                database: it.next().and_then(non_empty),
                retention_policy: it.next().and_then(non_empty),
                measurement,
            },
        };
        Ok(Some(target))
    }

    pub(super) fn parse_sources(&mut self, subqueries: bool) -> Result<Vec<Source>> {
        let mut sources = Vec::new();
        loop {
            sources.push(self.parse_source(subqueries)?);
            if !self.accept(Tok::Comma) {
                break;
            }
        }
        Ok(sources)
    }

    pub(super) fn parse_source(&mut self, subqueries: bool) -> Result<Source> {
        if let Some(re) = self.parse_regex()? {
            return Ok(Source::Measurement(Measurement {
                database: None,
                retention_policy: None,
                name: MeasurementName::Regex(re),
            }));
        }
        if subqueries {
            if self.scan_ws().tok == Tok::LParen {
                self.expect_tokens(&[Tok::Select])?;
                let stmt = self.parse_select(TargetRequirement::Subquery)?;
                self.expect_tokens(&[Tok::RParen])?;
                return Ok(Source::Subquery(Box::new(stmt)));
            }
            self.unscan();
        }
        let idents = self.parse_segmented_idents()?;
        let opt = |s: String| if s.is_empty() { None } else { Some(s) };
        let mut it = idents.into_iter();
        if it.len() == 3 {
            let database = it.next().and_then(opt);
            let retention_policy = it.next().and_then(opt);
            let name = MeasurementName::Name(it.next().unwrap_or_default());
            return Ok(Source::Measurement(Measurement {
                database,
                retention_policy,
                name,
            }));
        }
        let re = self.parse_regex()?;
        let m = match (it.len(), re) {
            (1, Some(re)) => Measurement {
                database: None,
                retention_policy: it.next().and_then(opt),
                name: MeasurementName::Regex(re),
            },
            (1, None) => Measurement {
                database: None,
                retention_policy: None,
                name: MeasurementName::Name(it.next().unwrap_or_default()),
            },
            (_, Some(re)) => Measurement {
                database: it.next().and_then(opt),
                retention_policy: it.next().and_then(opt),
                name: MeasurementName::Regex(re),
            },
            (_, None) => Measurement {
                database: None,
                retention_policy: it.next().and_then(opt),
                name: MeasurementName::Name(it.next().unwrap_or_default()),
            },
        };
        Ok(Source::Measurement(m))
    }

    pub(super) fn parse_condition(&mut self) -> Result<Option<Expr>> {
        if !self.accept(Tok::Where) {
            return Ok(None);
        }
        Ok(Some(self.parse_expr()?))
    }

    pub(super) fn parse_dimensions(&mut self) -> Result<Vec<Dimension>> {
        if !self.accept(Tok::Group) {
            return Ok(Vec::new());
        }
        let t = self.scan_ws();
        if t.tok != Tok::By {
            return Err(unexpected(&t, &["BY"]));
        }
        let mut dims = Vec::new();
        loop {
            let expr = if let Some(re) = self.parse_regex()? {
                Expr::Literal(Literal::Regex(re))
            } else {
                let e = self.parse_expr()?;
                self.consume_whitespace();
                e
            };
            dims.push(Dimension { expr });
            if self.scan().tok != Tok::Comma {
                self.unscan();
                break;
            }
        }
        Ok(dims)
    }

    fn parse_fill(&mut self) -> Result<Fill> {
        let t = self.scan_ws();
        self.unscan();
        if t.tok != Tok::Ident || !t.lit.eq_ignore_ascii_case("fill") {
            return Ok(Fill::Null);
        }
        let Expr::Call(call) = self.parse_expr()? else {
            return Err(ParseError::invalid("fill must be a function call"));
        };
        if call.args.len() != 1 {
            return Err(ParseError::invalid(
                "fill requires an argument, e.g.: 0, null, none, previous, linear",
            ));
        }
        let arg = &call.args[0];
        Ok(match arg.to_string().as_str() {
            "null" => Fill::Null,
            "none" => Fill::None,
            "previous" => Fill::Previous,
            "linear" => Fill::Linear,
            _ => match arg {
                Expr::Literal(Literal::Integer(n)) => Fill::Integer(*n),
                Expr::Literal(Literal::Float(f)) => Fill::Float(*f),
                _ => return Err(ParseError::invalid("expected number argument in fill()")),
            },
        })
    }

    fn parse_location(&mut self) -> Result<Option<String>> {
        let t = self.scan_ws();
        self.unscan();
        if t.tok != Tok::Ident || !t.lit.eq_ignore_ascii_case("tz") {
            return Ok(None);
        }
        let Expr::Call(call) = self.parse_expr()? else {
            return Err(ParseError::invalid("tz must be a function call"));
        };
        if call.args.len() != 1 {
            return Err(ParseError::invalid("tz requires exactly one argument"));
        }
        let Expr::Literal(Literal::String(name)) = &call.args[0] else {
            return Err(ParseError::invalid("expected string argument in tz()"));
        };
        if !crate::tz::zone_exists(name) {
            return Err(ParseError::invalid(format!(
                "unable to find time zone {name}"
            )));
        }
        Ok(Some(name.clone()))
    }

    pub(super) fn parse_order_by(&mut self) -> Result<Vec<SortField>> {
        if !self.accept(Tok::Order) {
            return Ok(Vec::new());
        }
        let t = self.scan_ws();
        if t.tok != Tok::By {
            return Err(unexpected(&t, &["BY"]));
        }
        self.parse_sort_fields()
    }

    fn parse_sort_fields(&mut self) -> Result<Vec<SortField>> {
        let mut fields = Vec::new();
        let t = self.scan_ws();
        match t.tok {
            Tok::Asc | Tok::Desc => fields.push(SortField {
                name: None,
                ascending: t.tok == Tok::Asc,
            }),
            Tok::Ident => {
                self.unscan();
                let field = self.parse_sort_field()?;
                if t.lit != "time" {
                    return Err(ParseError::invalid(
                        "only ORDER BY time supported at this time",
                    ));
                }
                fields.push(field);
            }
            _ => return Err(unexpected(&t, &["identifier", "ASC", "DESC"])),
        }
        while self.accept(Tok::Comma) {
            fields.push(self.parse_sort_field()?);
        }
        if fields.len() > 1 {
            return Err(ParseError::invalid(
                "only ORDER BY time supported at this time",
            ));
        }
        Ok(fields)
    }

    fn parse_sort_field(&mut self) -> Result<SortField> {
        let name = self.parse_ident()?;
        let t = self.scan_ws();
        let ascending = match t.tok {
            Tok::Asc => true,
            Tok::Desc => false,
            _ => {
                self.unscan();
                true
            }
        };
        Ok(SortField {
            name: Some(name),
            ascending,
        })
    }
}
