//! PackStream values, ordered maps, and typed views of the Bolt structures.
//!
//! [`Value`] is the untyped tree a decoder produces: structures stay generic
//! (`Value::Struct { tag, fields }`) so unknown tags survive a decode/encode round trip
//! unchanged. The typed structs ([`Node`], [`DateTime`], ...) convert from and to that generic
//! form when code needs to look inside one.

use super::error::{Error, Result};

/// A PackStream value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A 64-bit signed integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// A byte array.
    Bytes(Vec<u8>),
    /// A UTF-8 string.
    String(String),
    /// A list.
    List(Vec<Value>),
    /// A map, in wire order.
    Map(Map),
    /// A structure: a tag byte and up to 15 fields.
    Struct {
        /// The structure's tag (e.g. `b'N'` for a Node).
        tag: u8,
        /// Its fields, in order.
        fields: Vec<Value>,
    },
}

impl Value {
    /// The string inside, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The integer inside, if this is an integer.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The boolean inside, if this is a boolean.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The map inside, if this is a map.
    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The list inside, if this is a list.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// The tag and fields, if this is a structure.
    pub fn as_struct(&self) -> Option<(u8, &[Value])> {
        match self {
            Value::Struct { tag, fields } => Some((*tag, fields)),
            _ => None,
        }
    }

    /// A short name of the value's type, for error messages that must not show the value.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::Bytes(_) => "bytes",
            Value::String(_) => "string",
            Value::List(_) => "list",
            Value::Map(_) => "map",
            Value::Struct { .. } => "structure",
        }
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::String(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::String(v)
    }
}
impl From<Vec<Value>> for Value {
    fn from(v: Vec<Value>) -> Self {
        Value::List(v)
    }
}
impl From<Map> for Value {
    fn from(v: Map) -> Self {
        Value::Map(v)
    }
}

/// A PackStream map: entries in wire order, duplicates kept.
///
/// Order matters on the wire (FalkorDB reads LOGON's auth map by position), so this is a vector
/// of pairs, never a hash map. Lookups are linear, which is the fast choice for the handful of
/// keys Bolt metadata maps hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Map(pub Vec<(String, Value)>);

impl Map {
    /// An empty map.
    pub const fn new() -> Self {
        Map(Vec::new())
    }

    /// An empty map with room for `n` entries.
    pub fn with_capacity(n: usize) -> Self {
        Map(Vec::with_capacity(n))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the map has no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value of `key`; with duplicate keys the last one wins, as in the PackStream spec.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Mutable access to the value of `key` (the last duplicate).
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.0
            .iter_mut()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    /// Sets `key`: replaces the value in place if the key exists (keeping its position), else
    /// appends. Returns the previous value.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Value>) -> Option<Value> {
        let key = key.into();
        let value = value.into();
        match self.get_mut(&key) {
            Some(slot) => Some(std::mem::replace(slot, value)),
            None => {
                self.0.push((key, value));
                None
            }
        }
    }

    /// Removes every entry of `key`, returning the last value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let mut last = None;
        self.0.retain_mut(|(k, v)| {
            if k == key {
                last = Some(std::mem::replace(v, Value::Null));
                false
            } else {
                true
            }
        });
        last
    }

    /// Iterates over the entries in wire order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The string value of `key`, if present and a string.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    /// The integer value of `key`, if present and an integer.
    pub fn get_int(&self, key: &str) -> Option<i64> {
        self.get(key).and_then(Value::as_int)
    }
}

impl<K: Into<String>, V: Into<Value>> FromIterator<(K, V)> for Map {
    fn from_iter<T: IntoIterator<Item = (K, V)>>(iter: T) -> Self {
        Map(iter
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect())
    }
}

