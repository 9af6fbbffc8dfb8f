//! CQL2 expressions compiled into [`Node`]s: sets where the terms allow, per-tile tests where
//! they do not.
//!
//! Negation is pushed down to the leaves as the expression is compiled (De Morgan), so that a
//! test whose value is unknown for a tile (NULL: a size the registry lacks, a property the
//! items do not have) is never turned into a match by a `NOT` above it, as CQL2's three-valued
//! logic requires.

use serde_json::json;

use super::queryables::{Named, Queryable, YEAR_PROPERTIES, near_miss};
use super::{Expr, bad, geometry};
use crate::error::Result;
use crate::grid::{Bbox, Cell, IdRange, Tile, YearRange, push_merged};

/// A compiled (sub)expression.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node {
    /// Every tile.
    All,
    /// No tile.
    Nothing,
    /// The tiles store `n` holds.
    Store(usize),
    /// Tiles by id: sorted, disjoint ranges.
    Ids(Vec<IdRange>),
    /// Cells (ids of the first year) in every year: sorted, disjoint ranges.
    Cells(Vec<IdRange>),
    Not(Box<Node>),
    And(Vec<Node>),
    Or(Vec<Node>),
    /// A per-tile test (never inside a [`Node::Not`]: its negation is its own flag).
    Test(Test),
}

impl Node {
    /// Whether the node is set algebra alone, with no per-tile test.
    pub(super) fn is_set(&self) -> bool {
        match self {
            Node::Test(_) => false,
            Node::Not(inner) => inner.is_set(),
            Node::And(nodes) | Node::Or(nodes) => nodes.iter().all(Node::is_set),
            _ => true,
        }
    }

    pub(super) fn not(self) -> Node {
        match self {
            Node::All => Node::Nothing,
            Node::Nothing => Node::All,
            Node::Not(inner) => *inner,
            other => Node::Not(Box::new(other)),
        }
    }

    pub(super) fn and(nodes: Vec<Node>) -> Node {
        if nodes.contains(&Node::Nothing) {
            return Node::Nothing;
        }
        let mut kept: Vec<Node> = nodes.into_iter().filter(|node| *node != Node::All).collect();
        match kept.len() {
            0 => Node::All,
            1 => kept.remove(0),
            _ => Node::And(kept),
        }
    }

    pub(super) fn or(nodes: Vec<Node>) -> Node {
        if nodes.contains(&Node::All) {
            return Node::All;
        }
        let mut kept: Vec<Node> = nodes.into_iter().filter(|node| *node != Node::Nothing).collect();
        match kept.len() {
            0 => Node::Nothing,
            1 => kept.remove(0),
            _ => Node::Or(kept),
        }
    }

    fn negated_if(self, negated: bool) -> Node {
        if negated { self.not() } else { self }
    }
}

/// A test of one tile's property, for what a set cannot answer.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Test {
    pub(super) subject: Subject,
    pub(super) check: Check,
    /// Matches when the check is false (an unknown value matches neither way).
    pub(super) negated: bool,
}

/// The property a [`Test`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Subject {
    /// The item id (and title): `2024_grid_0.85_49.95`.
    ItemId,
    /// `grid:code`: `TESSERA-grid_0.85_49.95`.
    GridCode,
    /// `tessera:bytes`, from the registry's sizes.
    Bytes,
}

