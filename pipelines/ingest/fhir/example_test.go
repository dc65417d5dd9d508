package fhir_test

import (
	"bytes"
	"fmt"
	"time"

	"github.com/trialflow/trialflow/pipelines/ingest/fhir"
	"github.com/trialflow/trialflow/pipelines/ingest/pseudonym"
)

func ExampleFacts() {
	tenant, _ := pseudonym.New("practice-1", bytes.Repeat([]byte{1}, 32))
	bundle := []byte(`{"resourceType":"Bundle","type":"collection","entry":[
	  {"resource":{"resourceType":"Patient","id":"p1","name":[{"family":"Doe"}],"gender":"female",
	    "address":[{"line":["1 Main St"],"postalCode":"02139"}]}},
	  {"resource":{"resourceType":"Observation","id":"ecog","code":{"coding":[{"system":"http://loinc.org","code":"89247-1"}]},
	    "effectiveDateTime":"2024-03-01","valueInteger":1}}]}`)
	facts, err := fhir.Facts(bundle, tenant, fhir.WithIngestTime(time.Unix(0, 0)))
	if err != nil {
		panic(err)
	}
	for _, f := range facts {
		switch {
		case f.Demographics != nil:
			fmt.Println(f.Kind, *f.Demographics.Gender, *f.Demographics.PostalRegion)
		case f.Performance != nil:
			fmt.Println(f.Kind, f.Performance.Scale, f.Performance.Value, f.EventTime.Format(time.DateOnly))
		}
	}
	// Output:
	// DEMOGRAPHICS Female 021
	// PERFORMANCE_STATUS ECOG 1 2024-03-01
}