impl IntoIterator for Map {
    type Item = (String, Value);
    type IntoIter = std::vec::IntoIter<(String, Value)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// Structure tags of Bolt 4.4, 5.x and 6.0.
pub mod tag {
    /// Node (`N`): 3 fields in Bolt 4.x, 4 with `element_id` in 5.x.
    pub const NODE: u8 = 0x4E;
    /// Relationship (`R`): 5 fields in Bolt 4.x, 8 with the element ids in 5.x.
    pub const RELATIONSHIP: u8 = 0x52;
    /// UnboundRelationship (`r`): 3 fields in Bolt 4.x, 4 in 5.x.
    pub const UNBOUND_RELATIONSHIP: u8 = 0x72;
    /// Path (`P`).
    pub const PATH: u8 = 0x50;
    /// Date (`D`).
    pub const DATE: u8 = 0x44;
    /// Time with offset (`T`).
    pub const TIME: u8 = 0x54;
    /// LocalTime (`t`).
    pub const LOCAL_TIME: u8 = 0x74;
    /// DateTime with offset, legacy encoding (`F`): seconds are local wall-clock seconds.
    pub const DATE_TIME_LEGACY: u8 = 0x46;
    /// DateTime with zone id, legacy encoding (`f`): seconds are local wall-clock seconds.
    pub const DATE_TIME_ZONE_ID_LEGACY: u8 = 0x66;
    /// DateTime with offset, UTC encoding (`I`, Bolt 5.x and 4.4 with the `utc` patch).
    pub const DATE_TIME: u8 = 0x49;
    /// DateTime with zone id, UTC encoding (`i`, Bolt 5.x and 4.4 with the `utc` patch).
    pub const DATE_TIME_ZONE_ID: u8 = 0x69;
    /// LocalDateTime (`d`).
    pub const LOCAL_DATE_TIME: u8 = 0x64;
    /// Duration (`E`).
    pub const DURATION: u8 = 0x45;
    /// Point2D (`X`).
    pub const POINT_2D: u8 = 0x58;
    /// Point3D (`Y`).
    pub const POINT_3D: u8 = 0x59;
    /// Vector (`V`, Bolt 6.0+): a type marker and the packed values.
    pub const VECTOR: u8 = 0x56;
    /// UnsupportedType (`?`, Bolt 6.0+): the server's placeholder for a value of a type the
    /// negotiated version cannot carry.
    pub const UNSUPPORTED_TYPE: u8 = 0x3F;
}

/// A typed Bolt structure that converts from and to the generic `Value::Struct`.
pub trait BoltStruct: Sized {
    /// Reads the structure from its tag and fields.
    fn from_fields(tag: u8, fields: &[Value]) -> Result<Self>;
    /// The structure as a generic value.
    fn into_value(self) -> Value;

    /// Reads the structure from a value, which must be a structure of the right tag.
    fn from_value(value: &Value) -> Result<Self> {
        match value {
            Value::Struct { tag, fields } => Self::from_fields(*tag, fields),
            _ => Err(Error::BadStructure {
                tag: 0,
                reason: "not a structure",
            }),
        }
    }
}

fn bad(tag: u8, reason: &'static str) -> Error {
    Error::BadStructure { tag, reason }
}

fn int_at(tag: u8, fields: &[Value], i: usize) -> Result<i64> {
    fields
        .get(i)
        .and_then(Value::as_int)
        .ok_or(bad(tag, "expected an integer field"))
}

fn float_at(tag: u8, fields: &[Value], i: usize) -> Result<f64> {
    match fields.get(i) {
        Some(Value::Float(f)) => Ok(*f),
        _ => Err(bad(tag, "expected a float field")),
    }
}

fn string_at(tag: u8, fields: &[Value], i: usize) -> Result<String> {
    fields
        .get(i)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or(bad(tag, "expected a string field"))
}

fn map_at(tag: u8, fields: &[Value], i: usize) -> Result<Map> {
    fields
        .get(i)
        .and_then(Value::as_map)
        .cloned()
        .ok_or(bad(tag, "expected a map field"))
}

fn expect(tag: u8, got: u8, fields: &[Value], counts: &[usize]) -> Result<()> {
    if tag != got {
        return Err(bad(got, "unexpected structure tag"));
    }
    if !counts.contains(&fields.len()) {
        return Err(bad(tag, "wrong number of fields"));
    }
    Ok(())
}

/// A graph node. `element_id` is present in Bolt 5.x and absent in 4.x.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Legacy numeric id.
    pub id: i64,
    /// Labels.
    pub labels: Vec<String>,
    /// Properties.
    pub properties: Map,
    /// Bolt 5.x element id.
    pub element_id: Option<String>,
}

