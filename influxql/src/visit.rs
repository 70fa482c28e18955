//! Walking the expressions of a tree.

use crate::ast::*;

impl Expr {
    /// Calls `f` on this expression and every sub-expression, parents first
    /// (left to right). Iterative, so deep trees are fine.
    pub fn walk(&self, f: &mut impl FnMut(&Expr)) {
        let mut stack = vec![self];
        while let Some(e) = stack.pop() {
            f(e);
            match e {
                Expr::Binary(b) => {
                    stack.push(&b.rhs);
                    stack.push(&b.lhs);
                }
                Expr::Paren(inner) => stack.push(inner),
                Expr::Call(c) => stack.extend(c.args.iter().rev()),
                _ => {}
            }
        }
    }

    /// Calls `f` on this expression and every sub-expression, parents first;
    /// `f` may replace nodes (the replacement's children are then visited).
    pub fn walk_mut(&mut self, f: &mut impl FnMut(&mut Expr)) {
        f(self);
        match self {
            Expr::Binary(b) => {
                b.lhs.walk_mut(f);
                b.rhs.walk_mut(f);
            }
            Expr::Paren(e) => e.walk_mut(f),
            Expr::Call(c) => c.args.iter_mut().for_each(|a| a.walk_mut(f)),
            _ => {}
        }
    }
}

impl SelectStatement {
    /// Every expression of the statement (fields, condition, dimensions),
    /// including those of subqueries.
    pub fn walk_exprs(&self, f: &mut impl FnMut(&Expr)) {
        for fld in &self.fields {
            fld.expr.walk(f);
        }
        if let Some(c) = &self.condition {
            c.walk(f);
        }
        for d in &self.dimensions {
            d.expr.walk(f);
        }
        for s in &self.sources {
            if let Source::Subquery(q) = s {
                q.walk_exprs(f);
            }
        }
    }

    /// Mutable form of [`SelectStatement::walk_exprs`].
    pub fn walk_exprs_mut(&mut self, f: &mut impl FnMut(&mut Expr)) {
        for fld in &mut self.fields {
            fld.expr.walk_mut(f);
        }
        if let Some(c) = &mut self.condition {
            c.walk_mut(f);
        }
        for d in &mut self.dimensions {
            d.expr.walk_mut(f);
        }
        for s in &mut self.sources {
            if let Source::Subquery(q) = s {
                q.walk_exprs_mut(f);
            }
        }
    }
}

fn walk_sources_mut(sources: &mut [Source], f: &mut impl FnMut(&mut Expr)) {
    for s in sources {
        if let Source::Subquery(q) = s {
            q.walk_exprs_mut(f);
        }
    }
}

impl Statement {
    /// Every expression in the statement, mutably (conditions, fields,
    /// dimensions, subqueries, a continuous query's SELECT).
    pub fn walk_exprs_mut(&mut self, f: &mut impl FnMut(&mut Expr)) {
        let cond_dims =
            |cond: &mut Option<Expr>, dims: &mut [Dimension], f: &mut dyn FnMut(&mut Expr)| {
                let mut g = |e: &mut Expr| f(e);
                if let Some(c) = cond {
                    c.walk_mut(&mut g);
                }
                for d in dims {
                    d.expr.walk_mut(&mut g);
                }
            };
        match self {
            Statement::Select(s) => s.walk_exprs_mut(f),
            Statement::Explain(s) => s.statement.walk_exprs_mut(f),
            Statement::CreateContinuousQuery(s) => s.source.walk_exprs_mut(f),
            Statement::ShowMeasurements(s) => cond_dims(&mut s.condition, &mut [], f),
            Statement::ShowTagKeys(s) => {
                walk_sources_mut(&mut s.sources, f);
                cond_dims(&mut s.condition, &mut [], f)
            }
            Statement::ShowTagValues(s) => {
                walk_sources_mut(&mut s.sources, f);
                cond_dims(&mut s.condition, &mut [], f)
            }
            Statement::ShowSeries(s) => {
                walk_sources_mut(&mut s.sources, f);
                cond_dims(&mut s.condition, &mut [], f)
            }
            Statement::ShowCardinality(s) => {
                walk_sources_mut(&mut s.sources, f);
                cond_dims(&mut s.condition, &mut s.dimensions, f)
            }
            Statement::Delete(s) => cond_dims(&mut s.condition, &mut [], f),
            Statement::DropSeries(s) => cond_dims(&mut s.condition, &mut [], f),
            _ => {}
        }
    }
}
