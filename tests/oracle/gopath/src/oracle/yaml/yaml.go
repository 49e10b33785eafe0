// Package yaml mirrors the identifying types of sigs.k8s.io/kustomize/kyaml/yaml that Flux's
// update.ObjectIdentifier embeds (their methods have pointer receivers and never apply to
// the map keys a template sees).
package yaml

// TypeMeta is an object's apiVersion and kind.
type TypeMeta struct {
	APIVersion string `json:"APIVersion"`
	Kind       string `json:"Kind"`
}

// NameMeta is an object's metadata.name and metadata.namespace.
type NameMeta struct {
	Name      string `json:"Name"`
	Namespace string `json:"Namespace"`
}

// ResourceIdentifier identifies a resource.
type ResourceIdentifier struct {
	TypeMeta
	NameMeta
}
