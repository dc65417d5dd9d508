package fhir

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Sentinel errors; match them with errors.Is.
var (
	// ErrMalformed: the bytes are not JSON, or a field the ingest reads has
	// the wrong JSON type. The message names the JSON path.
	ErrMalformed = errors.New("malformed JSON")
	// ErrNotBundle: valid JSON, but not a FHIR Bundle.
	ErrNotBundle = errors.New("not a FHIR Bundle")
	// ErrMissingPatient: the bundle has no Patient resource with an id or
	// identifier.
	ErrMissingPatient = errors.New("bundle has no patient")
	// ErrManyPatients: the bundle holds more than one distinct patient.
	ErrManyPatients = errors.New("bundle has more than one patient")
)

// The narrow model: only the elements the ingest turns into facts. Names,
// telecoms, free text (text.div, code.text, notes) and every other element
// are skipped by the decoder and never held as strings. Address is decoded
// for its postal code only.

type bundle struct {
	ResourceType string  `json:"resourceType"`
	Timestamp    string  `json:"timestamp"`
	Meta         meta    `json:"meta"`
	Entry        []entry `json:"entry"`
}

type entry struct {
	FullURL  string   `json:"fullUrl"`
	Resource resource `json:"resource"`
}

type meta struct {
	Profile     []string `json:"profile"`
	LastUpdated string   `json:"lastUpdated"`
}

type coding struct {
	System  string `json:"system"`
	Code    string `json:"code"`
	Display string `json:"display"`
}

type concept struct {
	Coding []coding `json:"coding"`
	// Text is only ever mapped to a fixed result vocabulary, never kept.
	Text string `json:"text"`
}

type reference struct {
	Reference string `json:"reference"`
}

type quantity struct {
	Value *float64 `json:"value"`
	Unit  string   `json:"unit"`
	Code  string   `json:"code"`
}

type identifier struct {
	Type   concept `json:"type"`
	System string  `json:"system"`
	Value  string  `json:"value"`
}

type address struct {
	Use        string `json:"use"`
	PostalCode string `json:"postalCode"`
}

type extension struct {
	URL                  string   `json:"url"`
	ValueCodeableConcept *concept `json:"valueCodeableConcept"`
	ValueDateTime        string   `json:"valueDateTime"`
}

type component struct {
	Code                 concept   `json:"code"`
	ValueCodeableConcept *concept  `json:"valueCodeableConcept"`
	ValueQuantity        *quantity `json:"valueQuantity"`
	ValueString          *string   `json:"valueString"`
	ValueInteger         *float64  `json:"valueInteger"`
}

type stage struct {
	Summary concept `json:"summary"`
}

type period struct {
	Start string `json:"start"`
}

// resource is the union of the Patient, Condition, Observation and
// DiagnosticReport elements the ingest reads.
type resource struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	Meta         meta   `json:"meta"`

	// Patient
	Identifier       []identifier `json:"identifier"`
	Gender           string       `json:"gender"`
	BirthDate        string       `json:"birthDate"`
	DeceasedBoolean  *bool        `json:"deceasedBoolean"`
	DeceasedDateTime string       `json:"deceasedDateTime"`
	Address          []address    `json:"address"`

	// Condition, Observation, DiagnosticReport
	Extension            []extension `json:"extension"`
	Code                 concept     `json:"code"`
	Subject              reference   `json:"subject"`
	Focus                []reference `json:"focus"`
	OnsetDateTime        string      `json:"onsetDateTime"`
	RecordedDate         string      `json:"recordedDate"`
	Stage                []stage     `json:"stage"`
	EffectiveDateTime    string      `json:"effectiveDateTime"`
	EffectivePeriod      period      `json:"effectivePeriod"`
	EffectiveInstant     string      `json:"effectiveInstant"`
	Issued               string      `json:"issued"`
	ValueCodeableConcept *concept    `json:"valueCodeableConcept"`
	ValueQuantity        *quantity   `json:"valueQuantity"`
	ValueInteger         *float64    `json:"valueInteger"`
	ValueString          *string     `json:"valueString"`
	Interpretation       []concept   `json:"interpretation"`
	Method               concept     `json:"method"`
	Component            []component `json:"component"`
	Result               []reference `json:"result"`
}

// used reports whether the ingest reads resources of type t.
func used(t string) bool {
	switch t {
	case "Patient", "Condition", "Observation", "DiagnosticReport":
		return true
	}
	return false
}

