package trialmatch

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/trialflow/trialflow/schemas"
)

// The Beam coder of schemas.ApprovedPatient. Beam's default (a row coder
// built by reflection) cost 16 µs per record, more than the judging that
// made it (bench/RESULTS-trialmatch.md, "The output path"); this one is the
// record's own Avro body, the encoding it is published in.
func init() {
	beam.RegisterCoder(reflect.TypeOf(schemas.ApprovedPatient{}), encodeApproved, decodeApproved)
}

// The first byte of an encoded record says how the rest is written.
const (
	// approvedAvro: the nanoseconds of EventTime and MatchTime beyond their
	// milliseconds (two varints; Avro keeps milliseconds), then the Avro
	// body under approved_patient.avsc.
	approvedAvro byte = 0
	// approvedJSON: encoding/json, for a record the Avro body cannot hold
	// (an action or reason type that is not a symbol of the schema), so that
	// it reaches the stage that sends it to dead_letter instead of stopping
	// the pipeline in a coder.
	approvedJSON byte = 1
)

func encodeApproved(a schemas.ApprovedPatient) ([]byte, error) {
	b := make([]byte, 1, 256)
	b[0] = approvedAvro
	b = binary.AppendUvarint(b, uint64(subMilli(a.EventTime)))
	b = binary.AppendUvarint(b, uint64(subMilli(a.MatchTime)))
	if body, err := a.AppendAvroBody(b); err == nil {
		return body, nil
	}
	js, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("trialmatch: encode approved patient record %s: %w", a.MatchID, err)
	}
	return append([]byte{approvedJSON}, js...), nil
}

func decodeApproved(b []byte) (schemas.ApprovedPatient, error) {
	if len(b) == 0 {
		return schemas.ApprovedPatient{}, errors.New("trialmatch: decode approved patient record: no bytes")
	}
	switch b[0] {
	case approvedAvro:
		b = b[1:]
		var ns [2]int64
		for i := range ns {
			v, n := binary.Uvarint(b)
			if n <= 0 || v >= uint64(time.Millisecond) {
				return schemas.ApprovedPatient{}, errors.New("trialmatch: decode approved patient record: bad time remainder")
			}
			ns[i], b = int64(v), b[n:]
		}
		a, err := schemas.DecodeApprovedPatient(b)
		if err != nil {
			return schemas.ApprovedPatient{}, fmt.Errorf("trialmatch: decode approved patient record: %w", err)
		}
		a.EventTime = a.EventTime.Add(time.Duration(ns[0]))
		a.MatchTime = a.MatchTime.Add(time.Duration(ns[1]))
		return *a, nil
	case approvedJSON:
		var a schemas.ApprovedPatient
		if err := json.Unmarshal(b[1:], &a); err != nil {
			return a, fmt.Errorf("trialmatch: decode approved patient record: %w", err)
		}
		return a, nil
	}
	return schemas.ApprovedPatient{}, fmt.Errorf("trialmatch: decode approved patient record: form %d", b[0])
}

// subMilli is t's nanoseconds beyond its Unix milliseconds (0-999,999),
// what Avro's timestamp-millis drops.
func subMilli(t time.Time) int64 { return int64(t.Nanosecond()) % int64(time.Millisecond) }
