//! PackStream v1: the binary value encoding Bolt messages are written in.
//!
//! Encoding always picks the smallest marker for a value. Decoding reads any valid encoding
//! (also non-minimal ones), never panics, and bounds what hostile input can cost: nesting depth
//! and the number of values per input are limited, and no allocation is sized from a length
//! prefix beyond what the input can actually hold.

use bytes::BufMut;

use super::error::{Error, Result};
use super::value::{Map, Value};

/// PackStream marker bytes.
pub mod marker {
    /// `null`.
    pub const NULL: u8 = 0xC0;
    /// 64-bit float.
    pub const FLOAT_64: u8 = 0xC1;
    /// `false`.
    pub const FALSE: u8 = 0xC2;
    /// `true`.
    pub const TRUE: u8 = 0xC3;
    /// 8-bit integer.
    pub const INT_8: u8 = 0xC8;
    /// 16-bit integer.
    pub const INT_16: u8 = 0xC9;
    /// 32-bit integer.
    pub const INT_32: u8 = 0xCA;
    /// 64-bit integer.
    pub const INT_64: u8 = 0xCB;
    /// Byte array with an 8-bit length.
    pub const BYTES_8: u8 = 0xCC;
    /// Byte array with a 16-bit length.
    pub const BYTES_16: u8 = 0xCD;
    /// Byte array with a 32-bit length.
    pub const BYTES_32: u8 = 0xCE;
    /// String of up to 15 bytes: the low nibble is the length.
    pub const TINY_STRING: u8 = 0x80;
    /// String with an 8-bit length.
    pub const STRING_8: u8 = 0xD0;
    /// String with a 16-bit length.
    pub const STRING_16: u8 = 0xD1;
    /// String with a 32-bit length.
    pub const STRING_32: u8 = 0xD2;
    /// List of up to 15 items.
    pub const TINY_LIST: u8 = 0x90;
    /// List with an 8-bit length.
    pub const LIST_8: u8 = 0xD4;
    /// List with a 16-bit length.
    pub const LIST_16: u8 = 0xD5;
    /// List with a 32-bit length.
    pub const LIST_32: u8 = 0xD6;
    /// Map of up to 15 entries.
    pub const TINY_MAP: u8 = 0xA0;
    /// Map with an 8-bit length.
    pub const MAP_8: u8 = 0xD8;
    /// Map with a 16-bit length.
    pub const MAP_16: u8 = 0xD9;
    /// Map with a 32-bit length.
    pub const MAP_32: u8 = 0xDA;
    /// Structure of up to 15 fields (the only structure marker of PackStream v1 in Bolt 4/5).
    pub const TINY_STRUCT: u8 = 0xB0;
}

/// Most fields a structure can have.
pub const MAX_STRUCT_FIELDS: usize = 15;

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

/// Writes a value with the smallest markers.
///
/// Fails only on what PackStream cannot express: a structure with more than 15 fields, or a
/// string, byte array or collection longer than `u32::MAX`.
pub fn encode(value: &Value, out: &mut impl BufMut) -> Result<()> {
    match value {
        Value::Null => out.put_u8(marker::NULL),
        Value::Bool(false) => out.put_u8(marker::FALSE),
        Value::Bool(true) => out.put_u8(marker::TRUE),
        Value::Int(i) => encode_int(*i, out),
        Value::Float(f) => {
            out.put_u8(marker::FLOAT_64);
            out.put_f64(*f);
        }
        Value::Bytes(b) => encode_bytes(b, out)?,
        Value::String(s) => encode_str(s, out)?,
        Value::List(items) => {
            encode_list_header(items.len(), out)?;
            for item in items {
                encode(item, out)?;
            }
        }
        Value::Map(map) => encode_map(map, out)?,
        Value::Struct { tag, fields } => {
            encode_struct_header(*tag, fields.len(), out)?;
            for f in fields {
                encode(f, out)?;
            }
        }
    }
    Ok(())
}

