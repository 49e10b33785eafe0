// Package update mirrors image-automation-controller's internal/update Result types, with one
// deliberate difference: Changes and Objects walk FileChanges in sorted key order, where Flux
// walks Go maps in Go's randomised order (so the oracle is repeatable; the sorted walk is one
// of the orders Flux can produce).
package update

import (
	"sort"

	"oracle/yaml"
)

// ObjectIdentifier holds the identifying data for a particular object.
type ObjectIdentifier struct {
	yaml.ResourceIdentifier
}

// Result contains the file changes made during the update.
type Result struct {
	FileChanges map[string]ObjectChanges
}

// ObjectChanges contains all the changes made to objects.
type ObjectChanges map[ObjectIdentifier][]Change

// Change contains the setter that resulted in a Change, the old and the new value.
type Change struct {
	OldValue string
	NewValue string
	Setter   string
}

// AddChange adds changes to Result for a given file and object, as Flux's does.
func (r *Result) AddChange(file string, objectID ObjectIdentifier, changes ...Change) {
	if r.FileChanges == nil {
		r.FileChanges = map[string]ObjectChanges{}
	}
	if _, ok := r.FileChanges[file]; !ok {
		r.FileChanges[file] = ObjectChanges{}
	}
	r.FileChanges[file][objectID] = append(r.FileChanges[file][objectID], changes...)
}

func sortedFiles(r Result) []string {
	files := make([]string, 0, len(r.FileChanges))
	for file := range r.FileChanges {
		files = append(files, file)
	}
	sort.Strings(files)
	return files
}

func sortedObjects(changes ObjectChanges) []ObjectIdentifier {
	objects := make([]ObjectIdentifier, 0, len(changes))
	for object := range changes {
		objects = append(objects, object)
	}
	less := func(a, b ObjectIdentifier) bool {
		x := []string{a.APIVersion, a.Kind, a.Name, a.Namespace}
		y := []string{b.APIVersion, b.Kind, b.Name, b.Namespace}
		for i := range x {
			if x[i] != y[i] {
				return x[i] < y[i]
			}
		}
		return false
	}
	sort.Slice(objects, func(i, j int) bool { return less(objects[i], objects[j]) })
	return objects
}

// Changes returns all the changes that were made in at least one update, deduplicated.
func (r Result) Changes() []Change {
	seen := make(map[Change]struct{})
	var result []Change
	for _, file := range sortedFiles(r) {
		objChanges := r.FileChanges[file]
		for _, object := range sortedObjects(objChanges) {
			for _, change := range objChanges[object] {
				if _, ok := seen[change]; !ok {
					seen[change] = struct{}{}
					result = append(result, change)
				}
			}
		}
	}
	return result
}

// Objects returns ObjectChanges, regardless of which file they appear in.
func (r Result) Objects() ObjectChanges {
	result := make(ObjectChanges)
	for _, file := range sortedFiles(r) {
		objChanges := r.FileChanges[file]
		for _, object := range sortedObjects(objChanges) {
			result[object] = append(result[object], objChanges[object]...)
		}
	}
	return result
}
