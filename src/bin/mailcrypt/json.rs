//! `Json` values of the store commands' `--json` output, rendered by
//! `serde_json` (the CLI's one JSON serializer; key order kept by its
//! `preserve_order` feature). The other commands build `serde_json`
//! values directly; this adapter goes once store_cmd.rs does the same.

use serde_json::{Map, Value};

pub enum Json {
    Null,
    Num(u64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(&'static str, Json)>),
}

impl Json {
    pub fn str(s: impl Into<String>) -> Json {
        Json::Str(s.into())
    }

    pub fn render(&self) -> String {
        self.to_value().to_string()
    }

    fn to_value(&self) -> Value {
        match self {
            Json::Null => Value::Null,
            Json::Num(n) => Value::from(*n),
            Json::Str(s) => Value::from(s.as_str()),
            Json::Arr(v) => Value::Array(v.iter().map(Json::to_value).collect()),
            Json::Obj(v) => Value::Object(
                v.iter()
                    .map(|(k, x)| ((*k).to_owned(), x.to_value()))
                    .collect::<Map<String, Value>>(),
            ),
        }
    }
}