/// What a [`Test`] asks of its subject's value.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Check {
    Compare(Comparison, Value),
    Like(String),
    Between(Value, Value),
    In(Vec<Value>),
    IsNull,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Comparison {
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

/// A literal a test compares with.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
pub(super) enum Value {
    Text(String),
    Number(f64),
}

/// Compiles expressions against one inventory's names and years.
#[derive(Debug)]
pub(super) struct Compiler {
    pub(super) queryables: Vec<Named>,
    pub(super) years: YearRange,
}

impl Compiler {
    /// `expr` as a node (its negation when `negated`).
    pub(super) fn compile(&self, expr: &Expr, negated: bool) -> Result<Node> {
        if self.is_about_years(expr) {
            return self.years_where(expr, negated);
        }
        match expr {
            Expr::Operation { op, args } if op == "and" || op == "or" => {
                let nodes = args.iter().map(|arg| self.compile(arg, negated)).collect::<Result<Vec<_>>>()?;
                // NOT (a AND b) is NOT a OR NOT b, and the other way round.
                Ok(if (op == "and") != negated { Node::and(nodes) } else { Node::or(nodes) })
            }
            Expr::Operation { op, args } if op == "not" => match args.as_slice() {
                [arg] => self.compile(arg, !negated),
                _ => Err(bad(format!("`not` takes one argument, not {}", args.len()))),
            },
            // Operator names are case-insensitive (the crate spells some in camel case).
            Expr::Operation { op, args } => self.predicate(&op.to_ascii_lowercase(), args, negated),
            other => Err(bad(format!("`{}` is not a condition", shown(other)))),
        }
    }

    /// Whether `expr` reads no property but the ones every tile of a year shares.
    fn is_about_years(&self, expr: &Expr) -> bool {
        match expr {
            Expr::Property { property } => YEAR_PROPERTIES.contains(&property.as_str()),
            Expr::Operation { args, .. } | Expr::Array(args) => args.iter().all(|arg| self.is_about_years(arg)),
            Expr::Interval { interval } => interval.iter().all(|bound| self.is_about_years(bound)),
            Expr::Timestamp { timestamp: inner } | Expr::Date { date: inner } => self.is_about_years(inner),
            Expr::BBox { .. } | Expr::Geometry(_) => false,
            Expr::Float(_) | Expr::Literal(_) | Expr::Bool(_) | Expr::Null => true,
        }
    }

    /// The years whose items `expr` is true of, decided by the `cql2` crate's own evaluator
    /// over what every item of the year carries.
    fn years_where(&self, expr: &Expr, negated: bool) -> Result<Node> {
        let mut ranges = Vec::new();
        for year in self.years.iter() {
            let item = json!({
                "collection": crate::stac::collection_id(year),
                "properties": {
                    "datetime": format!("{year}-01-01T00:00:00Z"),
                    "start_datetime": format!("{year}-01-01T00:00:00Z"),
                    "end_datetime": format!("{year}-12-31T23:59:59Z"),
                    "year": year,
                },
            });
            let reduced = expr.clone().reduce(Some(&item)).map_err(|err| bad(format!("`{}`: {err}", shown(expr))))?;
            let holds = match reduced {
                Expr::Bool(holds) => holds != negated,
                // NULL is neither true nor false: no match either way.
                Expr::Null => false,
                _ => return Err(bad(format!("`{}` is not a condition on the tile's year", shown(expr)))),
            };
            if holds {
                push_merged(&mut ranges, self.years.year_ids(year)?);
            }
        }
        Ok(if ranges.is_empty() { Node::Nothing } else { Node::Ids(ranges) })
    }

    /// One operator applied to a property and literals.
    fn predicate(&self, op: &str, args: &[Box<Expr>], negated: bool) -> Result<Node> {
        let properties: Vec<&str> = args
            .iter()
            .filter_map(|arg| match arg.as_ref() {
                Expr::Property { property } => Some(property.as_str()),
                _ => None,
            })
            .collect();
        let name = match properties.as_slice() {
            [name] => *name,
            [] => return Err(bad(format!("`{op}` needs a property among its arguments"))),
            _ => return Err(bad(format!("`{op}` compares two properties; compare a property with a value"))),
        };
        let Some(kind) = self.queryables.iter().find(|(known, ..)| *known == name).map(|(.., kind)| kind) else {
            return self.unknown_property(name, op, negated);
        };
        let values: Vec<&Expr> =
            args.iter().map(Box::as_ref).filter(|arg| !matches!(arg, Expr::Property { .. })).collect();
        match kind {
            Queryable::Stores(stores) => self.stores_predicate(op, args, stores, negated),
            Queryable::Geometry => spatial(op, &values, negated),
            Queryable::Text | Queryable::Integer | Queryable::Instant if op == "isnull" => {
                // Only the sizes can be missing; every other property is on every item.
                match name {
                    "tessera:bytes" => Ok(Node::Test(Test { subject: Subject::Bytes, check: Check::IsNull, negated })),
                    _ => Ok(Node::Nothing.negated_if(negated)),
                }
            }
            _ => {
                let subject = match name {
                    "id" | "title" => Subject::ItemId,
                    "grid:code" => Subject::GridCode,
                    "tessera:bytes" => Subject::Bytes,
                    other => return Err(bad(format!("`{op}` on `{other}` is not supported"))),
                };
                if properties_first(args) {
                    self.scalar_predicate(subject, op, &values, negated)
                } else {
                    Err(bad(format!("write the property first: `{name} {op} ...`")))
                }
            }
        }
    }

    /// A property the items do not have: NULL on every tile (so `IS NULL` alone is true), as
    /// the queryables' `additionalProperties` says; unless it looks like a misspelt queryable.
    fn unknown_property(&self, name: &str, op: &str, negated: bool) -> Result<Node> {
        if let Some(meant) = near_miss(name, &self.queryables) {
            let names: Vec<&str> = self.queryables.iter().map(|(name, ..)| *name).collect();
            return Err(bad(format!(
                "unknown property `{name}`: did you mean `{meant}`? The queryables are {}",
                names.join(", ")
            )));
        }
        Ok(if op == "isnull" && !negated { Node::All } else { Node::Nothing })
    }

    /// `a_contains`, `a_overlaps`, `a_containedby` and `a_equals` on `tessera:stores`.
    fn stores_predicate(&self, op: &str, args: &[Box<Expr>], stores: &[String], negated: bool) -> Result<Node> {
        let [first, second] = args else {
            return Err(bad(format!("`{op}` takes two arguments, not {}", args.len())));
        };
        // `a_contains(list, tessera:stores)` is `a_containedby(tessera:stores, list)`.
        let (list, op) = match (first.as_ref(), second.as_ref()) {
            (Expr::Property { .. }, list) => (list, op),
            (list, _) => (list, mirrored(op)),
        };
        let names = match list {
            Expr::Array(items) => items.iter().map(|item| literal_text(item)).collect::<Option<Vec<_>>>(),
            Expr::Literal(name) => Some(vec![name.as_str()]),
            _ => None,
        };
        let names = names.ok_or_else(|| bad(format!("`{op}` on `tessera:stores` takes a list of store names")))?;
        let mut listed = Vec::with_capacity(names.len());
        for name in names {
            let index = stores.iter().position(|store| store == name).ok_or_else(|| {
                bad(format!("`{name}` is not a store of this inventory; the stores are {}", stores.join(", ")))
            })?;
            listed.push(index);
        }
        let held = |index: usize| Node::Store(index);
        let unlisted = || (0..stores.len()).filter(|index| !listed.contains(index));
        let node = match op {
            "a_contains" => Node::and(listed.iter().map(|&i| held(i)).collect()),
            "a_overlaps" => Node::or(listed.iter().map(|&i| held(i)).collect()),
            "a_containedby" => Node::and(unlisted().map(|i| held(i).not()).collect()),
            "a_equals" => {
                let mut all: Vec<Node> = listed.iter().map(|&i| held(i)).collect();
                all.extend(unlisted().map(|i| held(i).not()));
                Node::and(all)
            }
            _ => {
                return Err(bad(format!(
                    "`tessera:stores` takes a_contains, a_overlaps, a_containedby or a_equals, not `{op}`"
                )));
            }
        };
        Ok(node.negated_if(negated))
    }

    /// A comparison, `LIKE`, `BETWEEN` or `IN` on the id, the grid code or the size.
    fn scalar_predicate(&self, subject: Subject, op: &str, values: &[&Expr], negated: bool) -> Result<Node> {
        let numeric = subject == Subject::Bytes;
        let value = |expr: &Expr| -> Result<Value> {
            match (expr, numeric) {
                (Expr::Float(number), true) => Ok(Value::Number(*number)),
                (Expr::Literal(text), false) => Ok(Value::Text(text.clone())),
                _ => Err(bad(format!(
                    "`{}` is not {}: a type mismatch",
                    shown(expr),
                    if numeric { "a number" } else { "a string" }
                ))),
            }
        };
        let check = match (op, values) {
            ("like", [pattern]) if !numeric => match pattern {
                Expr::Literal(pattern) => Check::Like(pattern.clone()),
                other => return Err(bad(format!("LIKE takes a string pattern, not `{}`", shown(other)))),
            },
            ("between", [low, high]) => Check::Between(value(low)?, value(high)?),
            ("between", [Expr::Array(bounds)]) if bounds.len() == 2 => {
                Check::Between(value(&bounds[0])?, value(&bounds[1])?)
            }
            ("in", [Expr::Array(items)]) => Check::In(items.iter().map(|item| value(item)).collect::<Result<_>>()?),
            (op, [one]) => Check::Compare(comparison(op)?, value(one)?),
            _ => return Err(bad(format!("`{op}` with {} values is not supported here", values.len()))),
        };
        // Equality and lists of ids and cells are sets; the rest is tested tile by tile.
        let wanted = match (&check, subject) {
            (Check::Compare(Comparison::Equal, value), Subject::ItemId | Subject::GridCode) => {
                Some(vec![value.clone()])
            }
            (Check::Compare(Comparison::NotEqual, value), Subject::ItemId | Subject::GridCode) => {
                return Ok(self.listed(subject, std::slice::from_ref(value)).negated_if(!negated));
            }
            (Check::In(values), Subject::ItemId | Subject::GridCode) => Some(values.clone()),
            _ => None,
        };
        Ok(match wanted {
            Some(values) => self.listed(subject, &values).negated_if(negated),
            None => Node::Test(Test { subject, check, negated }),
        })
    }

    /// The tiles whose id (or cell) is one of `values`; names that are no tile match nothing.
    fn listed(&self, subject: Subject, values: &[Value]) -> Node {
        let texts = values.iter().filter_map(|value| match value {
            Value::Text(text) => Some(text.as_str()),
            Value::Number(_) => None,
        });
        let mut ids: Vec<u32> = match subject {
            Subject::ItemId => texts
                .filter_map(|text| Tile::parse_item_id(text).ok())
                .filter_map(|tile| self.years.id(tile).ok())
                .map(|id| id.0)
                .collect(),
            _ => texts
                .filter_map(|text| text.strip_prefix("TESSERA-"))
                .filter_map(|name| Cell::parse_name(name).ok())
                .map(Cell::index)
                .collect(),
        };
        ids.sort_unstable();
        ids.dedup();
        let mut ranges = Vec::with_capacity(ids.len());
        for id in ids {
            push_merged(&mut ranges, IdRange { lo: id, hi: id });
        }
        match (ranges.is_empty(), subject) {
            (true, _) => Node::Nothing,
            (false, Subject::ItemId) => Node::Ids(ranges),
            (false, _) => Node::Cells(ranges),
        }
    }
}

/// `s_intersects` (and its negation `s_disjoint`) of the footprint with a geometry or a box.
fn spatial(op: &str, values: &[&Expr], negated: bool) -> Result<Node> {
    let negated = match op {
        "s_intersects" => negated,
        "s_disjoint" => !negated,
        _ => {
            return Err(bad(format!("`{op}` is not supported on `geometry`: use s_intersects or s_disjoint")));
        }
    };
    let [shape] = values else {
        return Err(bad(format!("`{op}` takes the geometry and one shape")));
    };
    let cells = match shape {
        Expr::BBox { bbox } => {
            let numbers: Option<Vec<f64>> = bbox
                .iter()
                .map(|n| match n.as_ref() {
                    Expr::Float(n) => Some(*n),
                    _ => None,
                })
                .collect();
            let [west, south, east, north] = match numbers.as_deref() {
                Some(&[w, s, e, n]) | Some(&[w, s, _, e, n, _]) => [w, s, e, n],
                _ => return Err(bad("a BBOX takes 4 or 6 numbers".into())),
            };
            let bbox =
                Bbox::new(west, south, east, north).map_err(|err| bad(format!("the BBOX is not usable: {err}")))?;
            let one_year = YearRange::new(2000, 2000)?;
            bbox.id_ranges(one_year, &[2000])?
        }
        Expr::Geometry(shape) => {
            let geojson =
                serde_json::to_value(shape).map_err(|err| bad(format!("the geometry cannot be read: {err}")))?;
            let spans =
                geometry::rasterise(&geojson).map_err(|why| bad(format!("the geometry is not usable: {why}")))?;
            super::eval::spans_to_cells(&spans)
        }
        other => return Err(bad(format!("`{op}` takes a geometry or a BBOX, not `{}`", shown(other)))),
    };
    Ok(if cells.is_empty() { Node::Nothing } else { Node::Cells(cells) }.negated_if(negated))
}

/// The operator that says the same with its arguments swapped.
fn mirrored(op: &str) -> &str {
    match op {
        "a_contains" => "a_containedby",
        "a_containedby" => "a_contains",
        other => other,
    }
}

fn comparison(op: &str) -> Result<Comparison> {
    Ok(match op {
        "=" => Comparison::Equal,
        "<>" => Comparison::NotEqual,
        "<" => Comparison::Less,
        "<=" => Comparison::LessOrEqual,
        ">" => Comparison::Greater,
        ">=" => Comparison::GreaterOrEqual,
        other => return Err(bad(format!("`{other}` is not supported on this property"))),
    })
}

fn properties_first(args: &[Box<Expr>]) -> bool {
    matches!(args.first().map(Box::as_ref), Some(Expr::Property { .. }))
}

fn literal_text(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Literal(text) => Some(text),
        _ => None,
    }
}

/// An expression as CQL2 text, for messages.
fn shown(expr: &Expr) -> String {
    expr.to_text().unwrap_or_else(|_| format!("{expr:?}"))
}
