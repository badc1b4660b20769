//! The JSON form of a Dublin Core description, as used by `moisson import dc` and `moisson export`:
//! `{"title": ["…"], "creator": ["…", {"value": "…", "lang": "fr"}]}`.
//!
//! Elements come out in canonical order and only when they have values, and a value without a
//! language is a bare string, so that export → import → export is byte-identical.

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{DcElement, DcRecord, DcValue};

#[derive(Serialize)]
#[serde(untagged)]
enum JsonValue {
    Plain(String),
    Tagged {
        value: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        lang: Option<String>,
    },
}

/// `"…"`, `{"value": "…", "lang": "…"}`, or a list of those, read without buffering (serde's
/// untagged enums buffer every value, which made import twice as slow).
struct OneOrMany(Vec<DcValue>);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TaggedValue {
    value: String,
    #[serde(default)]
    lang: Option<String>,
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = DcValue;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or {\"value\": …, \"lang\": …}")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<DcValue, E> {
        Ok(DcValue::new(v))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<DcValue, E> {
        Ok(DcValue::new(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<DcValue, A::Error> {
        let t = TaggedValue::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(DcValue {
            value: t.value,
            lang: t.lang,
        })
    }
}

struct OneValue(DcValue);

impl<'de> Deserialize<'de> for OneValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor).map(OneValue)
    }
}

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ListVisitor;
        impl<'de> Visitor<'de> for ListVisitor {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a value or a list of values")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany(vec![DcValue::new(v)]))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<OneOrMany, E> {
                Ok(OneOrMany(vec![DcValue::new(v)]))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<OneOrMany, A::Error> {
                ValueVisitor.visit_map(map).map(|v| OneOrMany(vec![v]))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany, A::Error> {
                let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(1));
                while let Some(OneValue(v)) = seq.next_element()? {
                    values.push(v);
                }
                Ok(OneOrMany(values))
            }
        }
        d.deserialize_any(ListVisitor)
    }
}

struct Values<'a>(&'a [DcValue]);

impl Serialize for Values<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|v| match &v.lang {
            None => JsonValue::Plain(v.value.clone()),
            Some(lang) => JsonValue::Tagged {
                value: v.value.clone(),
                lang: Some(lang.clone()),
            },
        }))
    }
}

impl Serialize for DcRecord {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let present = DcElement::ALL.iter().filter(|e| !self.get(**e).is_empty());
        let mut map = s.serialize_map(Some(present.clone().count()))?;
        for e in present {
            map.serialize_entry(e.name(), &Values(self.get(*e)))?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for DcRecord {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct DcVisitor;
        impl<'de> Visitor<'de> for DcVisitor {
            type Value = DcRecord;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object mapping Dublin Core element names to values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<DcRecord, A::Error> {
                let mut dc = DcRecord::new();
                while let Some(key) = map.next_key::<String>()? {
                    let element = DcElement::from_name(&key).ok_or_else(|| {
                        de::Error::custom(format!(
                            "unknown Dublin Core element \"{key}\" (expected one of the 15 DCMES 1.1 names)"
                        ))
                    })?;
                    for v in map.next_value::<OneOrMany>()?.0 {
                        dc.push(element, v);
                    }
                }
                Ok(dc)
            }
        }
        d.deserialize_map(DcVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_form_round_trips_byte_for_byte() {
        let json = r#"{"title":["T"],"creator":["A",{"value":"B","lang":"fr"}],"rights":["r"]}"#;
        let dc: DcRecord = serde_json::from_str(json).unwrap();
        assert_eq!(dc.get(DcElement::Creator)[1], DcValue::with_lang("B", "fr"));
        assert_eq!(serde_json::to_string(&dc).unwrap(), json);
    }

    #[test]
    fn a_single_value_need_not_be_in_a_list_and_unknown_elements_are_refused() {
        let dc: DcRecord = serde_json::from_str(r#"{"title":"T"}"#).unwrap();
        assert_eq!(dc.get(DcElement::Title), [DcValue::new("T")]);
        let err = serde_json::from_str::<DcRecord>(r#"{"titel":["T"]}"#).unwrap_err();
        assert!(
            err.to_string()
                .contains("unknown Dublin Core element \"titel\""),
            "{err}"
        );
    }
}
