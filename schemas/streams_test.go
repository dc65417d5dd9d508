package schemas_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/trialflow/trialflow/schemas"
)

func roundTrip(t *testing.T, c schemas.Contract, native map[string]any) any {
	t.Helper()
	codec, err := c.Codec()
	if err != nil {
		t.Fatal(err)
	}
	body, err := codec.BinaryFromNative(nil, native)
	if err != nil {
		t.Fatalf("%s encode: %v", c.Topic, err)
	}
	v, rest, err := codec.NativeFromBinary(body)
	if err != nil || len(rest) > 0 {
		t.Fatalf("%s decode: %v", c.Topic, err)
	}
	return v
}

func TestStreamTypesRoundTrip(t *testing.T) {
	at := time.UnixMilli(1_700_000_000_000).UTC()
	tr := &schemas.Trial{ProtocolNo: "10-002", Version: 3, EventTime: at, Status: "OPEN", StatusText: "open to accrual",
		NCTID: schemas.Ptr("NCT0001"), CTMLFormat: "JSON", CTML: `{"protocol_no":"10-002"}`, Sites: []string{"s1", "s2"}}
	gotT, err := schemas.TrialFromNative(roundTrip(t, schemas.Trials, tr.Native()))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(tr, gotT); d != "" {
		t.Errorf("trial (-want +got):\n%s", d)
	}

	to := at.Add(24 * time.Hour)
	ev := &schemas.RegulatoryEvent{EventID: "e1", ProtocolNo: "10-002", Scope: "ARM", ArmCode: schemas.Ptr("ARM 1"),
		Action: "APPROVED", ValidFrom: at, ValidTo: &to, Slots: schemas.Ptr(int32(5)), Reference: "IRB-1", EventTime: at}
	gotE, err := schemas.RegulatoryEventFromNative(roundTrip(t, schemas.Regulatory, ev.Native()))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(ev, gotE); d != "" {
		t.Errorf("regulatory (-want +got):\n%s", d)
	}

	ap := &schemas.ApprovedPatient{MatchID: "m1", Tenant: "t1", PatientID: "p1", ProtocolNo: "10-002",
		ArmCode: schemas.Ptr("ARM 1"), Action: "NEW", TrialVersion: 3, EventTime: at, MatchTime: at,
		Reasons: []schemas.MatchReason{{ReasonType: "GENOMIC", Field: "hugo_symbol", Alteration: schemas.Ptr("EGFR p.L858R"), Level: schemas.Ptr("variant"),
			Facts: []schemas.FactRef{{Kind: "VARIANT", EventTime: at}, {Kind: "DIAGNOSIS", EventTime: at.Add(time.Hour)}}}}}
	gotA, err := schemas.ApprovedPatientFromNative(roundTrip(t, schemas.ApprovedPatients, ap.Native()))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(ap, gotA); d != "" {
		t.Errorf("approved patient (-want +got):\n%s", d)
	}
}
