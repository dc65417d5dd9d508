package schemas

import (
	"embed"
	"encoding/json"
	"fmt"
	"sort"
)

//go:embed *.avsc
var files embed.FS

// Contract names one data contract: its topic and its schema file.
type Contract struct {
	Topic string // Kafka topic, also the TopicNameStrategy subject prefix
	File  string // embedded .avsc file
}

// The streams of trialflow.
var (
	PatientFacts     = Contract{Topic: "patient_facts", File: "patient_facts.avsc"}
	Trials           = Contract{Topic: "trials", File: "trial.avsc"}
	Regulatory       = Contract{Topic: "regulatory", File: "regulatory.avsc"}
	ApprovedPatients = Contract{Topic: "approved_patients", File: "approved_patient.avsc"}
	DeadLetters      = Contract{Topic: "dead_letter", File: "dead_letter.avsc"}
)

// All lists every contract, in a stable order.
func All() []Contract {
	return []Contract{PatientFacts, Trials, Regulatory, ApprovedPatients, DeadLetters}
}

// Schema returns the contract's Avro schema JSON.
func (c Contract) Schema() string {
	b, err := files.ReadFile(c.File)
	if err != nil {
		// The files are embedded at build time; a missing one is a programming error.
		panic(fmt.Sprintf("schemas: embedded %s missing: %v", c.File, err))
	}
	return string(b)
}

// ValueSubject is the TopicNameStrategy subject of the contract's values.
func (c Contract) ValueSubject() string { return c.Topic + "-value" }

// PHIFields returns the dotted paths of fields marked with the "phi" property
// in the schema JSON, sorted, with the property's value (true or a string such
// as "pseudonym"). Paths run through records, union branches, arrays and maps,
// e.g. "demographics.birth_date".
func PHIFields(schemaJSON string) (map[string]any, error) {
	var root any
	if err := json.Unmarshal([]byte(schemaJSON), &root); err != nil {
		return nil, fmt.Errorf("schemas: parse schema: %w", err)
	}
	out := map[string]any{}
	walkPHI(root, "", out, map[string]bool{})
	return out, nil
}

// PHIPaths is PHIFields without the property values, sorted.
func PHIPaths(schemaJSON string) ([]string, error) {
	m, err := PHIFields(schemaJSON)
	if err != nil {
		return nil, err
	}
	paths := make([]string, 0, len(m))
	for p := range m {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return paths, nil
}

func walkPHI(node any, prefix string, out map[string]any, seen map[string]bool) {
	switch n := node.(type) {
	case []any: // union
		for _, b := range n {
			walkPHI(b, prefix, out, seen)
		}
	case map[string]any:
		switch n["type"] {
		case "record", "error":
			if name, _ := n["name"].(string); name != "" {
				if seen[name] {
					return
				}
				seen[name] = true
			}
			fields, _ := n["fields"].([]any)
			for _, f := range fields {
				fm, ok := f.(map[string]any)
				if !ok {
					continue
				}
				name, _ := fm["name"].(string)
				path := name
				if prefix != "" {
					path = prefix + "." + name
				}
				if v, ok := fm["phi"]; ok && v != false {
					out[path] = v
				}
				walkPHI(fm["type"], path, out, seen)
			}
		case "array":
			walkPHI(n["items"], prefix, out, seen)
		case "map":
			walkPHI(n["values"], prefix, out, seen)
		default:
			if t, ok := n["type"].(map[string]any); ok {
				walkPHI(t, prefix, out, seen)
			} else if t, ok := n["type"].([]any); ok {
				walkPHI(t, prefix, out, seen)
			}
		}
	}
}
