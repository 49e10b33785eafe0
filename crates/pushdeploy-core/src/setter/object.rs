//! Which Kubernetes object (YAML document) each line of a file belongs to, as Flux's
//! template data names it: `apiVersion`, `kind`, `metadata.name`, `metadata.namespace`.
//! Pure; a file that does not parse yields what was read before the error, never a panic.

use saphyr_parser::{Event, Parser};

/// The identifying fields of an object; a `kustomization.yaml` may have no name.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct ObjectId {
    #[serde(rename = "APIVersion")]
    pub api_version: String,
    #[serde(rename = "Kind")]
    pub kind: String,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Namespace")]
    pub namespace: String,
}

struct Frame {
    mapping: bool,
    seen: usize,
    key: Option<String>,
    metadata: bool,
}

/// Each document's first line (1-based) and object, in file order.
pub(crate) fn documents(text: &str) -> Vec<(usize, ObjectId)> {
    let mut parser = Parser::new_from_str(text);
    let mut documents: Vec<(usize, ObjectId)> = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    while let Some(Ok((event, span))) = parser.next_event() {
        match event {
            Event::DocumentStart(..) => {
                documents.push((span.start.line(), ObjectId::default()));
                stack.clear();
            }
            Event::Scalar(value, ..) => {
                let depth = stack.len();
                if let (Some(top), Some((_, object))) = (stack.last_mut(), documents.last_mut()) {
                    if top.mapping && top.seen % 2 == 0 {
                        top.key = Some(value.to_string());
                    } else if top.mapping {
                        let slot = match (depth, top.metadata, top.key.as_deref()) {
                            (1, false, Some("apiVersion")) => Some(&mut object.api_version),
                            (1, false, Some("kind")) => Some(&mut object.kind),
                            (2, true, Some("name")) => Some(&mut object.name),
                            (2, true, Some("namespace")) => Some(&mut object.namespace),
                            _ => None,
                        };
                        if let Some(slot) = slot {
                            *slot = value.to_string();
                        }
                    }
                    top.seen += 1;
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let mapping = matches!(event, Event::MappingStart(..));
                let depth = stack.len();
                let metadata = stack.last().is_some_and(|top| {
                    depth == 1 && top.mapping && top.seen % 2 == 1 && top.key.as_deref() == Some("metadata")
                }) && mapping;
                if let Some(top) = stack.last_mut() {
                    top.seen += 1;
                }
                stack.push(Frame {
                    mapping,
                    seen: 0,
                    key: None,
                    metadata,
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
            }
            Event::Alias(_) => {
                if let Some(top) = stack.last_mut() {
                    top.seen += 1;
                }
            }
            _ => {}
        }
    }
    documents
}

/// The object of the document that holds `line`.
pub(crate) fn object_at(documents: &[(usize, ObjectId)], line: usize) -> ObjectId {
    documents
        .iter()
        .rev()
        .find(|(first, _)| *first <= line)
        .or(documents.first())
        .map(|(_, object)| object.clone())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_line_belongs_to_the_object_of_its_document() {
        let text = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: apps
  labels: {name: nope}
spec:
  template:
    metadata:
      name: inner
---
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
images:
  - name: app
";
        let documents = documents(text);
        let web = ObjectId {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            name: "web".into(),
            namespace: "apps".into(),
        };
        assert_eq!(object_at(&documents, 9), web);
        let kustomization = object_at(&documents, 15);
        assert_eq!(
            (kustomization.kind.as_str(), kustomization.name.as_str()),
            ("Kustomization", "")
        );
    }
}