impl BoltStruct for Node {
    fn from_fields(t: u8, fields: &[Value]) -> Result<Self> {
        expect(tag::NODE, t, fields, &[3, 4])?;
        let labels = fields[1]
            .as_list()
            .ok_or(bad(t, "labels must be a list"))?
            .iter()
            .map(|l| l.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or(bad(t, "labels must be strings"))?;
        Ok(Node {
            id: int_at(t, fields, 0)?,
            labels,
            properties: map_at(t, fields, 2)?,
            element_id: if fields.len() == 4 {
                Some(string_at(t, fields, 3)?)
            } else {
                None
            },
        })
    }

    fn into_value(self) -> Value {
        let mut fields = Vec::with_capacity(4);
        fields.push(Value::Int(self.id));
        fields.push(Value::List(
            self.labels.into_iter().map(Value::String).collect(),
        ));
        fields.push(Value::Map(self.properties));
        if let Some(e) = self.element_id {
            fields.push(Value::String(e));
        }
        Value::Struct {
            tag: tag::NODE,
            fields,
        }
    }
}

/// A relationship with its end nodes. The three element ids are present in Bolt 5.x only.
#[derive(Debug, Clone, PartialEq)]
pub struct Relationship {
    /// Legacy numeric id.
    pub id: i64,
    /// Legacy id of the start node.
    pub start_node_id: i64,
    /// Legacy id of the end node.
    pub end_node_id: i64,
    /// Relationship type.
    pub rel_type: String,
    /// Properties.
    pub properties: Map,
    /// Bolt 5.x element ids: the relationship's, the start node's, the end node's.
    pub element_ids: Option<[String; 3]>,
}

impl BoltStruct for Relationship {
    fn from_fields(t: u8, fields: &[Value]) -> Result<Self> {
        expect(tag::RELATIONSHIP, t, fields, &[5, 8])?;
        Ok(Relationship {
            id: int_at(t, fields, 0)?,
            start_node_id: int_at(t, fields, 1)?,
            end_node_id: int_at(t, fields, 2)?,
            rel_type: string_at(t, fields, 3)?,
            properties: map_at(t, fields, 4)?,
            element_ids: if fields.len() == 8 {
                Some([
                    string_at(t, fields, 5)?,
                    string_at(t, fields, 6)?,
                    string_at(t, fields, 7)?,
                ])
            } else {
                None
            },
        })
    }

    fn into_value(self) -> Value {
        let mut fields = vec![
            Value::Int(self.id),
            Value::Int(self.start_node_id),
            Value::Int(self.end_node_id),
            Value::String(self.rel_type),
            Value::Map(self.properties),
        ];
        if let Some(ids) = self.element_ids {
            fields.extend(ids.into_iter().map(Value::String));
        }
        Value::Struct {
            tag: tag::RELATIONSHIP,
            fields,
        }
    }
}

/// A relationship inside a path, without its end nodes.
#[derive(Debug, Clone, PartialEq)]
pub struct UnboundRelationship {
    /// Legacy numeric id.
    pub id: i64,
    /// Relationship type.
    pub rel_type: String,
    /// Properties.
    pub properties: Map,
    /// Bolt 5.x element id.
    pub element_id: Option<String>,
}

impl BoltStruct for UnboundRelationship {
    fn from_fields(t: u8, fields: &[Value]) -> Result<Self> {
        expect(tag::UNBOUND_RELATIONSHIP, t, fields, &[3, 4])?;
        Ok(UnboundRelationship {
            id: int_at(t, fields, 0)?,
            rel_type: string_at(t, fields, 1)?,
            properties: map_at(t, fields, 2)?,
            element_id: if fields.len() == 4 {
                Some(string_at(t, fields, 3)?)
            } else {
                None
            },
        })
    }

    fn into_value(self) -> Value {
        let mut fields = vec![
            Value::Int(self.id),
            Value::String(self.rel_type),
            Value::Map(self.properties),
        ];
        if let Some(e) = self.element_id {
            fields.push(Value::String(e));
        }
        Value::Struct {
            tag: tag::UNBOUND_RELATIONSHIP,
            fields,
        }
    }
}

/// A path: its distinct nodes and relationships, and the index sequence that walks them.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    /// Distinct nodes.
    pub nodes: Vec<Node>,
    /// Distinct relationships.
    pub rels: Vec<UnboundRelationship>,
    /// Alternating relationship (1-based, negative for reverse direction) and node indices.
    pub indices: Vec<i64>,
}

