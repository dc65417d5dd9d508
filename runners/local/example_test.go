package local_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/trialflow/trialflow/runners/local"
)

// Start the local stack for a test or a demo pipeline.
func ExampleStart() {
	s, err := local.Start(context.Background(), local.Options{RegisterContracts: true})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	fmt.Println(strings.HasPrefix(s.Bootstrap()[0], "127.0.0.1:"), strings.HasPrefix(s.RegistryURL(), "http://127.0.0.1:"))
	fmt.Println(len(s.SchemaIDs()), "subjects registered")
	// Output:
	// true true
	// 5 subjects registered
}
