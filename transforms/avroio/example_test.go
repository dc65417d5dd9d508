package avroio_test

import (
	"fmt"

	"github.com/linkedin/goavro/v2"

	"github.com/trialflow/trialflow/transforms/avroio"
	"github.com/trialflow/trialflow/transforms/deadletter"
)

// A record written with v1 of a schema decodes as v2: the added field gets
// its default. A record with a wrong magic byte is rejected with a reason
// code for the dead-letter topic.
func ExampleDecoder() {
	v1 := `{"type":"record","name":"R","fields":[{"name":"id","type":"string"}]}`
	v2 := `{"type":"record","name":"R","fields":[{"name":"id","type":"string"},{"name":"site","type":"string","default":"none"}]}`
	reg := fakeRegistry{1: v1} // any SchemaSource, e.g. *registry.Client

	dec, _ := avroio.NewDecoder(reg, v2)
	enc, _ := avroio.NewEncoder(1, v1)
	msg, _ := enc.AppendNative(nil, map[string]any{"id": "p1"})

	body, id, _ := dec.Decode(nil, msg)
	codec, _ := goavro.NewCodec(v2)
	v, _, _ := codec.NativeFromBinary(body)
	fmt.Println(id, v)

	_, _, err := dec.Decode(nil, []byte(`{"id":"p1"}`))
	fmt.Println(deadletter.CodeOf(err))
	// Output:
	// 1 map[id:p1 site:none]
	// wrong_magic_byte
}
