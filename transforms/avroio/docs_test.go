package avroio_test

import (
	"go/doc"
	"go/parser"
	"go/token"
	"strings"
	"testing"
)

// Docs that point a reader at the registry client say where it lives: a
// bare *registry.Client left a first-time user searching (issue 20).
func TestDocsNameRegistryImportPath(t *testing.T) {
	for _, dir := range []string{".", "../deadletter"} {
		fset := token.NewFileSet()
		pkgs, err := parser.ParseDir(fset, dir, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for name, pkg := range pkgs {
			if strings.HasSuffix(name, "_test") {
				continue
			}
			d := doc.New(pkg, "x", doc.AllDecls)
			texts := map[string]string{"package " + name: d.Doc}
			for _, ty := range d.Types {
				texts[name+"."+ty.Name] = ty.Doc
				for _, f := range ty.Funcs {
					texts[name+"."+f.Name] = f.Doc
				}
			}
			for _, f := range d.Funcs {
				texts[name+"."+f.Name] = f.Doc
			}
			for what, text := range texts {
				if strings.Contains(text, "registry.Client") && !strings.Contains(text, "github.com/trialflow/trialflow/schemas/registry") {
					t.Errorf("%s: doc names registry.Client without its import path:\n%s", what, text)
				}
			}
		}
	}
}
