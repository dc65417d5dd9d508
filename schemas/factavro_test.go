package schemas_test

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/linkedin/goavro/v2"

	"github.com/trialflow/trialflow/schemas"
)

// randomFact fills every field of a fact, optional ones present or absent
// at random, every detail record present or absent at random.
func randomFact(r *rand.Rand) *schemas.PatientFact {
	str := func() string {
		const letters = "abcXYZ019 -/.é"
		b := make([]byte, 0, 12)
		for i := r.IntN(12); i > 0; i-- {
			b = append(b, letters[r.IntN(len(letters))])
		}
		return string(b)
	}
	optS := func() *string {
		if r.IntN(2) == 0 {
			return nil
		}
		return schemas.Ptr(str())
	}
	optI := func() *int32 {
		if r.IntN(2) == 0 {
			return nil
		}
		return schemas.Ptr(r.Int32N(1<<20) - 1<<19)
	}
	optD := func() *float64 {
		if r.IntN(2) == 0 {
			return nil
		}
		return schemas.Ptr(r.NormFloat64() * 100)
	}
	pick := func(syms ...string) string { return syms[r.IntN(len(syms))] }
	some := func() bool { return r.IntN(3) > 0 }
	f := &schemas.PatientFact{
		FactID: str(), Tenant: str(), PatientID: str(),
		EventTime:  time.UnixMilli(r.Int64N(4e12) - 1e12).UTC(),
		IngestTime: time.UnixMilli(r.Int64N(4e12)).UTC(),
		Source:     str(),
		Kind:       schemas.FactKind(pick("DEMOGRAPHICS", "DIAGNOSIS", "VARIANT", "TUMOR_MARKER", "PERFORMANCE_STATUS", "VITAL_STATUS", "PRIOR_THERAPY", "UNKNOWN")),
	}
	if some() {
		f.Demographics = &schemas.Demographics{BirthDate: optI(), Gender: optS(), PostalRegion: optS()}
		if r.IntN(2) == 0 {
			f.Demographics.MRNSealed = []byte(str())
		}
	}
	if some() {
		f.Diagnosis = &schemas.Diagnosis{OncotreeCode: optS(), OncotreePrimaryDiagnosis: str(), ICDO3Morphology: optS(),
			SNOMEDCode: optS(), DiagnosisDate: optI(), Stage: optS(), DiseaseStatus: optS()}
	}
	if some() {
		f.Variant = &schemas.Variant{HugoSymbol: optS(), VariantCategory: pick("MUTATION", "CNV", "SV", "SIGNATURE", "OTHER"),
			ProteinChange: optS(), CDNAChange: optS(), VariantClassification: optS(), Exon: optI(), CNVCall: optS(),
			LeftPartner: optS(), RightPartner: optS(), SVComment: optS(), AlleleFraction: optD(), Signature: optS(),
			SignatureStatus: optS(), Wildtype: r.IntN(2) == 0}
	}
	if some() {
		f.Marker = &schemas.TumorMarker{Marker: pick("PD_L1", "HER2", "ER", "PR", "TMB", "MSI", "MMR", "OTHER"),
			LOINC: optS(), Value: optD(), Result: optS(), Scoring: optS(), Clone: optS()}
	}
	if some() {
		f.Performance = &schemas.PerformanceStatus{Scale: pick("ECOG", "KARNOFSKY"), Value: r.Int32N(200) - 100}
	}
	if some() {
		f.Vital = &schemas.VitalStatus{Status: pick("ALIVE", "DECEASED"), DeathDate: optI()}
	}
	if some() {
		f.Therapy = &schemas.PriorTherapy{Line: r.Int32N(10), Regimen: optS(), EndDate: optI()}
	}
	return f
}

// The typed codec writes goavro's bytes and reads back goavro's values,
// for every field present and absent.
func TestPatientFactTypedCodecAgreesWithGoavro(t *testing.T) {
	codec, err := schemas.PatientFacts.Codec()
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 11))
	facts := sampleFacts()
	for range 2000 {
		facts = append(facts, randomFact(r))
	}
	for i, f := range facts {
		want, err := f.AppendAvro(codec, nil)
		if err != nil {
			t.Fatalf("fact %d: goavro: %v", i, err)
		}
		got, err := f.AppendAvroBody(nil)
		if err != nil {
			t.Fatalf("fact %d: %v", i, err)
		}
		if string(got) != string(want) {
			t.Fatalf("fact %d: typed encoding differs from goavro's\n got %x\nwant %x", i, got, want)
		}
		native, _, err := codec.NativeFromBinary(want)
		if err != nil {
			t.Fatal(err)
		}
		viaGoavro, err := schemas.PatientFactFromNative(native)
		if err != nil {
			t.Fatal(err)
		}
		typed, err := schemas.DecodePatientFact(want)
		if err != nil {
			t.Fatalf("fact %d: %v", i, err)
		}
		if d := cmp.Diff(viaGoavro, typed); d != "" {
			t.Fatalf("fact %d: typed decoding differs from goavro's (-goavro +typed):\n%s", i, d)
		}
		if d := cmp.Diff(f, typed); d != "" {
			t.Fatalf("fact %d: round trip (-in +out):\n%s", i, d)
		}
	}
}

