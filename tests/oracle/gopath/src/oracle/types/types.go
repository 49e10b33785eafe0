// Package types mirrors k8s.io/apimachinery/pkg/types.NamespacedName, which Flux's
// TemplateData carries as AutomationObject.
package types

// NamespacedName is a namespace and a name; it prints as "namespace/name".
type NamespacedName struct {
	Namespace string
	Name      string
}

// String is apimachinery's: namespace, '/', name.
func (n NamespacedName) String() string {
	return n.Namespace + "/" + n.Name
}
