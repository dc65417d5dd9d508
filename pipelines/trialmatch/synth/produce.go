package synth

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/schemas/wire"
)

// IDs are the registry ids of the value schemas Produce frames with.
type IDs struct {
	Facts, Trials, Regulatory uint32
}

// Produced counts what Produce wrote.
type Produced struct {
	Facts, Trials, Regulatory, Corrupt int
	FactBytes                          int64 // framed bytes of the facts
}

// Produce writes the data set to Kafka as Confluent-framed Avro, each record
// timestamped with its event time and keyed as the contracts say (facts by
// pseudonymous patient id, trials by protocol, regulatory events by protocol
// and site). corrupt > 0 adds that many undecodable facts (wrong magic byte,
// unknown schema id, truncated body, in turn) so dead letters can be seen.
// progress, if not nil, is called now and then with the records written.
func Produce(ctx context.Context, cl *kgo.Client, d *Dataset, ids IDs, corrupt int, progress func(done, total int)) (Produced, error) {
	var out Produced
	factCodec, err := schemas.PatientFacts.Codec()
	if err != nil {
		return out, err
	}
	trialCodec, err := schemas.Trials.Codec()
	if err != nil {
		return out, err
	}
	regCodec, err := schemas.Regulatory.Codec()
	if err != nil {
		return out, err
	}
	total := len(d.Facts) + len(d.Trials) + len(d.Regulatory) + corrupt
	var (
		mu       sync.Mutex
		firstErr error
		done     int
	)
	send := func(r *kgo.Record) {
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			done++
			if progress != nil && done%5000 == 0 {
				progress(done, total)
			}
		})
	}
	for _, t := range d.Trials {
		body, err := trialCodec.BinaryFromNative(nil, t.Native())
		if err != nil {
			return out, fmt.Errorf("synth: encode trial %s: %w", t.ProtocolNo, err)
		}
		send(&kgo.Record{Topic: schemas.Trials.Topic, Key: []byte(t.ProtocolNo), Value: wire.Append(nil, ids.Trials, body), Timestamp: t.EventTime})
		out.Trials++
	}
	for _, e := range d.Regulatory {
		body, err := regCodec.BinaryFromNative(nil, e.Native())
		if err != nil {
			return out, fmt.Errorf("synth: encode regulatory event %s: %w", e.EventID, err)
		}
		key := e.ProtocolNo
		if e.SiteID != nil {
			key += "/" + *e.SiteID
		}
		send(&kgo.Record{Topic: schemas.Regulatory.Topic, Key: []byte(key), Value: wire.Append(nil, ids.Regulatory, body), Timestamp: e.EventTime})
		out.Regulatory++
	}
	buf := make([]byte, 0, 512)
	for _, f := range d.Facts {
		body, err := f.AppendAvro(factCodec, buf[:0])
		if err != nil {
			return out, err
		}
		v := wire.Append(make([]byte, 0, len(body)+wire.HeaderSize), ids.Facts, body)
		out.FactBytes += int64(len(v))
		send(&kgo.Record{Topic: schemas.PatientFacts.Topic, Key: []byte(f.PatientID), Value: v, Timestamp: f.EventTime})
		out.Facts++
	}
	for i := 0; i < corrupt; i++ {
		var v []byte
		switch i % 3 {
		case 0:
			v = []byte(`{"patient":"not avro"}`) // wrong magic byte
		case 1:
			v = wire.Append(nil, 999_999, []byte{2, 'x'}) // unknown schema id
		default:
			v = wire.Append(nil, ids.Facts, []byte{0x48, 'a'}) // truncated body
		}
		send(&kgo.Record{Topic: schemas.PatientFacts.Topic, Key: []byte(fmt.Sprintf("corrupt-%d", i)), Value: v, Timestamp: time.Unix(0, 0)})
		out.Corrupt++
	}
	if err := cl.Flush(ctx); err != nil {
		return out, fmt.Errorf("synth: flush: %w", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if firstErr != nil {
		return out, fmt.Errorf("synth: produce: %w", firstErr)
	}
	return out, nil
}
