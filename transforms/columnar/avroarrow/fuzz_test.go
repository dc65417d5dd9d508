package avroarrow

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/linkedin/goavro/v2"

	"github.com/trialflow/trialflow/schemas"
)

// fuzzTarget is one schema of the fuzz target with its two decoders.
type fuzzTarget struct {
	schema string
	node   *node
	codec  *goavro.Codec
	dec    *Decoder
	prog   *Program
}

const fuzzMaxItems = 1 << 14

func fuzzTargets(t testing.TB) []*fuzzTarget {
	// goavro preallocates a block's declared item count (up to 2^31), so a
	// hostile count would exhaust memory in the oracle itself.
	goavro.MaxBlockCount = fuzzMaxItems
	list := []string{schemas.PatientFacts.Schema()}
	g := &schemaGen{r: rand.New(rand.NewPCG(7, 7))}
	for range 15 {
		list = append(list, g.schema())
	}
	var out []*fuzzTarget
	for _, s := range list {
		n, err := parseSchema(s)
		if err != nil {
			t.Fatal(err)
		}
		codec, err := goavro.NewCodec(s)
		if err != nil {
			t.Fatal(err)
		}
		d, err := New(s, WithMaxItems(fuzzMaxItems), WithAllocator(memory.NewGoAllocator()))
		if err != nil {
			t.Fatal(err)
		}
		p, err := d.Compile(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, &fuzzTarget{schema: s, node: n, codec: codec, dec: d, prog: p})
	}
	return out
}

// FuzzDecode decodes arbitrary bytes with goavro and with the decoder: the
// first byte picks the schema, the rest is the Avro body. Whatever goavro
// decodes, the decoder decodes to the same values; whatever goavro rejects,
// the decoder rejects. The decoder is stricter in four documented ways:
// over-long varints, decimals wider than 128 bits, negative block sizes (which
// goavro ignores) and its item limit. goavro
// is stricter in one: it rejects duplicate map keys.
func FuzzDecode(f *testing.F) {
	targets := fuzzTargets(f)
	r := rand.New(rand.NewPCG(3, 4))
	dg := &dataGen{r: r}
	for i, tg := range targets {
		for range 3 {
			f.Add(append([]byte{byte(i)}, dg.value(nil, tg.node)...))
		}
	}
	f.Add([]byte{0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		tg := targets[int(data[0])%len(targets)]
		body := data[1:]
		err := tg.dec.Append(tg.prog, body)
		if errors.Is(err, ErrLimit) {
			return
		}
		want, gerr := goavroDecode(t, tg.codec, tg.node, body)
		switch {
		case gerr == nil && err != nil:
			if errors.Is(err, ErrVarint) || errors.Is(err, ErrInvalidValue) && strings.Contains(err.Error(), "decimal") ||
				errors.Is(err, ErrInvalidLength) && strings.Contains(err.Error(), "block size") {
				return
			}
			t.Fatalf("goavro decodes, decoder fails: %v\nschema %s", err, tg.schema)
		case gerr != nil && err == nil:
			if strings.Contains(gerr.Error(), "duplicate key") || strings.Contains(gerr.Error(), "MaxBlockCount") {
				tg.dec.Reset()
				return
			}
			t.Fatalf("goavro fails (%v), decoder decodes\nschema %s", gerr, tg.schema)
		case err != nil:
			return
		}
		rec := tg.dec.Flush()
		defer rec.Release()
		got := rowOf(t, rec, 0)
		if diff := cmp.Diff(want, got, cmpopts.EquateNaNs(), cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("(-goavro +decoder)\n%s\nschema %s", diff, tg.schema)
		}
	})
}
