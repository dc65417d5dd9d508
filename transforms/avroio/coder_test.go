package avroio

import (
	"testing"

	"github.com/trialflow/trialflow/transforms/kafkaio"
)

func FuzzDecodeDecoded(f *testing.F) {
	f.Add(encodeDecoded(Decoded{Record: kafkaio.Record{Topic: "t", Value: []byte{2, 'a'}}, WriterSchemaID: 7}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := decodeDecoded(b)
		if err != nil {
			return
		}
		again, err := decodeDecoded(encodeDecoded(d))
		if err != nil || again.WriterSchemaID != d.WriterSchemaID || again.Offset != d.Offset {
			t.Fatalf("re-encoding: %v", err)
		}
	})
}