/// Writes an integer with the smallest marker.
pub fn encode_int(i: i64, out: &mut impl BufMut) {
    if (-16..=127).contains(&i) {
        out.put_i8(i as i8);
    } else if (-128..-16).contains(&i) {
        out.put_u8(marker::INT_8);
        out.put_i8(i as i8);
    } else if (-32_768..=32_767).contains(&i) {
        out.put_u8(marker::INT_16);
        out.put_i16(i as i16);
    } else if (-2_147_483_648..=2_147_483_647).contains(&i) {
        out.put_u8(marker::INT_32);
        out.put_i32(i as i32);
    } else {
        out.put_u8(marker::INT_64);
        out.put_i64(i);
    }
}

fn too_large(what: &'static str, size: usize) -> Error {
    Error::TooLarge {
        what,
        size,
        limit: u32::MAX as usize,
    }
}

/// Writes a size header: tiny form when `tiny` is set and the size fits a nibble, then the
/// 8-, 16- or 32-bit forms starting at `sized`.
fn encode_size(
    what: &'static str,
    len: usize,
    tiny: Option<u8>,
    sized: u8,
    out: &mut impl BufMut,
) -> Result<()> {
    match (tiny, len) {
        (Some(t), 0..=15) => out.put_u8(t | len as u8),
        (_, 0..=0xFF) => {
            out.put_u8(sized);
            out.put_u8(len as u8);
        }
        (_, 0x100..=0xFFFF) => {
            out.put_u8(sized + 1);
            out.put_u16(len as u16);
        }
        _ if len <= u32::MAX as usize => {
            out.put_u8(sized + 2);
            out.put_u32(len as u32);
        }
        _ => return Err(too_large(what, len)),
    }
    Ok(())
}

/// Writes a string.
pub fn encode_str(s: &str, out: &mut impl BufMut) -> Result<()> {
    encode_size(
        "string",
        s.len(),
        Some(marker::TINY_STRING),
        marker::STRING_8,
        out,
    )?;
    out.put_slice(s.as_bytes());
    Ok(())
}

/// Writes a byte array (there is no tiny form for bytes).
pub fn encode_bytes(b: &[u8], out: &mut impl BufMut) -> Result<()> {
    encode_size("byte array", b.len(), None, marker::BYTES_8, out)?;
    out.put_slice(b);
    Ok(())
}

/// Writes the header of a list of `len` items; the items follow.
pub fn encode_list_header(len: usize, out: &mut impl BufMut) -> Result<()> {
    encode_size("list", len, Some(marker::TINY_LIST), marker::LIST_8, out)
}

/// Writes the header of a map of `len` entries; key/value pairs follow.
pub fn encode_map_header(len: usize, out: &mut impl BufMut) -> Result<()> {
    encode_size("map", len, Some(marker::TINY_MAP), marker::MAP_8, out)
}

/// Writes a map, keys in their order.
pub fn encode_map(map: &Map, out: &mut impl BufMut) -> Result<()> {
    encode_map_header(map.len(), out)?;
    for (k, v) in map.iter() {
        encode_str(k, out)?;
        encode(v, out)?;
    }
    Ok(())
}

/// Writes the header of a structure with `fields` fields; the fields follow.
pub fn encode_struct_header(tag: u8, fields: usize, out: &mut impl BufMut) -> Result<()> {
    if fields > MAX_STRUCT_FIELDS {
        return Err(Error::TooLarge {
            what: "structure",
            size: fields,
            limit: MAX_STRUCT_FIELDS,
        });
    }
    out.put_u8(marker::TINY_STRUCT | fields as u8);
    out.put_u8(tag);
    Ok(())
}

/// The encoded value as a new byte vector.
pub fn to_vec(value: &Value) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    encode(value, &mut out)?;
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

/// Bounds on what one decoded input may cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deepest nesting of lists, maps and structures (guards the stack).
    pub max_depth: usize,
    /// Most values in one input (guards memory: a value takes ~40 bytes in memory for as little
    /// as one byte on the wire).
    pub max_values: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 64,
            max_values: 1 << 22,
        }
    }
}

