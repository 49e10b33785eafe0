// Command oracle renders a commit message template the way Flux's image-automation-controller
// does (Go's text/template, sprig's hermetic text functions, Flux's TemplateData), for
// pushdeploy's tests to compare with byte for byte.
//
// Usage: oracle TEMPLATE_FILE DATA_JSON_FILE
// Prints the message and exits 0; prints "parse: ERROR" and exits 1 when Go refuses to parse
// the template; prints "exec: ERROR" and exits 2 when executing it fails.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"oracle/source"
	"oracle/types"
	"oracle/update"
	"oracle/yaml"
)

type fileChange struct {
	File     string
	Object   yaml.ResourceIdentifier
	OldValue string
	NewValue string
	Setter   string
}

type input struct {
	Namespace string
	Name      string
	Changes   []fileChange
	Values    map[string]string
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: oracle TEMPLATE_FILE DATA_JSON_FILE")
		os.Exit(64)
	}
	text, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(64)
	}
	raw, err := os.ReadFile(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(64)
	}
	var in input
	if err := json.Unmarshal(raw, &in); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(64)
	}
	data := source.TemplateData{
		AutomationObject: types.NamespacedName{Namespace: in.Namespace, Name: in.Name},
		Values:           in.Values,
	}
	for _, change := range in.Changes {
		data.Changed.AddChange(change.File, update.ObjectIdentifier{ResourceIdentifier: change.Object},
			update.Change{OldValue: change.OldValue, NewValue: change.NewValue, Setter: change.Setter})
	}
	message, err := source.TemplateMsg(string(text), &data)
	var parseError source.ParseError
	switch {
	case errors.As(err, &parseError):
		fmt.Print("parse: ", err)
		os.Exit(1)
	case err != nil:
		fmt.Print("exec: ", err)
		os.Exit(2)
	}
	fmt.Print(message)
}