impl BoltStruct for Path {
    fn from_fields(t: u8, fields: &[Value]) -> Result<Self> {
        expect(tag::PATH, t, fields, &[3])?;
        let list = |i: usize| {
            fields[i]
                .as_list()
                .ok_or(bad(t, "path fields must be lists"))
        };
        Ok(Path {
            nodes: list(0)?
                .iter()
                .map(Node::from_value)
                .collect::<Result<_>>()?,
            rels: list(1)?
                .iter()
                .map(UnboundRelationship::from_value)
                .collect::<Result<_>>()?,
            indices: list(2)?
                .iter()
                .map(|v| v.as_int().ok_or(bad(t, "path indices must be integers")))
                .collect::<Result<_>>()?,
        })
    }

    fn into_value(self) -> Value {
        Value::Struct {
            tag: tag::PATH,
            fields: vec![
                Value::List(self.nodes.into_iter().map(Node::into_value).collect()),
                Value::List(
                    self.rels
                        .into_iter()
                        .map(UnboundRelationship::into_value)
                        .collect(),
                ),
                Value::List(self.indices.into_iter().map(Value::Int).collect()),
            ],
        }
    }
}

/// A date: days since 1970-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date {
    /// Days since the Unix epoch.
    pub days: i64,
}

impl BoltStruct for Date {
    fn from_fields(t: u8, fields: &[Value]) -> Result<Self> {
        expect(tag::DATE, t, fields, &[1])?;
        Ok(Date {
            days: int_at(t, fields, 0)?,
        })
    }
    fn into_value(self) -> Value {
        Value::Struct {
            tag: tag::DATE,
            fields: vec![Value::Int(self.days)],
        }
    }
}

/// A time of day with a UTC offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Time {
    /// Nanoseconds since midnight (local).
    pub nanoseconds: i64,
    /// Offset from UTC in seconds.
    pub tz_offset_seconds: i64,
}

impl BoltStruct for Time {
    fn from_fields(t: u8, fields: &[Value]) -> Result<Self> {
        expect(tag::TIME, t, fields, &[2])?;
        Ok(Time {
            nanoseconds: int_at(t, fields, 0)?,
            tz_offset_seconds: int_at(t, fields, 1)?,
        })
    }
    fn into_value(self) -> Value {
        Value::Struct {
            tag: tag::TIME,
            fields: vec![
                Value::Int(self.nanoseconds),
                Value::Int(self.tz_offset_seconds),
            ],
        }
    }
}

/// A time of day without a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    /// Nanoseconds since midnight.
    pub nanoseconds: i64,
}

impl BoltStruct for LocalTime {
    fn from_fields(t: u8, fields: &[Value]) -> Result<Self> {
        expect(tag::LOCAL_TIME, t, fields, &[1])?;
        Ok(LocalTime {
            nanoseconds: int_at(t, fields, 0)?,
        })
    }
    fn into_value(self) -> Value {
        Value::Struct {
            tag: tag::LOCAL_TIME,
            fields: vec![Value::Int(self.nanoseconds)],
        }
    }
}

/// How a zoned date-time's `seconds` field is counted on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateTimeEncoding {
    /// Bolt 4.x without the `utc` patch (tags `F`/`f`): local wall-clock seconds since the epoch.
    Legacy,
    /// Bolt 5.x and 4.4 with the `utc` patch (tags `I`/`i`): UTC seconds since the epoch.
    Utc,
}

/// A date-time with a fixed UTC offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    /// Seconds since the epoch, counted as `encoding` says.
    pub seconds: i64,
    /// Nanoseconds within the second.
    pub nanoseconds: i64,
    /// Offset from UTC in seconds.
    pub tz_offset_seconds: i64,
    /// Wire encoding.
    pub encoding: DateTimeEncoding,
}

impl DateTime {
    /// The same instant in the other encoding: legacy seconds are UTC seconds plus the offset.
    pub fn to_encoding(self, encoding: DateTimeEncoding) -> Self {
        let seconds = match (self.encoding, encoding) {
            (DateTimeEncoding::Legacy, DateTimeEncoding::Utc) => {
                self.seconds.wrapping_sub(self.tz_offset_seconds)
            }
            (DateTimeEncoding::Utc, DateTimeEncoding::Legacy) => {
                self.seconds.wrapping_add(self.tz_offset_seconds)
            }
            _ => self.seconds,
        };
        DateTime {
            seconds,
            encoding,
            ..self
        }
    }
}

