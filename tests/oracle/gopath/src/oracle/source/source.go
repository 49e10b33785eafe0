// Package source mirrors the commit message part of image-automation-controller's
// internal/source: TemplateData, the default template, the template's name and functions,
// and the explanation for removed fields.
package source

import (
	"fmt"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"

	"oracle/types"
	"oracle/update"
)

const defaultMessageTemplate = `Update from image update automation`

// TemplateData is the type of the value given to the commit message template.
type TemplateData struct {
	AutomationObject types.NamespacedName
	Changed          update.Result
	Values           map[string]string
}

// ParseError is a template Go refuses to parse.
type ParseError struct{ Err error }

func (e ParseError) Error() string {
	return fmt.Sprintf("unable to create commit message template from spec: %v", e.Err)
}

// TemplateMsg renders a message template as Flux's templateMsg does.
func TemplateMsg(messageTemplate string, templateValues *TemplateData) (string, error) {
	if messageTemplate == "" {
		messageTemplate = defaultMessageTemplate
	}
	t, err := template.New("commit message").Funcs(sprig.HermeticTxtFuncMap()).Parse(messageTemplate)
	if err != nil {
		return "", ParseError{err}
	}
	b := &strings.Builder{}
	if err := t.Execute(b, *templateValues); err != nil {
		for _, check := range []struct{ field, pattern, explanation string }{
			{".Updated", "can't evaluate field Updated in type source.TemplateData", "template uses removed '.Updated' field. Please use '.Changed' instead. See: https://fluxcd.io/flux/components/image/imageupdateautomations/#message-template"},
			{".Changed.ImageResult", "can't evaluate field ImageResult in type update.Result", "template uses removed '.Changed.ImageResult' field. Please use '.Changed.FileChanges' or '.Changed.Objects' instead. See: https://fluxcd.io/flux/components/image/imageupdateautomations/#message-template"},
		} {
			if strings.Contains(err.Error(), check.pattern) {
				return "", fmt.Errorf("%s", check.explanation)
			}
		}
		return "", fmt.Errorf("failed to run template from spec: %w", err)
	}
	return b.String(), nil
}
