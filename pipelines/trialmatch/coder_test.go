package trialmatch

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/trialflow/trialflow/schemas"
)

// The ApprovedPatient coder keeps every value, instants to the nanosecond,
// and takes a record the Avro schema cannot hold in its JSON form.
func TestApprovedCoderRoundTrips(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	recs := []schemas.ApprovedPatient{
		{}, // no action: not a MatchAction symbol, so the JSON form
		{MatchID: "m1", Tenant: "practice-01", PatientID: "p", ProtocolNo: "26-101", Action: "NEW",
			ArmCode: schemas.Ptr("A"), TrialVersion: 3,
			Reasons: []schemas.MatchReason{{ReasonType: "GENOMIC", Field: "f", Level: schemas.Ptr("variant"),
				Facts: []schemas.FactRef{{Kind: "VARIANT", EventTime: time.UnixMilli(1_700_000_000_123).UTC()}}}},
			EventTime: time.Unix(1_700_000_000, 123_456_789).In(paris), MatchTime: time.Unix(-86_400, 999_999_999)},
		{MatchID: "m2", Action: "MAYBE", EventTime: time.Unix(5, 7)}, // not a MatchAction symbol
	}
	for i, a := range recs {
		b, err := encodeApproved(a)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		got, err := decodeApproved(b)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if d := cmp.Diff(a, got, cmpopts.EquateEmpty(), cmp.Comparer(time.Time.Equal)); d != "" {
			t.Fatalf("record %d differs (-want +got):\n%s", i, d)
		}
		if want := map[bool]byte{true: approvedAvro, false: approvedJSON}[a.Action == "NEW"]; b[0] != want {
			t.Fatalf("record %d written in form %d, want %d", i, b[0], want)
		}
	}
	for _, bad := range [][]byte{nil, {7}, {approvedAvro}, {approvedAvro, 0xff, 0xff, 0xff, 0x7f}, {approvedJSON, '{'}} {
		if _, err := decodeApproved(bad); err == nil {
			t.Fatalf("%x decoded", bad)
		}
	}
}
