// Package jobgraph serializes a Beam pipeline as a runner receives it (the
// Runner API proto, DoFn payloads included) and searches it for a string,
// looking inside base64 payloads too, so tests can prove that no secret
// travels in a job graph.
package jobgraph

import (
	"bytes"
	"encoding/base64"
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime/graphx"
	pipepb "github.com/apache/beam/sdks/v2/go/pkg/beam/model/pipeline_v1"
	"google.golang.org/protobuf/proto"
)

// Marshal returns the serialized pipeline proto of p, as submitted to a
// portable runner.
func Marshal(p *beam.Pipeline) ([]byte, error) {
	edges, _, err := p.Build()
	if err != nil {
		return nil, fmt.Errorf("jobgraph: build: %w", err)
	}
	pp, err := graphx.Marshal(edges, &graphx.Options{Environment: &pipepb.Environment{Urn: "beam:env:loopback:v1"}})
	if err != nil {
		return nil, fmt.Errorf("jobgraph: marshal: %w", err)
	}
	b, err := proto.Marshal(pp)
	if err != nil {
		return nil, fmt.Errorf("jobgraph: %w", err)
	}
	return b, nil
}

// Contains reports whether needle occurs in blob, or in any base64 run of
// blob once decoded (recursively, as Beam nests encoded payloads).
func Contains(blob []byte, needle string) bool {
	return contains(blob, []byte(needle), 0)
}

func contains(blob, needle []byte, depth int) bool {
	if bytes.Contains(blob, needle) {
		return true
	}
	if depth > 4 {
		return false
	}
	for _, run := range base64Runs(blob, 12) {
		for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
			// Try every alignment: a run may start mid-token.
			for off := 0; off < 4 && off < len(run); off++ {
				r := bytes.TrimRight(run[off:], "=")
				if len(r)%4 == 1 {
					r = r[:len(r)-1]
				}
				dec := make([]byte, enc.DecodedLen(len(r)))
				n, err := enc.Decode(dec, r)
				if err != nil && n == 0 {
					continue
				}
				if contains(dec[:n], needle, depth+1) {
					return true
				}
			}
		}
	}
	return false
}

func isB64(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '-' || c == '_' || c == '='
}

func base64Runs(b []byte, min int) [][]byte {
	var out [][]byte
	start := -1
	for i := 0; i <= len(b); i++ {
		if i < len(b) && isB64(b[i]) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 && i-start >= min {
			out = append(out, b[start:i])
		}
		start = -1
	}
	return out
}
