//! The demo target's catalogues (tools, servers, gateways, resources, prompts, tags, roots,
//! agents), seeded with stable ids. Each is a copy-on-write snapshot behind a `RwLock`: a read
//! holds the lock only to clone an `Arc`, a write builds the next snapshot (pointer copies)
//! and swaps it in. Serialized list bodies are cached per snapshot, so a hot `GET /tools` or
//! `tools/list` costs one `Bytes` clone.

use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use bytes::Bytes;
use serde_json::{json, Map, Value};

/// One catalogue entry: its JSON as served, with `id` and `name` kept beside it for lookups.
pub(crate) struct Item {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) json: Value,
}

impl Item {
    /// `fields` plus `id` and `name`.
    pub(crate) fn new(id: String, name: String, mut fields: Map<String, Value>) -> Item {
        fields.insert("id".into(), Value::String(id.clone()));
        fields.insert("name".into(), Value::String(name.clone()));
        Item {
            id,
            name,
            json: Value::Object(fields),
        }
    }

    /// A string field of the JSON ("" when absent).
    pub(crate) fn str_field(&self, key: &str) -> &str {
        self.json.get(key).and_then(Value::as_str).unwrap_or("")
    }
}

/// One version of a catalogue. Never changes once published.
#[derive(Default)]
pub(crate) struct Snapshot {
    pub(crate) items: Vec<Arc<Item>>,
    list_body: OnceLock<Bytes>,
    rpc_body: OnceLock<Bytes>,
}

impl Snapshot {
    fn new(items: Vec<Arc<Item>>) -> Snapshot {
        Snapshot {
            items,
            ..Snapshot::default()
        }
    }

    pub(crate) fn get(&self, id: &str) -> Option<&Arc<Item>> {
        self.items.iter().find(|i| i.id == id)
    }

    pub(crate) fn by_name(&self, name: &str) -> Option<&Arc<Item>> {
        self.items.iter().find(|i| i.name == name)
    }

    /// The JSON array of every item, serialized once per snapshot.
    pub(crate) fn list_body(&self) -> Bytes {
        self.list_body
            .get_or_init(|| {
                let mut body = String::from("[");
                for (n, item) in self.items.iter().enumerate() {
                    if n > 0 {
                        body.push(',');
                    }
                    body.push_str(&item.json.to_string());
                }
                body.push(']');
                Bytes::from(body)
            })
            .clone()
    }

    /// The catalogue as a JSON-RPC `*/list` result, built by `build` once per snapshot.
    pub(crate) fn rpc_body(&self, build: impl FnOnce(&[Arc<Item>]) -> Value) -> Bytes {
        self.rpc_body
            .get_or_init(|| Bytes::from(build(&self.items).to_string()))
            .clone()
    }
}

/// Why a write was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum WriteError {
    NameTaken,
}

/// A catalogue: the current snapshot, swapped whole on every write.
pub(crate) struct Store {
    current: RwLock<Arc<Snapshot>>,
}

impl Store {
    fn new(items: Vec<Item>) -> Store {
        Store {
            current: RwLock::new(Arc::new(Snapshot::new(
                items.into_iter().map(Arc::new).collect(),
            ))),
        }
    }

    /// The current version; the lock is held only for the `Arc` clone (a panic cannot happen
    /// under it, so a poisoned lock still holds a consistent snapshot).
    pub(crate) fn snapshot(&self) -> Arc<Snapshot> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Publishes `change(items)` as the next snapshot; `change` returns what the caller gets.
    fn write<T>(&self, change: impl FnOnce(&mut Vec<Arc<Item>>) -> T) -> T {
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        let mut items = current.items.clone();
        let out = change(&mut items);
        *current = Arc::new(Snapshot::new(items));
        out
    }

    pub(crate) fn insert(&self, item: Item) -> Result<Arc<Item>, WriteError> {
        self.write(|items| {
            if items.iter().any(|i| i.name == item.name) {
                return Err(WriteError::NameTaken);
            }
            let item = Arc::new(item);
            items.push(item.clone());
            Ok(item)
        })
    }