/// What a marker byte announces.
enum Head {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Bytes(usize),
    String(usize),
    List(usize),
    Map(usize),
    Struct(u8, usize),
}

/// The head of a sized string, byte array, list or map, from its 8-bit marker.
fn sized(base: u8, len: usize) -> Head {
    match base {
        marker::BYTES_8 => Head::Bytes(len),
        marker::STRING_8 => Head::String(len),
        marker::LIST_8 => Head::List(len),
        _ => Head::Map(len),
    }
}

/// A PackStream reader over a byte slice.
#[derive(Debug)]
pub struct Decoder<'a> {
    input: &'a [u8],
    pos: usize,
    limits: Limits,
    values: usize,
}

impl<'a> Decoder<'a> {
    /// A decoder with default limits.
    pub fn new(input: &'a [u8]) -> Self {
        Self::with_limits(input, Limits::default())
    }

    /// A decoder with the given limits.
    pub fn with_limits(input: &'a [u8], limits: Limits) -> Self {
        Decoder {
            input,
            pos: 0,
            limits,
            values: 0,
        }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.input.len() - self.pos
    }

    /// Fails unless every byte was consumed.
    pub fn finish(&self) -> Result<()> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(Error::TrailingBytes(n)),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.remaining() < n {
            return Err(Error::UnexpectedEnd);
        }
        let s = &self.input[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn count_value(&mut self) -> Result<()> {
        self.values += 1;
        if self.values > self.limits.max_values {
            return Err(Error::TooManyValues(self.limits.max_values));
        }
        Ok(())
    }

    fn head(&mut self) -> Result<Head> {
        self.count_value()?;
        let m = self.byte()?;
        Ok(match m {
            0x00..=0x7F => Head::Int(i64::from(m)),
            0xF0..=0xFF => Head::Int(i64::from(m as i8)),
            0x80..=0x8F => Head::String(usize::from(m & 0x0F)),
            0x90..=0x9F => Head::List(usize::from(m & 0x0F)),
            0xA0..=0xAF => Head::Map(usize::from(m & 0x0F)),
            0xB0..=0xBF => Head::Struct(self.byte()?, usize::from(m & 0x0F)),
            marker::NULL => Head::Null,
            marker::FLOAT_64 => Head::Float(f64::from_be_bytes(self.array()?)),
            marker::FALSE => Head::Bool(false),
            marker::TRUE => Head::Bool(true),
            marker::INT_8 => Head::Int(i64::from(i8::from_be_bytes(self.array()?))),
            marker::INT_16 => Head::Int(i64::from(i16::from_be_bytes(self.array()?))),
            marker::INT_32 => Head::Int(i64::from(i32::from_be_bytes(self.array()?))),
            marker::INT_64 => Head::Int(i64::from_be_bytes(self.array()?)),
            marker::BYTES_8 | marker::STRING_8 | marker::LIST_8 | marker::MAP_8 => {
                sized(m, usize::from(self.byte()?))
            }
            marker::BYTES_16 | marker::STRING_16 | marker::LIST_16 | marker::MAP_16 => {
                sized(m - 1, usize::from(u16::from_be_bytes(self.array()?)))
            }
            marker::BYTES_32 | marker::STRING_32 | marker::LIST_32 | marker::MAP_32 => {
                sized(m - 2, u32::from_be_bytes(self.array()?) as usize)
            }
            other => return Err(Error::UnknownMarker(other)),
        })
    }

    fn string(&mut self, len: usize) -> Result<&'a str> {
        std::str::from_utf8(self.take(len)?).map_err(|_| Error::InvalidUtf8)
    }

    /// Capacity to reserve for `n` items: never more than the input could still hold (each item
    /// takes at least one byte), so a forged length prefix cannot trigger a huge allocation.
    fn capacity(&self, n: usize) -> usize {
        n.min(self.remaining())
    }

    /// Decodes the next value.
    pub fn decode_value(&mut self) -> Result<Value> {
        self.value(0)
    }