// Every truncation, a hostile length, an unknown branch or symbol and
// trailing bytes are errors wrapping ErrAvro that name the field.
func TestDecodePatientFactRejects(t *testing.T) {
	body, err := sampleFacts()[2].AppendAvroBody(nil)
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(body) {
		if _, err := schemas.DecodePatientFact(body[:n]); !errors.Is(err, schemas.ErrAvro) {
			t.Fatalf("prefix of %d/%d bytes: got %v, want ErrAvro", n, len(body), err)
		}
	}
	if _, err := schemas.DecodePatientFact(append(body, 0)); err == nil || !strings.Contains(err.Error(), "trailing") {
		t.Fatalf("trailing byte: %v", err)
	}
	huge := []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01} // zigzag length 2^62
	if _, err := schemas.DecodePatientFact(huge); !errors.Is(err, schemas.ErrAvro) || !strings.Contains(err.Error(), "fact_id") {
		t.Fatalf("hostile length: %v", err)
	}
	f := sampleFacts()[0]
	f.Kind = "NOT_A_KIND"
	if _, err := f.AppendAvroBody(nil); err == nil || !strings.Contains(err.Error(), "FactKind") {
		t.Fatalf("unknown symbol encoded: %v", err)
	}
}

// FuzzDecodePatientFact: arbitrary bytes never panic, and the typed decoder
// accepts what goavro accepts, with the same values (except varints longer
// than 64 bits and ints beyond 32 bits, which goavro truncates and the typed
// decoder rejects).
func FuzzDecodePatientFact(f *testing.F) {
	codec, err := schemas.PatientFacts.Codec()
	if err != nil {
		f.Fatal(err)
	}
	for _, fact := range sampleFacts() {
		b, err := fact.AppendAvroBody(nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		agreesWithGoavro(t, b, codec, schemas.DecodePatientFact, schemas.PatientFactFromNative)
	})
}

// agreesWithGoavro checks one typed decoding of b against goavro's: both
// refuse it (the typed error wrapping ErrAvro), or both read the same
// value. goavro reads a varint of more than 64 bits, or an int beyond 32
// bits, by dropping the high bits; the typed decoder rejects both. Any
// other disagreement is a bug.
func agreesWithGoavro[T any](t *testing.T, b []byte, codec *goavro.Codec, decode func([]byte) (*T, error), fromNative func(any) (*T, error), opts ...cmp.Option) {
	t.Helper()
	typed, err := decode(b)
	native, rest, gerr := codec.NativeFromBinary(b)
	if gerr == nil && len(rest) != 0 {
		gerr = errors.New("trailing bytes")
	}
	var viaGoavro *T
	if gerr == nil {
		viaGoavro, gerr = fromNative(native)
	}
	switch {
	case err != nil && gerr != nil:
		if !errors.Is(err, schemas.ErrAvro) {
			t.Fatalf("error does not wrap ErrAvro: %v", err)
		}
	case err != nil:
		if !strings.Contains(err.Error(), "overflows 64 bits") && !strings.Contains(err.Error(), "out of range") {
			t.Fatalf("goavro decodes %x, the typed decoder says %v", b, err)
		}
	case gerr != nil:
		t.Fatalf("the typed decoder decodes %x, goavro says %v", b, gerr)
	default:
		if d := cmp.Diff(viaGoavro, typed, opts...); d != "" {
			t.Fatalf("typed decoding differs from goavro's (-goavro +typed):\n%s", d)
		}
	}
}

// randomApproved returns n approved_patients records with every optional
// field present or absent and 0-3 reasons of 0-2 facts each.
func randomApproved(seed uint64, n int) []*schemas.ApprovedPatient {
	r := rand.New(rand.NewPCG(seed, 5))
	optS := func(s string) *string {
		if r.IntN(2) == 0 {
			return nil
		}
		return schemas.Ptr(s)
	}
	out := make([]*schemas.ApprovedPatient, n)
	for i := range out {
		a := &schemas.ApprovedPatient{
			MatchID: "0b7c9a0e-1f2d-5a3b-8c4d-5e6f7a8b9c0d", Tenant: "practice-0" + string(rune('1'+r.IntN(5))),
			PatientID: "p" + string(rune('a'+r.IntN(26))), ProtocolNo: "26-1" + string(rune('0'+r.IntN(10))),
			ArmCode: optS("ARM A"), DoseLevel: optS("DL1"), SiteID: optS("site-7"),
			Action: []string{"NEW", "RETRACTED"}[r.IntN(2)], RetractionReason: optS("ARM_CLOSED"),
			TrialVersion: r.Int64N(1 << 40), ApprovalReference: optS("IRB-26-101"),
			EventTime: time.UnixMilli(r.Int64N(4e12) - 1e12).UTC(), MatchTime: time.UnixMilli(r.Int64N(4e12)).UTC(),
		}
		for range r.IntN(4) {
			mr := schemas.MatchReason{ReasonType: []string{"CLINICAL", "GENOMIC"}[r.IntN(2)],
				Field: "treatment_list.step[0].arm[0].match[0]", Alteration: optS("EGFR p.L858R"), Level: optS("variant")}
			for range r.IntN(3) {
				mr.Facts = append(mr.Facts, schemas.FactRef{Kind: "VARIANT", EventTime: time.UnixMilli(r.Int64N(4e12) - 1e12).UTC()})
			}
			a.Reasons = append(a.Reasons, mr)
		}
		out[i] = a
	}
	return out
}