impl BoltStruct for DateTime {
    fn from_fields(t: u8, fields: &[Value]) -> Result<Self> {
        let encoding = match t {
            tag::DATE_TIME => DateTimeEncoding::Utc,
            tag::DATE_TIME_LEGACY => DateTimeEncoding::Legacy,
            _ => return Err(bad(t, "unexpected structure tag")),
        };
        expect(t, t, fields, &[3])?;
        Ok(DateTime {
            seconds: int_at(t, fields, 0)?,
            nanoseconds: int_at(t, fields, 1)?,
            tz_offset_seconds: int_at(t, fields, 2)?,
            encoding,
        })
    }
    fn into_value(self) -> Value {
        Value::Struct {
            tag: match self.encoding {
                DateTimeEncoding::Utc => tag::DATE_TIME,
                DateTimeEncoding::Legacy => tag::DATE_TIME_LEGACY,
            },
            fields: vec![
                Value::Int(self.seconds),
                Value::Int(self.nanoseconds),
                Value::Int(self.tz_offset_seconds),
            ],
        }
    }
}

/// A date-time in a named time zone (e.g. `Europe/Paris`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateTimeZoneId {
    /// Seconds since the epoch, counted as `encoding` says.
    pub seconds: i64,
    /// Nanoseconds within the second.
    pub nanoseconds: i64,
    /// IANA zone name.
    pub tz_id: String,
    /// Wire encoding.
    pub encoding: DateTimeEncoding,
}

impl BoltStruct for DateTimeZoneId {
    fn from_fields(t: u8, fields: &[Value]) -> Result<Self> {
        let encoding = match t {
            tag::DATE_TIME_ZONE_ID => DateTimeEncoding::Utc,
            tag::DATE_TIME_ZONE_ID_LEGACY => DateTimeEncoding::Legacy,
            _ => return Err(bad(t, "unexpected structure tag")),
        };
        expect(t, t, fields, &[3])?;
        Ok(DateTimeZoneId {
            seconds: int_at(t, fields, 0)?,
            nanoseconds: int_at(t, fields, 1)?,
            tz_id: string_at(t, fields, 2)?,
            encoding,
        })
    }
    fn into_value(self) -> Value {
        Value::Struct {
            tag: match self.encoding {
                DateTimeEncoding::Utc => tag::DATE_TIME_ZONE_ID,
                DateTimeEncoding::Legacy => tag::DATE_TIME_ZONE_ID_LEGACY,
            },
            fields: vec![
                Value::Int(self.seconds),
                Value::Int(self.nanoseconds),
                Value::String(self.tz_id),
            ],
        }
    }
}

/// A date-time without a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalDateTime {
    /// Wall-clock seconds since the epoch.
    pub seconds: i64,
    /// Nanoseconds within the second.
    pub nanoseconds: i64,
}

impl BoltStruct for LocalDateTime {
    fn from_fields(t: u8, fields: &[Value]) -> Result<Self> {
        expect(tag::LOCAL_DATE_TIME, t, fields, &[2])?;
        Ok(LocalDateTime {
            seconds: int_at(t, fields, 0)?,
            nanoseconds: int_at(t, fields, 1)?,
        })
    }
    fn into_value(self) -> Value {
        Value::Struct {
            tag: tag::LOCAL_DATE_TIME,
            fields: vec![Value::Int(self.seconds), Value::Int(self.nanoseconds)],
        }
    }
}

/// A duration in months, days, seconds and nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duration {
    /// Months.
    pub months: i64,
    /// Days.
    pub days: i64,
    /// Seconds.
    pub seconds: i64,
    /// Nanoseconds.
    pub nanoseconds: i64,
}

impl BoltStruct for Duration {
    fn from_fields(t: u8, fields: &[Value]) -> Result<Self> {
        expect(tag::DURATION, t, fields, &[4])?;
        Ok(Duration {
            months: int_at(t, fields, 0)?,
            days: int_at(t, fields, 1)?,
            seconds: int_at(t, fields, 2)?,
            nanoseconds: int_at(t, fields, 3)?,
        })
    }
    fn into_value(self) -> Value {
        Value::Struct {
            tag: tag::DURATION,
            fields: vec![
                Value::Int(self.months),
                Value::Int(self.days),
                Value::Int(self.seconds),
                Value::Int(self.nanoseconds),
            ],
        }
    }
}