    fn value(&mut self, depth: usize) -> Result<Value> {
        Ok(match self.head()? {
            Head::Null => Value::Null,
            Head::Bool(b) => Value::Bool(b),
            Head::Int(i) => Value::Int(i),
            Head::Float(f) => Value::Float(f),
            Head::Bytes(n) => Value::Bytes(self.take(n)?.to_vec()),
            Head::String(n) => Value::String(self.string(n)?.to_owned()),
            Head::List(n) => {
                let depth = self.deeper(depth)?;
                let mut items = Vec::with_capacity(self.capacity(n));
                for _ in 0..n {
                    items.push(self.value(depth)?);
                }
                Value::List(items)
            }
            Head::Map(n) => Value::Map(self.map_body(n, depth)?),
            Head::Struct(tag, n) => {
                let depth = self.deeper(depth)?;
                let mut fields = Vec::with_capacity(n);
                for _ in 0..n {
                    fields.push(self.value(depth)?);
                }
                Value::Struct { tag, fields }
            }
        })
    }

    fn deeper(&self, depth: usize) -> Result<usize> {
        if depth >= self.limits.max_depth {
            return Err(Error::TooDeep(self.limits.max_depth));
        }
        Ok(depth + 1)
    }

    fn map_body(&mut self, n: usize, depth: usize) -> Result<Map> {
        let depth = self.deeper(depth)?;
        // Each entry takes at least two bytes (a key and a value).
        let mut map = Map::with_capacity(n.min(self.remaining() / 2));
        for _ in 0..n {
            let key = self.key()?;
            let value = self.value(depth)?;
            map.0.push((key.to_owned(), value));
        }
        Ok(map)
    }

    fn key(&mut self) -> Result<&'a str> {
        match self.head()? {
            Head::String(n) => self.string(n),
            _ => Err(Error::NonStringKey),
        }
    }

    /// Decodes the next value, which must be a map.
    pub fn decode_map(&mut self) -> Result<Map> {
        match self.head()? {
            Head::Map(n) => self.map_body(n, 0),
            _ => Err(Error::BadStructure {
                tag: 0,
                reason: "expected a map",
            }),
        }
    }

    /// Reads the next value, which must be a string, borrowing it from the input.
    pub fn decode_str(&mut self) -> Result<&'a str> {
        match self.head()? {
            Head::String(n) => self.string(n),
            _ => Err(Error::BadStructure {
                tag: 0,
                reason: "expected a string",
            }),
        }
    }

    /// Skips the next value (with the same checks as decoding it) and returns its encoded
    /// bytes, borrowed from the input.
    pub fn raw_value(&mut self) -> Result<&'a [u8]> {
        let start = self.pos;
        self.skip_value(&mut |_| {})?;
        Ok(&self.input[start..self.pos])
    }

    /// Reads a structure header, returning `(tag, field count)`.
    pub fn decode_struct_header(&mut self) -> Result<(u8, usize)> {
        match self.head()? {
            Head::Struct(tag, n) => Ok((tag, n)),
            _ => Err(Error::NotAMessage),
        }
    }

    /// Walks over the next value without building it, calling `on_struct` with the tag of
    /// every structure inside (outer first). Same limits as decoding.
    pub fn skip_value(&mut self, on_struct: &mut impl FnMut(u8)) -> Result<()> {
        self.skip(0, on_struct)
    }

    fn skip(&mut self, depth: usize, on_struct: &mut impl FnMut(u8)) -> Result<()> {
        match self.head()? {
            Head::Null | Head::Bool(_) | Head::Int(_) | Head::Float(_) => {}
            Head::Bytes(n) => {
                self.take(n)?;
            }
            Head::String(n) => {
                self.string(n)?;
            }
            Head::List(n) => {
                let depth = self.deeper(depth)?;
                for _ in 0..n {
                    self.skip(depth, on_struct)?;
                }
            }
            Head::Map(n) => {
                let depth = self.deeper(depth)?;
                for _ in 0..n {
                    self.key()?;
                    self.skip(depth, on_struct)?;
                }
            }
            Head::Struct(tag, n) => {
                on_struct(tag);
                let depth = self.deeper(depth)?;
                for _ in 0..n {
                    self.skip(depth, on_struct)?;
                }
            }
        }
        Ok(())
    }
}

