package trialmatch

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/trialflow/trialflow/schemas"
	"github.com/trialflow/trialflow/transforms/deadletter"
)

// The edge checks: every record is checked where it enters the pipeline
// (the Kafka decoders, Build's typed inputs, batch execution's fact
// batches) for what no stage after could carry: times outside
// schemas.MinTime..MaxTime, strings that are not UTF-8, numbers that are
// not finite. Such a record is a dead letter with its own reason code,
// so that no single record can stop the pipeline further on (a fact at
// -2^62 ms once killed streaming in its JSON encoding, on every restart).

// checked classifies a schemas check error as a dead-letter error: its
// reason code, and in what, a description of the record (see recordName).
func checked(what string, err error) error {
	if err == nil {
		return nil
	}
	code := deadletter.InvalidRecord
	switch {
	case errors.Is(err, schemas.ErrTimeOutOfRange):
		code = deadletter.EventTimeOutOfRange
	case errors.Is(err, schemas.ErrInvalidUTF8):
		code = deadletter.InvalidUTF8
	case errors.Is(err, schemas.ErrNotFinite):
		code = deadletter.NonFiniteNumber
	}
	if what != "" {
		err = fmt.Errorf("%s: %w", what, err)
	}
	return &deadletter.Error{Code: code, Err: err}
}

// recordName names a record by an identifier, quoted, when the identifier is
// valid UTF-8 (else the check that failed may be about it, and it is left
// out).
func recordName(kind, id string) string {
	if !utf8.ValidString(id) {
		return kind
	}
	return fmt.Sprintf("%s %q", kind, id)
}

func checkFact(f *schemas.PatientFact) error {
	return checked(recordName("patient fact", f.FactID), f.Check())
}

func checkTrial(t *schemas.Trial) error {
	return checked(recordName("trial", t.ProtocolNo), t.Check())
}

func checkRegulatory(e *schemas.RegulatoryEvent) error {
	return checked(recordName("regulatory event", e.EventID), e.Check())
}