/// A 2D point in a coordinate reference system.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point2D {
    /// Spatial reference system id.
    pub srid: i64,
    /// x.
    pub x: f64,
    /// y.
    pub y: f64,
}

impl BoltStruct for Point2D {
    fn from_fields(t: u8, fields: &[Value]) -> Result<Self> {
        expect(tag::POINT_2D, t, fields, &[3])?;
        Ok(Point2D {
            srid: int_at(t, fields, 0)?,
            x: float_at(t, fields, 1)?,
            y: float_at(t, fields, 2)?,
        })
    }
    fn into_value(self) -> Value {
        Value::Struct {
            tag: tag::POINT_2D,
            fields: vec![
                Value::Int(self.srid),
                Value::Float(self.x),
                Value::Float(self.y),
            ],
        }
    }
}

/// A 3D point in a coordinate reference system.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point3D {
    /// Spatial reference system id.
    pub srid: i64,
    /// x.
    pub x: f64,
    /// y.
    pub y: f64,
    /// z.
    pub z: f64,
}

impl BoltStruct for Point3D {
    fn from_fields(t: u8, fields: &[Value]) -> Result<Self> {
        expect(tag::POINT_3D, t, fields, &[4])?;
        Ok(Point3D {
            srid: int_at(t, fields, 0)?,
            x: float_at(t, fields, 1)?,
            y: float_at(t, fields, 2)?,
            z: float_at(t, fields, 3)?,
        })
    }
    fn into_value(self) -> Value {
        Value::Struct {
            tag: tag::POINT_3D,
            fields: vec![
                Value::Int(self.srid),
                Value::Float(self.x),
                Value::Float(self.y),
                Value::Float(self.z),
            ],
        }
    }
}

/// A vector (Bolt 6.0+): homogeneous numbers, packed big-endian without per-value markers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vector {
    /// The PackStream marker of the element type: `C8`, `C9`, `CA`, `CB` (8- to 64-bit
    /// integers), `C6` (32-bit float) or `C1` (64-bit float).
    pub type_marker: u8,
    /// The elements, each as many bytes as its type takes.
    pub data: Vec<u8>,
}

impl Vector {
    /// Bytes per element of a type marker, `None` for a marker the format does not define.
    pub fn element_size(type_marker: u8) -> Option<usize> {
        match type_marker {
            0xC8 => Some(1),
            0xC9 => Some(2),
            0xCA | 0xC6 => Some(4),
            0xCB | 0xC1 => Some(8),
            _ => None,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        Self::element_size(self.type_marker).map_or(0, |n| self.data.len() / n)
    }

    /// Whether it has no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl BoltStruct for Vector {
    fn from_fields(t: u8, fields: &[Value]) -> Result<Self> {
        expect(tag::VECTOR, t, fields, &[2])?;
        let type_marker = match &fields[0] {
            Value::Bytes(b) if b.len() == 1 => b[0],
            _ => return Err(bad(t, "the type marker must be one byte")),
        };
        let size =
            Vector::element_size(type_marker).ok_or(bad(t, "unknown vector element type"))?;
        let data = match &fields[1] {
            Value::Bytes(b) if b.len() % size == 0 => b.clone(),
            Value::Bytes(_) => return Err(bad(t, "vector data is not whole elements")),
            _ => return Err(bad(t, "vector data must be bytes")),
        };
        Ok(Vector { type_marker, data })
    }

    fn into_value(self) -> Value {
        Value::Struct {
            tag: tag::VECTOR,
            fields: vec![
                Value::Bytes(vec![self.type_marker]),
                Value::Bytes(self.data),
            ],
        }
    }
}

/// The server's stand-in (Bolt 6.0+) for a value whose type the negotiated protocol version
/// cannot carry.
#[derive(Debug, Clone, PartialEq)]
pub struct UnsupportedType {
    /// The type's name.
    pub name: String,
    /// The lowest protocol version that carries it: major.
    pub minimum_major: i64,
    /// The lowest protocol version that carries it: minor.
    pub minimum_minor: i64,
    /// Extras: an optional `message`.
    pub extra: Map,
}

impl BoltStruct for UnsupportedType {
    fn from_fields(t: u8, fields: &[Value]) -> Result<Self> {
        expect(tag::UNSUPPORTED_TYPE, t, fields, &[4])?;
        Ok(UnsupportedType {
            name: string_at(t, fields, 0)?,
            minimum_major: int_at(t, fields, 1)?,
            minimum_minor: int_at(t, fields, 2)?,
            extra: map_at(t, fields, 3)?,
        })
    }