    /// True if an item with `id` was there.
    pub(crate) fn remove(&self, id: &str) -> bool {
        self.write(|items| {
            let before = items.len();
            items.retain(|i| i.id != id);
            items.len() < before
        })
    }

    /// Sets `enabled` on the item; None if there is no such item.
    pub(crate) fn set_enabled(&self, id: &str, enabled: bool) -> Option<Arc<Item>> {
        if self.snapshot().get(id)?.json.get("enabled") == Some(&Value::Bool(enabled)) {
            return self.snapshot().get(id).cloned();
        }
        self.write(|items| {
            let slot = items.iter_mut().find(|i| i.id == id)?;
            let mut json = slot.json.clone();
            if let Some(fields) = json.as_object_mut() {
                fields.insert("enabled".into(), Value::Bool(enabled));
            }
            *slot = Arc::new(Item {
                id: slot.id.clone(),
                name: slot.name.clone(),
                json,
            });
            Some(slot.clone())
        })
    }
}

/// Which catalogue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Tool,
    Server,
    Gateway,
    Resource,
    Prompt,
    Tag,
    Root,
    Agent,
}

impl Kind {
    /// The singular noun: error messages and the wrapper key of create bodies (`{"tool": ..}`).
    pub(crate) fn noun(self) -> &'static str {
        match self {
            Kind::Tool => "tool",
            Kind::Server => "server",
            Kind::Gateway => "gateway",
            Kind::Resource => "resource",
            Kind::Prompt => "prompt",
            Kind::Tag => "tag",
            Kind::Root => "root",
            Kind::Agent => "agent",
        }
    }
}

/// Every catalogue of one target.
pub(crate) struct Catalog {
    tools: Store,
    servers: Store,
    gateways: Store,
    resources: Store,
    prompts: Store,
    tags: Store,
    roots: Store,
    agents: Store,
}

impl Catalog {
    pub(crate) fn seeded(seed_tools: usize) -> Catalog {
        let tools: Vec<Item> = (1..=seed_tools)
            .map(|i| {
                tool(
                    stable_id(0x7001, i),
                    format!("demo-tool-{i}"),
                    format!("Demo tool number {i}"),
                )
            })
            .collect();
        let first_tools: Vec<Value> = tools.iter().take(3).map(|t| json!(t.id)).collect();
        Catalog {
            servers: Store::new(seed_servers(&first_tools)),
            tools: Store::new(tools),
            gateways: Store::new(seed_gateways()),
            resources: Store::new(seed_resources()),
            prompts: Store::new(seed_prompts()),
            tags: Store::new(seed_tags()),
            roots: Store::new(vec![
                item(
                    stable_id(0x2001, 1),
                    "workspace".into(),
                    json!({"uri": "file:///srv/demo"}),
                ),
                item(
                    stable_id(0x2001, 2),
                    "data".into(),
                    json!({"uri": "file:///srv/data"}),
                ),
            ]),
            agents: Store::new(seed_agents()),
        }
    }

    pub(crate) fn store(&self, kind: Kind) -> &Store {
        match kind {
            Kind::Tool => &self.tools,
            Kind::Server => &self.servers,
            Kind::Gateway => &self.gateways,
            Kind::Resource => &self.resources,
            Kind::Prompt => &self.prompts,
            Kind::Tag => &self.tags,
            Kind::Root => &self.roots,
            Kind::Agent => &self.agents,
        }
    }
}

fn seed_servers(first_tools: &[Value]) -> Vec<Item> {
    (1..=3)
        .map(|i| {
            item(
                stable_id(0x5e01, i),
                format!("demo-server-{i}"),
                json!({"description": format!("Demo virtual server {i}"),
                                   "associatedTools": first_tools, "enabled": true}),
            )
        })
        .collect()
}

fn seed_gateways() -> Vec<Item> {
    ["fast-time", "demo-gateway-2", "demo-gateway-3"]
        .iter()
        .enumerate()
        .map(|(i, name)| {
            item(
                stable_id(0x6a01, i + 1),
                name.to_string(),
                json!({"url": format!("http://127.0.0.1:9{i:03}/sse"),
                                   "transport": "SSE", "enabled": true, "reachable": true}),
            )
        })
        .collect()
}