impl<'a> Decoder<'a> {
    /// Reads the next value, which must be a map, without building it: the same checks as
    /// [`Decoder::decode_map`] (limits, UTF-8, string keys), then a view that finds entries in
    /// the input itself. For a proxy that reads a few keys of every message and forwards the
    /// bytes, this saves an allocation per key, value and map.
    pub fn map_view(&mut self) -> Result<MapView<'a>> {
        let len = match self.head()? {
            Head::Map(n) => n,
            _ => {
                return Err(Error::BadStructure {
                    tag: 0,
                    reason: "expected a map",
                });
            }
        };
        let depth = self.deeper(0)?;
        let start = self.pos;
        for _ in 0..len {
            self.key()?;
            self.skip(depth, &mut |_| {})?;
        }
        Ok(MapView {
            entries: &self.input[start..self.pos],
            len,
            limits: self.limits,
        })
    }
}

/// A PackStream map read in place (see [`Decoder::map_view`], which checked it whole): lookups
/// walk the encoded entries, nothing is copied. With duplicate keys the last one wins, as in
/// [`Map::get`]. The default is the empty map; views are equal when their encodings are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MapView<'a> {
    /// The encoded entries: `len` times a key followed by its value.
    entries: &'a [u8],
    len: usize,
    limits: Limits,
}

impl<'a> MapView<'a> {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the map has no entries.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The entries in wire order, each key with its value's encoded bytes.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> + use<'a> {
        let mut d = Decoder::with_limits(self.entries, self.limits);
        let mut left = self.len;
        std::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            left -= 1;
            // Checked when the view was made: these cannot fail.
            Some((d.key().ok()?, d.raw_value().ok()?))
        })
    }

    /// The encoded value of `key`.
    pub fn get(&self, key: &str) -> Option<&'a [u8]> {
        self.iter()
            .filter(|(k, _)| *k == key)
            .last()
            .map(|(_, v)| v)
    }

    /// The value of `key` if it is a string.
    pub fn get_str(&self, key: &str) -> Option<&'a str> {
        Decoder::new(self.get(key)?).decode_str().ok()
    }

    /// The value of `key` if it is an integer.
    pub fn get_int(&self, key: &str) -> Option<i64> {
        raw_int(self.get(key)?)
    }

    /// The value of `key` if it is a boolean.
    pub fn get_bool(&self, key: &str) -> Option<bool> {
        match Decoder::new(self.get(key)?).head().ok()? {
            Head::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The value of `key` if it is a map.
    pub fn get_map(&self, key: &str) -> Option<MapView<'a>> {
        Decoder::with_limits(self.get(key)?, self.limits)
            .map_view()
            .ok()
    }

    /// The map, decoded.
    pub fn to_map(&self) -> Result<Map> {
        let mut d = Decoder::with_limits(self.entries, self.limits);
        let map = d.map_body(self.len, 0)?;
        d.finish()?;
        Ok(map)
    }
}

/// The integer an encoded value holds, if it is one.
pub fn raw_int(encoded: &[u8]) -> Option<i64> {
    match Decoder::new(encoded).head().ok()? {
        Head::Int(i) => Some(i),
        _ => None,
    }
}

/// Decodes one value that must span the whole input.
pub fn decode(input: &[u8]) -> Result<Value> {
    decode_with(input, Limits::default())
}