    fn into_value(self) -> Value {
        Value::Struct {
            tag: tag::UNSUPPORTED_TYPE,
            fields: vec![
                Value::String(self.name),
                Value::Int(self.minimum_major),
                Value::Int(self.minimum_minor),
                Value::Map(self.extra),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_keeps_order_and_replaces_in_place() {
        let mut m: Map = [
            ("scheme", "basic"),
            ("principal", "u"),
            ("credentials", "p"),
        ]
        .into_iter()
        .collect();
        m.insert("principal", "v");
        let keys: Vec<_> = m.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["scheme", "principal", "credentials"]);
        assert_eq!(m.get_str("principal"), Some("v"));
        assert_eq!(m.remove("scheme"), Some(Value::from("basic")));
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn duplicate_keys_last_wins() {
        let m = Map(vec![
            ("a".into(), Value::Int(1)),
            ("a".into(), Value::Int(2)),
        ]);
        assert_eq!(m.get_int("a"), Some(2));
    }

    #[test]
    fn node_with_and_without_element_id() {
        let n5 = Node {
            id: 7,
            labels: vec!["Card".into()],
            properties: Map::new(),
            element_id: Some("7".into()),
        };
        let v = n5.clone().into_value();
        assert_eq!(v.as_struct().unwrap().1.len(), 4);
        assert_eq!(Node::from_value(&v).unwrap(), n5);
        let n4 = Node {
            element_id: None,
            ..n5
        };
        let v = n4.clone().into_value();
        assert_eq!(v.as_struct().unwrap().1.len(), 3);
        assert_eq!(Node::from_value(&v).unwrap(), n4);
    }

    #[test]
    fn datetime_encodings_convert_both_ways() {
        let utc = DateTime {
            seconds: 1_000,
            nanoseconds: 5,
            tz_offset_seconds: 3_600,
            encoding: DateTimeEncoding::Utc,
        };
        let legacy = utc.to_encoding(DateTimeEncoding::Legacy);
        assert_eq!(legacy.seconds, 4_600);
        assert_eq!(legacy.to_encoding(DateTimeEncoding::Utc), utc);
        assert_eq!(
            legacy.into_value().as_struct().unwrap().0,
            tag::DATE_TIME_LEGACY
        );
    }

    #[test]
    fn bolt_6_structures_round_trip() {
        let v = Vector {
            type_marker: 0xC9,
            data: vec![0, 1, 0xFF, 0xFE],
        };
        assert_eq!(v.len(), 2);
        let value = v.clone().into_value();
        let bytes = crate::packstream::to_vec(&value).unwrap();
        // B2 56, then two byte arrays: the marker, the data.
        assert_eq!(&bytes[..5], &[0xB2, 0x56, 0xCC, 0x01, 0xC9]);
        assert_eq!(
            Vector::from_value(&crate::packstream::decode(&bytes).unwrap()).unwrap(),
            v
        );
        let odd = Vector {
            type_marker: 0xCA,
            data: vec![1, 2, 3],
        }
        .into_value();
        assert!(Vector::from_value(&odd).is_err());
        let u = UnsupportedType {
            name: "QuantumFloat".into(),
            minimum_major: 42,
            minimum_minor: 21,
            extra: [("message", "upgrade")].into_iter().collect(),
        };
        assert_eq!(
            UnsupportedType::from_value(&u.clone().into_value()).unwrap(),
            u
        );
    }

    #[test]
    fn wrong_shapes_are_errors() {
        let v = Value::Struct {
            tag: tag::NODE,
            fields: vec![
                Value::from("x"),
                Value::List(vec![]),
                Value::Map(Map::new()),
            ],
        };
        assert!(Node::from_value(&v).is_err());
        assert!(Date::from_value(&Value::Null).is_err());
        assert!(Relationship::from_value(&v).is_err());
    }
}