fn seed_resources() -> Vec<Item> {
    [
        (
            "time://current/UTC",
            "current-time",
            "The current time in UTC",
        ),
        ("demo://readme", "readme", "About the demo target"),
        ("demo://config", "config", "The demo target's settings"),
    ]
    .iter()
    .enumerate()
    .map(|(i, (uri, name, description))| {
        item(
            stable_id(0x4e01, i + 1),
            name.to_string(),
            json!({"uri": uri, "description": description,
                               "mimeType": "text/plain", "enabled": true}),
        )
    })
    .collect()
}

fn seed_prompts() -> Vec<Item> {
    [
        ("greeting", "Hello, {{input}}!"),
        ("summarize", "Summarize this: {{input}}"),
        ("demo-prompt-3", "Demo prompt about {{input}}"),
    ]
    .iter()
    .enumerate()
    .map(|(i, (name, template))| prompt(stable_id(0x9001, i + 1), name, template))
    .collect()
}

fn seed_tags() -> Vec<Item> {
    ["demo", "time", "readonly"]
                    .iter()
                    .enumerate()
                    .map(|(i, name)| {
                        item(
                            stable_id(0x7a01, i + 1),
                            name.to_string(),
                            json!({"stats": {"tools": 1, "resources": 0, "prompts": 0, "servers": 0, "total": 1}}),
                        )
                    })
                    .collect()
}

fn seed_agents() -> Vec<Item> {
    (1..=2)
        .map(|i| {
            item(
                stable_id(0xa2a0, i),
                format!("demo-agent-{i}"),
                json!({"endpoint_url": format!("http://127.0.0.1:9100/agents/{i}"),
                                   "agent_type": "generic", "enabled": true}),
            )
        })
        .collect()
}

/// A 32-hex-digit id (like the gateway's uuid hex), stable across runs: `kind` then `n`.
fn stable_id(kind: u32, n: usize) -> String {
    format!("{kind:04x}{n:028x}")
}

/// A fresh id for a created item.
pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn item(id: String, name: String, fields: Value) -> Item {
    let fields = match fields {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    Item::new(id, name, fields)
}

pub(crate) fn default_input_schema() -> Value {
    json!({"type": "object", "properties": {"input": {"type": "string"}}})
}

pub(crate) fn tool(id: String, name: String, description: String) -> Item {
    item(
        id,
        name,
        json!({
            "description": description,
            "integration_type": "MCP",
            "input_schema": default_input_schema(),
            "enabled": true,
        }),
    )
}

pub(crate) fn prompt(id: String, name: &str, template: &str) -> Item {
    item(
        id,
        name.to_string(),
        json!({
            "description": format!("Demo prompt {name}"),
            "template": template,
            "arguments": [{"name": "input", "description": "What to put in", "required": false}],
            "enabled": true,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_publish_a_new_snapshot_and_keep_old_readers_intact() {
        let store = Catalog::seeded(2).tools;
        let before = store.snapshot();
        let added = store
            .insert(tool(new_id(), "x".into(), "d".into()))
            .expect("new name");
        assert_eq!(
            store.insert(tool(new_id(), "x".into(), "d".into())).err(),
            Some(WriteError::NameTaken)
        );
        assert_eq!(before.items.len(), 2);
        assert_eq!(store.snapshot().items.len(), 3);
        let list: Value =
            serde_json::from_slice(&store.snapshot().list_body()).expect("list is JSON");
        assert_eq!(list[2]["name"], "x");
        assert_eq!(list[0]["id"], format!("7001{}1", "0".repeat(27)));
        let disabled = store.set_enabled(&added.id, false).expect("exists");
        assert_eq!(disabled.json["enabled"], false);
        assert!(store.remove(&added.id));
        assert!(!store.remove(&added.id));
        assert_eq!(store.snapshot().items.len(), 2);
    }
}