/// Decodes one value that must span the whole input, with the given limits.
pub fn decode_with(input: &[u8], limits: Limits) -> Result<Value> {
    let mut d = Decoder::with_limits(input, limits);
    let v = d.decode_value()?;
    d.finish()?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: &Value) -> Vec<u8> {
        to_vec(v).unwrap()
    }

    #[test]
    fn smallest_int_markers() {
        let cases: &[(i64, &[u8])] = &[
            (0, &[0x00]),
            (127, &[0x7F]),
            (-1, &[0xFF]),
            (-16, &[0xF0]),
            (-17, &[0xC8, 0xEF]),
            (-128, &[0xC8, 0x80]),
            (128, &[0xC9, 0x00, 0x80]),
            (-129, &[0xC9, 0xFF, 0x7F]),
            (32_768, &[0xCA, 0x00, 0x00, 0x80, 0x00]),
            (2_147_483_648, &[0xCB, 0, 0, 0, 0, 0x80, 0x00, 0x00, 0x00]),
        ];
        for (i, bytes) in cases {
            assert_eq!(enc(&Value::Int(*i)), *bytes, "{i}");
            assert_eq!(decode(bytes).unwrap(), Value::Int(*i));
        }
    }

    #[test]
    fn strings_and_collections_pick_tiny_then_sized() {
        assert_eq!(enc(&Value::from("")), [0x80]);
        assert_eq!(enc(&Value::from("a")), [0x81, b'a']);
        let s16 = "x".repeat(16);
        assert_eq!(enc(&Value::from(s16.as_str()))[..2], [0xD0, 16]);
        let s256 = "x".repeat(256);
        assert_eq!(enc(&Value::from(s256.as_str()))[..3], [0xD1, 1, 0]);
        assert_eq!(enc(&Value::List(vec![])), [0x90]);
        assert_eq!(enc(&Value::Map(Map::new())), [0xA0]);
        assert_eq!(enc(&Value::Bytes(vec![])), [0xCC, 0]);
        assert_eq!(
            enc(&Value::Struct {
                tag: 0x44,
                fields: vec![Value::Int(1)]
            }),
            [0xB1, 0x44, 0x01]
        );
    }

    #[test]
    fn non_minimal_encodings_decode() {
        assert_eq!(decode(&[0xC9, 0x00, 0x01]).unwrap(), Value::Int(1));
        assert_eq!(decode(&[0xD0, 0x01, b'z']).unwrap(), Value::from("z"));
    }

    #[test]
    fn hostile_inputs_are_errors() {
        // A list that claims 4 billion items must not allocate for them.
        assert!(matches!(
            decode(&[0xD6, 0xFF, 0xFF, 0xFF, 0xFF]),
            Err(Error::UnexpectedEnd)
        ));
        assert!(matches!(decode(&[0xE0]), Err(Error::UnknownMarker(0xE0))));
        assert!(matches!(decode(&[0x81, 0xFF]), Err(Error::InvalidUtf8)));
        assert!(matches!(
            decode(&[0xA1, 0x01, 0x01]),
            Err(Error::NonStringKey)
        ));
        assert!(matches!(
            decode(&[0x01, 0x02]),
            Err(Error::TrailingBytes(1))
        ));
        let deep = vec![0x91; 10_000];
        assert!(matches!(decode(&deep), Err(Error::TooDeep(64))));
        let many = {
            let mut v = vec![0xD6, 0x00, 0x10, 0x00, 0x00];
            v.extend(std::iter::repeat_n(0xC0, 0x10_0000));
            v
        };
        let limits = Limits {
            max_values: 1000,
            ..Limits::default()
        };
        assert!(matches!(
            decode_with(&many, limits),
            Err(Error::TooManyValues(1000))
        ));
    }

    #[test]
    fn struct_with_too_many_fields_does_not_encode() {
        let v = Value::Struct {
            tag: 1,
            fields: vec![Value::Null; 16],
        };
        assert!(to_vec(&v).is_err());
    }

    #[test]
    fn skip_reports_struct_tags() {
        let v = Value::List(vec![
            Value::Struct {
                tag: b'N',
                fields: vec![],
            },
            Value::Map(
                [(
                    "k",
                    Value::Struct {
                        tag: b'I',
                        fields: vec![],
                    },
                )]
                .into_iter()
                .collect(),
            ),
        ]);
        let bytes = enc(&v);
        let mut tags = vec![];
        let mut d = Decoder::new(&bytes);
        d.skip_value(&mut |t| tags.push(t)).unwrap();
        d.finish().unwrap();
        assert_eq!(tags, [b'N', b'I']);
    }
}