// The typed approved_patients encoder writes goavro's bytes.
func TestApprovedPatientTypedEncodingAgreesWithGoavro(t *testing.T) {
	codec, err := schemas.ApprovedPatients.Codec()
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range randomApproved(3, 2000) {
		want, err := codec.BinaryFromNative(nil, a.Native())
		if err != nil {
			t.Fatalf("record %d: goavro: %v", i, err)
		}
		got, err := a.AppendAvroBody(nil)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if string(got) != string(want) {
			t.Fatalf("record %d: typed encoding differs from goavro's\n got %x\nwant %x", i, got, want)
		}
	}
	bad := &schemas.ApprovedPatient{Action: "MAYBE"}
	if _, err := bad.AppendAvroBody(nil); err == nil || !strings.Contains(err.Error(), "MatchAction") {
		t.Fatalf("unknown action encoded: %v", err)
	}
}

// DecodeApprovedPatient reads back what the typed encoder wrote, value for
// value, and what goavro reads from the same bytes.
func TestDecodeApprovedPatientRoundTrips(t *testing.T) {
	codec, err := schemas.ApprovedPatients.Codec()
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range randomApproved(7, 2000) {
		b, err := a.AppendAvroBody(nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := schemas.DecodeApprovedPatient(b)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if d := cmp.Diff(a, got, cmpopts.EquateEmpty()); d != "" {
			t.Fatalf("record %d: round trip differs (-want +got):\n%s", i, d)
		}
		native, _, err := codec.NativeFromBinary(b)
		if err != nil {
			t.Fatal(err)
		}
		viaGoavro, err := schemas.ApprovedPatientFromNative(native)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(viaGoavro, got, cmpopts.EquateEmpty()); d != "" {
			t.Fatalf("record %d: differs from goavro (-goavro +typed):\n%s", i, d)
		}
	}
	// A block written with a negative count and a byte size (as Java's
	// blocking encoders do) reads the same as a plain one.
	a := &schemas.ApprovedPatient{MatchID: "m", Action: "NEW", Reasons: []schemas.MatchReason{{ReasonType: "GENOMIC", Field: "f"}}}
	plain, _ := a.AppendAvroBody(nil)
	// plain is head, count 1, the reason, 0, tail; none is head, 0, tail.
	none, _ := (&schemas.ApprovedPatient{MatchID: "m", Action: "NEW"}).AppendAvroBody(nil)
	head := plainHead(t, plain, none)
	tail := none[head+1:]
	item := plain[head+1 : len(plain)-len(tail)-1]
	blocked := append(append([]byte{}, plain[:head]...), 1 /* zigzag(-1) */, byte(2*len(item)))
	blocked = append(append(append(blocked, item...), 0), tail...)
	if got, err := schemas.DecodeApprovedPatient(blocked); err != nil || cmp.Diff(a, got, cmpopts.EquateEmpty()) != "" {
		t.Fatalf("blocked array: %v, %+v", err, got)
	}
	for _, bad := range [][]byte{plain[:len(plain)-1], append(plain, 0), {}} {
		if _, err := schemas.DecodeApprovedPatient(bad); !errors.Is(err, schemas.ErrAvro) {
			t.Fatalf("%x: got %v, want ErrAvro", bad, err)
		}
	}
}

// plainHead is the offset of the reasons array's first count in plain,
// the same record as none with reasons: where the two first differ.
func plainHead(t *testing.T, plain, none []byte) int {
	t.Helper()
	for i := range none {
		if plain[i] != none[i] {
			return i
		}
	}
	t.Fatal("records do not differ")
	return 0
}

// FuzzDecodeApprovedPatient: arbitrary bytes never panic, and the typed
// decoder accepts what goavro accepts, with the same values (except
// varints beyond 64 bits, which goavro truncates and the typed decoder
// rejects).
func FuzzDecodeApprovedPatient(f *testing.F) {
	codec, err := schemas.ApprovedPatients.Codec()
	if err != nil {
		f.Fatal(err)
	}
	for _, a := range randomApproved(11, 8) {
		b, err := a.AppendAvroBody(nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		agreesWithGoavro(t, b, codec, schemas.DecodeApprovedPatient, schemas.ApprovedPatientFromNative, cmpopts.EquateEmpty())
	})
}