// decode parses a bundle. The fast path decodes every entry into the union
// struct in one pass. Resource types the ingest does not read may use the
// same element names with other shapes (Location.address is an object,
// Composition.identifier too); when the fast path meets such a type error it
// falls back to decoding entry by entry, skipping unread resource types, so
// only shape errors in resources the ingest reads reject the bundle.
func decode(data []byte) (*bundle, error) {
	var b bundle
	err := json.Unmarshal(data, &b)
	if err == nil {
		return &b, b.check()
	}
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return nil, malformed(data, err)
	}
	return decodeSlow(data)
}

func (b *bundle) check() error {
	if b.ResourceType != "Bundle" {
		return fmt.Errorf("fhir: resourceType %q at $.resourceType: %w", clip(b.ResourceType), ErrNotBundle)
	}
	return nil
}

func decodeSlow(data []byte) (*bundle, error) {
	var raw struct {
		ResourceType string `json:"resourceType"`
		Timestamp    string `json:"timestamp"`
		Meta         json.RawMessage
		Entry        []struct {
			FullURL  string          `json:"fullUrl"`
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, malformed(data, err)
	}
	b := &bundle{ResourceType: raw.ResourceType, Timestamp: raw.Timestamp}
	if err := b.check(); err != nil {
		return nil, err
	}
	if len(raw.Meta) > 0 {
		if err := json.Unmarshal(raw.Meta, &b.Meta); err != nil {
			return nil, fmt.Errorf("fhir: %w at $.meta: %s", ErrMalformed, typeMsg(err))
		}
	}
	for i, e := range raw.Entry {
		var head struct {
			ResourceType string `json:"resourceType"`
		}
		if len(e.Resource) > 0 {
			_ = json.Unmarshal(e.Resource, &head) // a non-string resourceType just means "not read"
		}
		ent := entry{FullURL: e.FullURL}
		if used(head.ResourceType) {
			if err := json.Unmarshal(e.Resource, &ent.Resource); err != nil {
				off := int64(0)
				var te *json.UnmarshalTypeError
				if errors.As(err, &te) {
					off = te.Offset
				}
				p := "$.entry[" + strconv.Itoa(i) + "].resource" + strings.TrimPrefix(jsonPath(e.Resource, off), "$")
				return nil, fmt.Errorf("fhir: %w at %s: %s", ErrMalformed, p, typeMsg(err))
			}
		}
		b.Entry = append(b.Entry, ent)
	}
	return b, nil
}

// malformed builds the ErrMalformed error for a json error on data, naming
// the JSON path and byte offset. Values are never quoted.
func malformed(data []byte, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("fhir: %w at %s (byte %d): %s", ErrMalformed, jsonPath(data, se.Offset), se.Offset, se.Error())
	case errors.As(err, &te):
		return fmt.Errorf("fhir: %w at %s (byte %d): %s", ErrMalformed, jsonPath(data, te.Offset), te.Offset, typeMsg(err))
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return fmt.Errorf("fhir: %w at $: empty input", ErrMalformed)
	}
	return fmt.Errorf("fhir: %w at $: %s", ErrMalformed, err.Error())
}

func typeMsg(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "want " + te.Type.String() + ", got JSON " + te.Value
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return se.Error()
	}
	return "invalid value"
}

// clip shortens a value quoted in an error to something that cannot carry a
// name: at most 16 bytes.
func clip(s string) string {
	if len(s) > 16 {
		return s[:16] + "..."
	}
	return s
}

type frame struct {
	array bool
	index int
	key   string
	isKey bool // object: the next string token is a key
}

// jsonPath returns the JSON path ($.a.b[3].c) of the value being read at
// byte offset off of data (or where the tokenizer fails, if earlier). It is
// only called on the error path.
func jsonPath(data []byte, off int64) string {
	dec := json.NewDecoder(bytes.NewReader(data))
	var stack []frame
	done := func() {
		if n := len(stack); n > 0 {
			if stack[n-1].array {
				stack[n-1].index++
			} else {
				stack[n-1].isKey = true
			}
		}
	}
	for dec.InputOffset() < off {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, frame{isKey: true})
			case '[':
				stack = append(stack, frame{array: true})
			default:
				stack = stack[:len(stack)-1]
				done()
			}
		case string:
			if n := len(stack); n > 0 && !stack[n-1].array && stack[n-1].isKey {
				stack[n-1].key, stack[n-1].isKey = t, false
				continue
			}
			done()
		default:
			done()
		}
	}
	var sb strings.Builder
	sb.WriteString("$")
	for _, f := range stack {
		if f.array {
			sb.WriteString("[" + strconv.Itoa(f.index) + "]")
		} else if f.key != "" {
			sb.WriteString("." + clip(f.key))
		}
	}
	return sb.String()
}
